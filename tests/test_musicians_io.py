"""Musicians' I/O on real files (issue 18): every reader takes a path, bytes, a PrettyMIDI, a music21 Stream or a partitura
score / performance object, and a generated roll written as MusicXML reads back with the same notes on its grid.
Skips cleanly without ../shared."""
import io, warnings
from collections import Counter
import numpy as np
import pretty_midi
import pytest
import torch
from scg_music import pianoroll as pr
from scg_music.core import BadInputError
from scg_music.rules import extract_rules

@pytest.fixture(scope='module')
def pop(data_dir):
    p = data_dir / 'pop909' / '001.mid'
    if not p.is_file(): pytest.skip(f'{p} is absent')
    return p

@pytest.fixture(scope='module')
def score(data_dir):
    p = data_dir / 'partitura_examples' / 'mozart_k265_var1.musicxml'
    if not p.is_file(): pytest.skip(f'{p} is absent')
    return p

def test_midi_inputs_of_every_kind(pop):
    import partitura
    ref = pr.midi_to_roll(pop)
    pm = pretty_midi.PrettyMIDI(str(pop))
    assert np.array_equal(pr.midi_to_roll(pop.read_bytes()), ref) and np.array_equal(pr.midi_to_roll(str(pop)), ref)
    assert np.array_equal(pr.midi_to_roll(pm), ref)
    perf = partitura.load_performance_midi(str(pop))
    r = pr.midi_to_roll(perf, pedal=False)              # a partitura Performance, via MIDI bytes
    assert r.shape == pr.midi_to_roll(pop, pedal=False).shape
    a, b = _table(pm), _table(pr.load_midi(perf))       # the same notes: times differ by tick rounding only
    assert a.shape == b.shape and np.array_equal(a[:, 2:], b[:, 2:]) and np.abs(a[:, :2] - b[:, :2]).max() < 1e-3
    melody = pretty_midi.PrettyMIDI(); melody.instruments.append(pm.instruments[0])
    c = _table(pr.load_midi(perf[0]))                   # one PerformedPart: the first track (MELODY) alone
    assert len(c) > 100 and c.shape == _table(melody).shape and np.abs(c[:, :2] - _table(melody)[:, :2]).max() < 1e-3

def _table(pm):
    a = pr._notes_array(pm)
    return a[np.lexsort((a[:, 2], np.round(a[:, 0], 2)))]

def test_music21_and_partitura_scores(score):
    import music21, partitura
    from_path = extract_rules(score, ['pitch_hist', 'note_density'])
    pt_score = partitura.load_score(str(score))
    for obj in (pt_score, pt_score.parts[0]):           # partitura Score and Part: 120 bpm as score_to_roll
        got = extract_rules(obj, ['pitch_hist', 'note_density'])
        assert torch.allclose(got['pitch_hist'], from_path['pitch_hist'], atol=1e-3)
        assert torch.allclose(got['note_density'], from_path['note_density'], atol=0.51)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); m21 = music21.converter.parse(str(score))
    ph = extract_rules(m21, 'pitch_hist')['pitch_hist']           # music21 plays it at the score's own tempo
    assert ph.shape == (12,) and abs(float(ph.sum()) - 1) < 1e-5 and torch.corrcoef(torch.stack([ph, from_path['pitch_hist']]))[0, 1] > 0.9

def test_bad_inputs_name_their_type(pop):
    from scg_music.pipeline import resolve_targets
    for f in (pr.midi_to_roll, pr.load_midi, extract_rules, resolve_targets):
        for bad in (3.5, object(), [pop]):
            with pytest.raises(BadInputError, match=type(bad).__name__):
                f(bad)
    with pytest.raises(BadInputError, match='got Note'):
        import music21; pr.midi_to_roll(music21.note.Note('C4'))

def test_targets_from_objects(pop):
    from scg_music.demo import targets_from_file
    from scg_music.pipeline import resolve_targets
    pm = pretty_midi.PrettyMIDI(str(pop))
    assert targets_from_file(pm) == targets_from_file(pop)
    a, b = resolve_targets(pm), resolve_targets(str(pop))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

def _grid_notes(roll, grid):
    q = pr.quantize_notes(pr.roll_to_midi(roll), bpm=120, grid=grid)
    return Counter((p, s * grid, (e - s) * grid) for p, s, e, _ in q.tolist())

def _m21_notes(s):
    "(pitch, onset, duration) of a music21 score, ties joined per pitch (music21's stripTies misses ties between voices)."
    segs = sorted((p.midi, float(n.getOffsetInHierarchy(s)), float(n.quarterLength), (n.tie.type if n.tie else None) if len(n.pitches) == 1
                   else (n.getTie(p).type if n.getTie(p) else None)) for n in s.recurse().notes for p in n.pitches)
    out, open_ = Counter(), {}
    for p, o, d, tie in segs:
        if tie in ('continue', 'stop') and p in open_ and open_[p][0] + open_[p][1] == o: open_[p][1] += d
        else:
            if p in open_: out[(p, *open_.pop(p))] += 1
            open_[p] = [o, d]
        if tie in (None, 'stop'): out[(p, *open_.pop(p))] += 1
    return out + Counter((p, o, d) for p, (o, d) in open_.items())

@pytest.mark.parametrize('ext,grid', [('musicxml', 0.25), ('mxl', 0.5)])
def test_musicxml_roundtrip_of_a_pop909_roll(pop, tmp_path, ext, grid):
    "A real roll (20.48 s of POP909 no. 1) -> MusicXML -> read back by partitura and by music21: the same notes."
    import music21, partitura
    roll = pr.midi_to_roll(pop)[..., 2048:4096]            # 20.48 s from the first verse
    want = _grid_notes(roll, grid)
    assert sum(want.values()) > 100
    f = pr.roll_to_musicxml(roll, tmp_path / f'pop.{ext}', key='auto', bpm=120, grid=grid)
    assert sorted(x.name for x in tmp_path.iterdir()) == [f'pop.{ext}']
    na = partitura.load_score(str(f)).note_array()
    got = Counter((int(p), float(o), float(d)) for p, o, d in zip(na['pitch'], na['onset_quarter'], na['duration_quarter']))
    assert got == want
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); s = music21.converter.parse(str(f))
    assert _m21_notes(s) == want
    k, ks = pr.parse_key('auto', roll), s.recurse().getElementsByClass('KeySignature')[0].asKey()
    assert k is not None and (ks.tonic.pitchClass, ks.mode == 'minor') == (k[0], k[1])

def test_written_midi_carries_tempo_meter_key(pop, tmp_path):
    "A POP909 roll written at 150 bpm in 3/4 with its detected key, quantised to eighths: all of it reads back."
    roll = pr.midi_to_roll(pop)[..., 2048:3072]
    f = tmp_path / 'n.mid'; pr.roll_to_midi(roll, bpm=150, time_signature='3/4', key='auto', grid=0.5).write(str(f))
    back, k = pretty_midi.PrettyMIDI(str(f)), pr.parse_key('auto', roll)
    assert np.allclose(back.get_tempo_changes()[1], [150.0]) and [(t.numerator, t.denominator) for t in back.time_signature_changes] == [(3, 4)]
    assert [x.key_number for x in back.key_signature_changes] == [k[0] + 12 * k[1]]
    step = 60 / 150 / 2
    got = sorted((n.pitch, round(n.start / step), round(n.end / step)) for n in back.instruments[0].notes)
    assert all(abs(t / step - round(t / step)) < 1e-3 for n in back.instruments[0].notes for t in (n.start, n.end))
    assert got == sorted((p, s, e) for p, s, e, _ in pr.quantize_notes(pr.roll_to_midi(roll), bpm=150, grid=0.5).tolist()) and len(got) > 50
