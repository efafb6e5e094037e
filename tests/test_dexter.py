"""DExter on real data: codec round trips, data preparation (match files and parangonar), rendering, bad input."""
import json, os
from pathlib import Path
import numpy as np
import pytest
import partitura as pt
import torch

from scg_music.dexter.codec import (load_score, encode_performance, decode_performance, roundtrip_errors,
                                    score_note_array, encode_score, P_COLS, S_COLS)
from scg_music.dexter.data import (vienna_sources, example_sources, asap_sources, build_dataset, load_dataset,
                                   Normalizer, SegmentDataset, transfer_pairs, segment, score_entry,
                                   align_beats, align_source, read_beats)
from scg_music.dexter.model import build_model, save_dexter, load_dexter
from scg_music.dexter.render import render, render_main, render_codec, write_outputs, resolve_model
from scg_music.dexter.evaluate import curve_table, deadpan_codec

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- codec

@pytest.mark.parametrize('stem', ['Chopin_op10_no3', 'Chopin_op38', 'Mozart_K331_1st-mov', 'Schubert_D783_no15'])
def test_vienna_roundtrip(data_dir, stem):
    "encode -> decode reproduces the human performance: onsets, durations (median) and velocities."
    v = data_dir / 'vienna4x22'
    part = load_score(v / 'musicxml' / f'{stem}.musicxml')
    perf, al = pt.load_match(str(v / 'match' / f'{stem}_p01.match'))
    e = roundtrip_errors(part, perf, al)
    assert e['vel_max'] == 0
    assert e['onset_max'] < 1e-4, e
    assert e['dur_max'] < 1e-4, e          # vs the human duration floored at partitura's 0.075 s
    assert e['deleted'] >= 1          # every p01 file has deleted notes, kept as masked rows


def test_codec_joined_on_ids(data_dir):
    "Rows follow (onset_div, pitch) order and the decoded notes carry the score ids of their rows."
    v = data_dir / 'vienna4x22'
    part = load_score(v / 'musicxml' / 'Mozart_K331_1st-mov.musicxml')
    perf, al = pt.load_match(str(v / 'match' / 'Mozart_K331_1st-mov_p05.match'))
    pc, ids, mask = encode_performance(part, perf, al)
    na = score_note_array(part)
    sub = na[[list(na['id']).index(i) for i in ids]]
    assert (np.diff(sub['onset_div']) >= 0).all()
    # velocity column equals the matched performance note's velocity, looked up by id
    pna = perf.performedparts[0].note_array()
    s2p = {a['score_id']: a['performance_id'] for a in al if a['label'] == 'match'}
    pv = dict(zip(pna['id'], pna['velocity']))
    for k in np.flatnonzero(~mask)[:50]:
        assert abs(pc[k, 1] * 127 - pv[s2p[ids[k]]]) < 1e-3
    # reversed rows + reversed ids decode to the same performance
    a = decode_performance(na, pc, ids).note_array(); b = decode_performance(na, pc[::-1], ids[::-1]).note_array()
    a.sort(order='id'); b.sort(order='id')
    assert np.allclose(a['onset_sec'], b['onset_sec']) and (a['velocity'] == b['velocity']).all()
    # pedal: CC64 events written, values down to 0 and a final release
    pp = decode_performance(na, pc, ids)
    vals = [c['value'] for c in pp.controls]
    assert all(c['number'] == 64 for c in pp.controls) and vals[-1] == 0


# ---------------------------------------------------------------- data

def test_example_dataset_and_segments(data_dir, tmp_path):
    man = build_dataset(example_sources(data_dir / 'partitura_examples'), tmp_path, progress=False)
    assert set(man['pieces']) == {'mozart_k265_var1', 'fuer_elise'}
    assert man['pieces']['fuer_elise']['n_notes'] > 1000
    ents = load_dataset(tmp_path)
    norm = Normalizer.fit(ents)
    ds = SegmentDataset(ents, norm, N=200, hop=100)
    it = ds[len(ds) - 1]
    assert it['p'].shape == (200, 5) and it['s'].shape == (200, len(S_COLS))
    # resume: a second build reuses the cached entries
    assert build_dataset(example_sources(data_dir / 'partitura_examples'), tmp_path, progress=False) == man


def test_vienna_entry_mixup_and_pairs(data_dir):
    src = vienna_sources(data_dir / 'vienna4x22')['Schubert_D783_no15'][:3]
    e, err = score_entry('Schubert_D783_no15', src)
    assert not err and e['P'].shape[0] == 3
    # every performance is re-indexed onto the same ids: equal-length rows, mixup is elementwise
    seg = segment(e, 0, 100, perf=0, mix=1, lam=0.5)
    both = e['V'][0, :100] & e['V'][1, :100]
    assert np.allclose(seg['p'][both], 0.5 * (e['P'][0, :100] + e['P'][1, :100])[both])
    pairs = transfer_pairs([e], 100)
    assert len(pairs) == len({(p[1]) for p in pairs}) * 6     # 3 performances -> 6 ordered pairs per window


def test_asap_parangonar(data_dir, tmp_path):
    "With align='parangonar' a pair is aligned by parangonar; a wrong pair (< 50% matched) is reported and skipped."
    asap = data_dir / 'asap'
    src = asap_sources(asap, pieces=['Bach_Prelude_bwv_846$'])
    assert src, 'ASAP Bach prelude 846 not found'
    name, perfs = next(iter(src.items()))
    good = perfs[:1]
    other = sorted(p for p in (asap / 'Bach' / 'Prelude' / 'bwv_848').glob('*.mid') if p.name != 'midi_score.mid')[0]
    wrong = [dict(kind='pair', score=good[0]['score'], perf=str(other), performer='wrong')]
    man = build_dataset({name: good + wrong}, tmp_path, progress=False, align='parangonar')
    info = man['pieces'][name]
    assert info['n_perfs'] == 1 and info['match_ratio'][0] > 0.9 and info['aligned_by'] == ['parangonar']
    assert [s['reason'] for s in man['skipped']] == ['low_match_ratio'] and 'matched' in man['skipped'][0]['error']


def _asap_pair(asap, name, k=0):
    return asap_sources(asap, pieces=[f'^{name}$'])[name][k]


def test_asap_beat_alignment(data_dir, tmp_path):
    "ASAP pairs aligned from their beat annotations; another piece's performance is listed with the reason."
    asap = data_dir / 'asap'
    good = asap_sources(asap, pieces=['^Bach_Prelude_bwv_846$'])['Bach_Prelude_bwv_846']
    other = _asap_pair(asap, 'Bach_Prelude_bwv_848')
    # another piece's performance: its beat count differs; with beats faked to the right count, few notes match
    n = len(read_beats(good[0]['score_beats'])); t = read_beats(other['beats'])
    fake = tmp_path / 'fake_annotations.txt'
    fake.write_text(''.join(f'{x}\t{x}\tb\n' for x in np.linspace(t[0], t[-1], n)))
    wrong = [dict(good[0], perf=other['perf'], beats=other['beats'], performer='w1'),
             dict(good[0], perf=other['perf'], beats=str(fake), performer='w2'),
             dict(good[0], beats=str(tmp_path / 'none.txt'), performer='w3')]
    man = build_dataset({'bwv846': good + wrong}, tmp_path / 'ds', progress=False)
    info = man['pieces']['bwv846']
    assert info['n_perfs'] == len(good) and min(info['match_ratio']) > 0.95 and info['aligned_by'] == ['beats'] * len(good)
    assert [s['reason'] for s in man['skipped']] == ['beat_count_mismatch', 'low_match_ratio', 'annotations_missing']
    with pytest.raises(ValueError, match='align must be'): align_source(good[0], align='dtw')


def test_asap_beats_agree_with_parangonar(data_dir):
    "On a real performance the beat-anchored pairs agree with parangonar's full alignment (same pitches, >= 95 %)."
    import parangonar as pa
    src = _asap_pair(data_dir / 'asap', 'Bach_Prelude_bwv_846')
    part, perf, al, st = align_beats(src)
    na, pna = part.note_array(), perf.note_array()
    ours = {a['score_id']: a['performance_id'] for a in al if a['label'] == 'match'}
    sp, pp = dict(zip(na['id'], na['pitch'])), dict(zip(pna['id'], pna['pitch']))
    assert all(sp[s] == pp[p] for s, p in ours.items()) and len(set(ours.values())) == len(ours)
    ref = {a['score_id']: a['performance_id'] for a in pa.AutomaticNoteMatcher()(na, pna) if a['label'] == 'match'}
    agree = sum(ours.get(s) == p for s, p in ref.items())
    assert agree >= 0.95 * len(ref) and agree >= 0.95 * len(ours), (agree, len(ref), len(ours))


# ---------------------------------------------------------------- rendering

@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    torch.manual_seed(0)
    p = tmp_path_factory.mktemp('m') / 'dexter_tiny'
    net = build_model('tiny')
    # untrained: outputs are scaled noise, so small stds keep the de-normalised codec in a sane range
    save_dexter(net, p, Normalizer([0.5, 0.5, 0, -0.3, 0.4], [0.01, 0.02, 0.005, 0.05, 0.05]).state(),
                extra=dict(train_cfg=dict(seg_len=64)))
    return p.with_suffix('.safetensors')


def test_cli_renders_asap_musicxml(data_dir, tiny_model, tmp_path):
    "The CLI renders an ASAP score (repeats unfolded, several windows) to MIDI + WAV + PNG on CPU."
    score = data_dir / 'asap' / 'Bach' / 'Prelude' / 'bwv_846' / 'xml_score.mxl'
    out = tmp_path / 'perf.mid'
    paths = render_main([str(score), '--out', str(out), '--model', str(tiny_model), '--steps', '4'])
    assert {p.name for p in paths} == {'perf.mid', 'perf.wav', 'perf_curves.png'}
    import pretty_midi
    pm = pretty_midi.PrettyMIDI(str(out))
    assert sum(len(i.notes) for i in pm.instruments) == len(load_score(score, unfold=True).note_array())
    assert any(c.number == 64 for i in pm.instruments for c in i.control_changes)


def test_render_bundled_model(data_dir, tmp_path):
    "The bundled small model (model=None) renders the held-out piece at a plausible tempo."
    from scg_music.dexter.render import bundled_model_path
    if bundled_model_path() is None: pytest.skip('no bundled DExter model in this installation')
    perf = render(data_dir / 'vienna4x22' / 'musicxml' / 'Chopin_op10_no3.musicxml', None, steps=20)
    bp = perf.codec['p'][:, 0]
    assert 20 < 60 / np.median(bp) < 200


def _median_tempo(r):
    from scg_music.dexter.render import codec_curves
    return float(np.median(codec_curves(r['na']['onset_beat'], r['p'])[1]))


def test_bpm_anchor_exact_keeps_curve(data_dir, tiny_model):
    "A number anchors the median tempo exactly; the curve is only scaled (same seed); a Path is accepted."
    sc = data_dir / 'vienna4x22' / 'musicxml' / 'Chopin_op38.musicxml'
    free = render_codec(sc, str(tiny_model), steps=4, unfold=False, bpm=None)
    for bpm in (37.5, 90, 250):
        r = render_codec(sc, tiny_model, steps=4, unfold=False, bpm=bpm)
        assert abs(_median_tempo(r) - bpm) < 1e-6 * bpm and r['bpm_source'] == 'bpm'
        ratio = r['p'][:, 0] / free['p'][:, 0]
        assert np.allclose(ratio, ratio[0]) and np.allclose(r['p'][:, 1:], free['p'][:, 1:])
    assert free['bpm_source'] == 'model' and free['bpm'] is None


def test_bpm_from_score_marking(data_dir, tiny_model):
    "bpm='score' (render's default) follows the marking (6/8, quarter = 72 -> 144 eighths); none -> model level."
    v = data_dir / 'vienna4x22' / 'musicxml'
    r = render_codec(v / 'Mozart_K331_1st-mov.musicxml', str(tiny_model), steps=4, unfold=False, bpm='score')
    assert r['bpm_source'] == 'score marking' and abs(_median_tempo(r) - 144.0) < 1e-6
    a = render_codec(v / 'Schubert_D783_no15.musicxml', str(tiny_model), steps=4, unfold=False, bpm='score')
    b = render_codec(v / 'Schubert_D783_no15.musicxml', str(tiny_model), steps=4, unfold=False, bpm='model')
    assert a['bpm_source'].startswith('model') and np.array_equal(a['p'], b['p'])


def test_render_asap_marking_tempo_in_midi(data_dir, tiny_model, tmp_path):
    "An ASAP score with a metronome marking (Rachmaninoff op. 23 no. 6, quarter = 72): the MIDI plays at 72 bpm."
    sc = data_dir / 'asap' / 'Rachmaninoff' / 'Preludes_op_23' / '6' / 'xml_score.mxl'
    if not sc.exists(): pytest.skip('ASAP Rachmaninoff op. 23 no. 6 missing')
    perf = render(sc, str(tiny_model), steps=2)
    assert perf.codec['bpm_source'] == 'score marking' and abs(_median_tempo(perf.codec) - 72) < 1e-6
    na = perf.codec['na']; notes = perf.performedparts[0].notes
    on = {n['id']: n['note_on'] for n in notes}
    x = na['onset_beat']; y = np.array([on[i] for i in na['id']])
    slope = np.polyfit(x, y, 1)[0]          # seconds per beat over the whole piece (4/4: beat = quarter)
    assert abs(60 / slope - 72) < 0.1 * 72


def test_bad_bpm_clear_error(data_dir, tiny_model, tmp_path):
    sc = data_dir / 'vienna4x22' / 'musicxml' / 'Schubert_D783_no15.musicxml'
    for bad in (0, -10, float('nan'), float('inf'), 1e5, 'fast', True):
        with pytest.raises(ValueError, match='bpm|beats per minute'):
            render_codec(sc, str(tiny_model), steps=2, unfold=False, bpm=bad)
    outdir = tmp_path / 'out'; outdir.mkdir()
    with pytest.raises(ValueError, match='--bpm'):
        render_main([str(sc), '--out', str(outdir / 'x.mid'), '--model', str(tiny_model), '--steps', '2', '--bpm', 'allegro'])
    with pytest.raises(ValueError, match='score'):
        render_codec(123, str(tiny_model))
    assert os.listdir(outdir) == []


def test_transfer_from_match(data_dir, tiny_model):
    v = data_dir / 'vienna4x22'
    sc = v / 'musicxml' / 'Schubert_D783_no15.musicxml'
    a = render_codec(sc, str(tiny_model), steps=8, unfold=False, transfer_from=v / 'match' / 'Schubert_D783_no15_p03.match', strength=0.25)
    b = render_codec(sc, str(tiny_model), steps=8, unfold=False)
    assert a['p'].shape == b['p'].shape and not np.allclose(a['p'], b['p'])
    # render's default tempo level keeps the source's with transfer, follows the marking otherwise
    perf = render(sc, str(tiny_model), steps=4, unfold=False, transfer_from=v / 'match' / 'Schubert_D783_no15_p03.match')
    assert perf.codec['bpm_source'] == 'model'


def test_no_bundled_model_message(monkeypatch, tmp_path):
    import scg_music.dexter.render as R
    import importlib; R = importlib.import_module('scg_music.dexter.render')
    monkeypatch.setattr(R, 'ASSETS', tmp_path / 'none')
    with pytest.raises(FileNotFoundError, match='dexter-train'):
        R.resolve_model(None)


# ---------------------------------------------------------------- bad input

def test_bad_inputs_leave_nothing(data_dir, tiny_model, tmp_path):
    empty = tmp_path / 'empty.musicxml'
    empty.write_text('''<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1"><part-list><score-part id="P1"><part-name>P</part-name></score-part></part-list>
<part id="P1"><measure number="1"><attributes><divisions>1</divisions></attributes>
<note><rest/><duration>4</duration></note></measure></part></score-partwise>''')
    broken = tmp_path / 'broken.musicxml'; broken.write_text('<score-partwise><part')
    outdir = tmp_path / 'out'; outdir.mkdir()
    for f, msg in [(empty, 'no notes'), (broken, 'cannot parse')]:
        with pytest.raises(ValueError, match=msg):
            render_main([str(f), '--out', str(outdir / 'x.mid'), '--model', str(tiny_model), '--steps', '2'])
    # a match file of another piece: its ids do not fit the score
    v = data_dir / 'vienna4x22'
    with pytest.raises(ValueError, match='not in the score'):
        render_main([str(v / 'musicxml' / 'Schubert_D783_no15.musicxml'), '--out', str(outdir / 'x.mid'),
                     '--model', str(tiny_model), '--steps', '2', '--no-unfold',
                     '--transfer-from', str(v / 'match' / 'Chopin_op38_p01.match')])
    part = load_score(v / 'musicxml' / 'Schubert_D783_no15.musicxml')
    perf, al = pt.load_match(str(v / 'match' / 'Chopin_op38_p01.match'))
    with pytest.raises(ValueError, match='not in the score'):
        encode_performance(part, perf, al)
    assert os.listdir(outdir) == []


# ---------------------------------------------------------------- evaluation

def test_curve_table_rows(data_dir):
    src = vienna_sources(data_dir / 'vienna4x22')['Mozart_K331_1st-mov'][:4]
    e, _ = score_entry('Mozart_K331_1st-mov', src)
    rows = curve_table(e, {'deadpan': [deadpan_codec(e)], 'human0': [e['P'][0]]})
    r = {x['system']: x for x in rows}
    assert r['deadpan']['tempo_cor'] == 0 and r['average human']['tempo_cor'] > 0.2
    assert r['human0']['vel_cor'] > r['deadpan']['vel_cor']

def test_score_midi_link_changing_offset_and_ornaments(data_dir):
    "ASAP score MIDIs whose offset to the MusicXML changes mid-piece, or that write out tremolos, still link."
    import time
    from scg_music.dexter.data import score_midi_link, _LINK_FAILURES
    root = data_dir / 'asap' / 'Chopin'
    if not (root / 'Etudes_op_25' / '12' / 'midi_score.mid').exists(): pytest.skip('ASAP Chopin op. 25 not in ../shared')
    d = root / 'Etudes_op_25' / '12'            # one offset links 49 % of the notes; further offsets 95 %
    link = score_midi_link(str(d / 'xml_score.mxl'), str(d / 'midi_score.mid'))
    assert link['link_ratio'] > 0.9 and link['midi_ratio'] > 0.9
    x = link['x_of_m'][link['x_of_m'] >= 0]
    assert len(np.unique(x)) == len(x)           # one MusicXML note per linked MIDI note
    assert (link['na']['pitch'][x] == link['midi']['pitch'][link['x_of_m'] >= 0]).all()
    d = root / 'Etudes_op_25' / '5'             # the MIDI holds three times the MusicXML's notes: refused, once
    with pytest.raises(ValueError, match='do not fit') as e: score_midi_link(str(d / 'xml_score.mxl'), str(d / 'midi_score.mid'))
    assert e.value.reason == 'score_midi_mismatch' and len(_LINK_FAILURES) >= 1
    t = time.perf_counter()
    with pytest.raises(ValueError, match='do not fit'): score_midi_link(str(d / 'xml_score.mxl'), str(d / 'midi_score.mid'))
    assert time.perf_counter() - t < 0.05       # the failure is cached, not unfolded again
