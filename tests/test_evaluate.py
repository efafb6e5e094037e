"""Evaluation: OA on real MIDI excerpts, results.json round trip, summaries and comparison tables."""
import json
import numpy as np
import pytest
import torch

from scg_music import evaluate as E
from scg_music import rules as R


@pytest.fixture(scope='module')
def asap_files(data_dir):
    return E._corpus_files('asap')


@pytest.fixture(scope='module')
def feats(asap_files):
    a1 = E.feature_matrix(E.reference_excerpts('asap', 30, seed=0, files=asap_files[0::2]))
    a2 = E.feature_matrix(E.reference_excerpts('asap', 20, seed=1, files=asap_files[1::2]))
    p = E.feature_matrix(E.reference_excerpts('pop909', 20, seed=2))
    return a1, a2, p


def test_features_are_sane(feats):
    a1, _, p = feats
    for f in (a1, p):
        assert set(f) == set(E.FEATURES)
        assert np.allclose(f['total_pitch_class_histogram'].sum(1), 1)
        assert (f['total_used_pitch'] > 0).all() and (f['pitch_range'] <= 87).all()
        assert (f['mean_note_velocity'] > 0).all() and (f['mean_note_velocity'] <= 127).all()
        assert (f['note_density'] > 0).all() and (f['avg_IOI'] >= 0).all()


def test_oa_same_corpus_higher_than_other_corpus(feats):
    a1, a2, p = feats
    same = E.oa_metrics(a1, a2, num_runs=3, seed=0)      # disjoint ASAP pieces
    other = E.oa_metrics(a1, p, num_runs=3, seed=0)      # ASAP vs POP909
    print('OA avg: ASAP/ASAP', same['mean']['avg'], 'ASAP/POP909', other['mean']['avg'])
    assert same['mean']['avg'] > 0.75
    assert same['mean']['avg'] > other['mean']['avg'] + 0.03
    assert other['mean']['mean_note_velocity'] < same['mean']['mean_note_velocity']
    assert all(0 <= v <= 1 for v in same['mean'].values())
    assert same['std']['avg'] > 0                        # the 3 runs drew different ground-truth subsets
    assert same['n'] == 20


def test_overlap_area_basics():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 500); y = rng.normal(0, 1, 500); z = rng.normal(8, 1, 500)
    assert E.overlap_area(x, y)[0] > 0.9
    assert E.overlap_area(x, z)[0] < 0.01
    assert abs(E.overlap_area(x, y)[0] - E.overlap_area(x, y, method='quad')[0]) < 2e-3
    assert E.overlap_area(np.zeros(10), np.zeros(10))[0] == 1.0   # degenerate: identical constants
    with pytest.raises(ValueError, match='method'):
        E.overlap_area(x, y, method='simpson')


def _make_run(d, method, excerpts, target_excerpts, names=('pitch_hist', 'note_density', 'chord_progression')):
    from scg_music import pianoroll as pr
    d.mkdir(parents=True)
    samples = []
    for i, (ex, tg) in enumerate(zip(excerpts, target_excerpts)):
        f = f'sample_{i:04d}.mid'
        ex.write(str(d / f))
        roll = E._midi_roll(d / f)[None]
        tg.write(str(d / f'target_{i:04d}.mid'))                # targets measured as the files are read back
        troll = E._midi_roll(d / f'target_{i:04d}.mid')[None]
        targets = {n: R.RULES[n](troll)[0] for n in names}
        losses, achieved = E.rule_loss_table(roll, targets)
        samples.append({'file': f, 'class_label': 2, 'targets': targets,
                        'achieved': {n: v[0] for n, v in achieved.items()},
                        'losses': {n: float(v[0]) for n, v in losses.items()}})
    E.write_results(d, samples, method, rules=list(names), config={'note': 'test'})
    return d


def test_results_roundtrip_and_cli(tmp_path, data_dir):
    pop = E.reference_excerpts('pop909', 6, seed=7)
    d1 = _make_run(tmp_path / 'no_guidance', 'no_guidance', pop, pop[1:] + pop[:1])
    d2 = _make_run(tmp_path / 'scg', 'scg', pop, pop)
    doc = E.read_results(d1)
    assert doc['version'] == 1 and doc['rules'] == ['pitch_hist', 'note_density', 'chord_progression']
    assert len(doc['samples'][0]['targets']['chord_progression']) == 8
    # logged losses == losses recomputed from the MIDI files
    logged, recomputed = E.run_rule_losses(d1), E.run_rule_losses(d1, recompute=True)
    for n in logged: np.testing.assert_allclose(logged[n], recomputed[n], atol=1e-6)
    res = E.evaluate_main([str(d1), str(d2), '--reference', 'pop909', '--num-runs', '2', '--out', str(tmp_path / 'cmp')])
    # a run measured against its own excerpts (up to MIDI re-reading) has ~0 loss; shuffled targets do not
    l_scg, l_none = res['results'][1]['rule_loss'], res['results'][0]['rule_loss']
    assert l_scg['note_density'][0] < 1e-6 < l_none['note_density'][0]
    assert l_scg['chord_progression'][0] == 0 < l_none['chord_progression'][0]
    for d in (d1, d2):
        assert (d / 'summary.csv').is_file() and (d / 'summary.md').is_file() and (d / 'kde.png').is_file()
        assert 'OA avg' in (d / 'summary.md').read_text() or 'OA avg' in (d / 'summary.csv').read_text()
    csv = (tmp_path / 'cmp.csv').read_text().splitlines()
    assert csv[0].startswith('method,pitch_hist_mean,pitch_hist_std') and csv[1].startswith('no_guidance,')
    md = (tmp_path / 'cmp.md').read_text()
    assert '| no guidance |' in md and '| SCG |' in md and 'chord progression' in md


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match='no results.json'):
        E.read_results(tmp_path)
    (tmp_path / 'results.json').write_text(json.dumps({'samples': [{'file': 'a.mid', 'targets': {'pitchy': [1]}}]}))
    with pytest.raises(ValueError, match='unknown rule'):
        E.read_results(tmp_path)
    with pytest.raises(ValueError, match='not a folder'):
        E.evaluate_main([str(tmp_path / 'missing')])
    with pytest.raises(ValueError, match='unknown reference'):
        E.reference_excerpts('lakh', 3)


def test_table_order_and_format(tmp_path):
    md = E.write_table({'scg_classifier': {'pitch_hist': (0.1, 0.01)}, 'scg': {'pitch_hist': (0.2, 0.02)},
                        'classifier': {'pitch_hist': 0.3}, 'mine': {'pitch_hist': (0.4, 0.0)}}, tmp_path / 't')
    rows = [l.split('|')[1].strip() for l in md.splitlines()[2:]]
    assert rows == ['classifier', 'SCG', 'SCG + classifier', 'mine']
    assert (tmp_path / 't.csv').read_text().splitlines()[1] == 'classifier,0.3,'
