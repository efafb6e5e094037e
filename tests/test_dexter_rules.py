"""Performance rules (`scg_music.dexter.rules`) and SCG steering DExter toward them, through the API and the CLI."""
import contextlib, io, json
import numpy as np
import pytest
import torch
import scg_music.dexter as dexter
from scg_music.dexter.rules import (PERFORMANCE_RULES, parse_performance_rules, perf_context, measure_performance,
                                    extract_performance_rules, PerformanceScore, register_performance_rule)
from scg_music.rules import RULES, get_rule, unregister_rule

torch.set_num_threads(1)


def test_registry_domains():
    "One registry, two domains: the performance rules are not roll rules, and each side names the other clearly."
    assert {'tempo', 'velocity', 'crescendo', 'tempo_arc', 'pedal', 'articulation', 'chord_spread', 'dynamics_range'} <= set(dexter.PERFORMANCE_RULES)
    assert not set(PERFORMANCE_RULES) & set(RULES)
    with pytest.raises(ValueError, match="'tempo' is a performance rule"): get_rule('tempo')
    with pytest.raises(ValueError, match="'pitch_hist' is a roll rule"): get_rule('pitch_hist', 'performance')
    r = register_performance_rule('_test_loud_fraction', lambda p, ctx, w: ((p[..., 1] > 0.7).float() * w).sum(-1) / w.sum(-1), 0.1, lo=0, hi=1)
    try: assert '_test_loud_fraction' in PERFORMANCE_RULES and r.domain == 'performance'
    finally: unregister_rule('_test_loud_fraction')


@pytest.mark.parametrize('rules, msg', [({'tempo': 0}, 'within'), ({'velocity': 'loud'}, 'number'), ({'tempoo': 60}, 'unknown rule'),
                                        ({'crescendo': ((8, 5), 10)}, 'ends before'), ({'crescendo': '5:x:10'}, 'first:last'),
                                        ({'tempo': float('inf')}, 'finite'), ({}, 'non-empty'),
                                        ({'pedal': {'target': 0.5, 'weight': -1}}, 'weight'), ({'pedal': {'amount': 1}}, 'unknown keys')])
def test_bad_targets_one_line(rules, msg):
    with pytest.raises(ValueError, match=msg) as e: parse_performance_rules(rules)
    assert '\n' not in str(e.value)


def _score(data_dir):
    p = data_dir / 'vienna4x22' / 'musicxml' / 'Chopin_op10_no3.musicxml'
    if not p.exists(): pytest.skip('Vienna 4x22 not in ../shared')
    return p


def test_rules_measure_a_human_performance(data_dir):
    "Targets 'like this performance': the rules measured on two human performances differ as the humans do."
    v = data_dir / 'vienna4x22'
    a = extract_performance_rules(_score(data_dir), v / 'match' / 'Chopin_op10_no3_p01.match', {'tempo': None, 'crescendo': (1, 5)})
    b = extract_performance_rules(_score(data_dir), v / 'match' / 'Chopin_op10_no3_p02.match', ['velocity', 'tempo'])
    assert set(a) == {'tempo', 'crescendo@1-5'} and set(b) == {'velocity', 'tempo'}
    assert 20 < a['tempo'] < 200 and 20 < b['velocity'] < 110 and a['tempo'] != b['tempo']


def test_scg_moves_the_rendering_to_the_targets(data_dir):
    "With the bundled DExter and equal seeds, SCG brings every targeted value closer than unguided rendering."
    from scg_music.dexter.render import render_codec
    from scg_music.dexter.codec import load_score
    part = load_score(str(_score(data_dir)), unfold=False)
    base = render_codec(part, seed=3, steps=20, bpm=None, unfold=False)
    ids = base['na']['id'][:150]
    base = render_codec(part, seed=3, steps=20, bpm=None, ids=ids, unfold=False)
    ctx = perf_context(part, base['na'])
    rules = {'velocity': 80, 'articulation': -0.5, 'crescendo': ((2, 4), 20)}
    g = render_codec(part, seed=3, steps=20, bpm=None, ids=ids, rules=rules, n_candidates=8, unfold=False)
    before = measure_performance(base['p'], ctx, parse_performance_rules(rules, ctx))
    after = g['rules']['achieved']
    scale = dict(velocity=8, articulation=0.25, crescendo=8)
    loss = lambda v: sum(((v[k] - t) / scale[k.split('@')[0]]) ** 2 for k, t in zip(v, (80, -0.5, 20)))
    assert all(abs(after[k] - t) < abs(before[k] - t) for k, t in zip(after, (80, -0.5, 20))), (before, after)
    assert loss(after) < 0.5 * loss(before), (before, after)
    assert len(g['p']) == len(ids) and np.isfinite(g['p']).all()


def test_tempo_rule_is_met_and_score_is_pure(data_dir):
    "A whole-piece tempo target is met exactly (the curve rescaled); the SCG score never modifies its input."
    perf = dexter.render(str(_score(data_dir)), rules={'tempo': 66}, n_candidates=2, steps=8, seed=1)
    assert abs(perf.codec['rules']['achieved']['tempo'] - 66) < 1e-3
    with pytest.raises(ValueError, match='not both'): dexter.render(str(_score(data_dir)), rules={'tempo': 66}, bpm=80)
    ctx = perf_context(perf.codec['part'], perf.codec['na'])
    from scg_music.dexter.rules import window_context
    wc = window_context(ctx, [0], 64)
    sc = PerformanceScore(parse_performance_rules({'velocity': 80, 'chord_spread': 5}, ctx), wc, torch.zeros(5), torch.ones(5))
    z = torch.randn(3, 64, 5); z0 = z.clone()
    s = sc(z, 3)
    assert s.shape == (3,) and torch.isfinite(s).all() and torch.equal(z, z0)


def test_cli_rules(data_dir, tmp_path):
    "scg-music render --rule ... writes the performance and reports achieved vs target; a bad rule is one line, exit 2."
    from scg_music.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(['render', str(_score(data_dir)), '--out', str(tmp_path / 'a.mid'), '--rule', 'velocity=90',
                     '--rule', 'crescendo=2:4:+20', '--candidates', '2', '--steps', '6', '--no-wav', '--no-plot']) == 0
    assert (tmp_path / 'a.mid').exists() and 'rules (achieved / target): velocity' in out.getvalue()
    (tmp_path / 'r.yml').write_text('pedal: 0.3\ncrescendo: [[2, 4], 15]\n')
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(['render', str(_score(data_dir)), '--out', str(tmp_path / 'b' / 'b.mid'), '--rules', str(tmp_path / 'r.yml'),
                     '--rule', 'crescendo=40:50:10']) == 2
    assert err.getvalue().count('\n') == 1 and 'bars 40-50 hold no notes' in err.getvalue() and not (tmp_path / 'b').exists()
