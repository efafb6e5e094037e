"Real-data and edge-case tests of scg_music.pianoroll (MIDI/score <-> 3-channel piano rolls)."
import io
import numpy as np
import pretty_midi
import pytest
import torch

from scg_music.pianoroll import (BadInputError, FS, MIN_PIANO, MAX_PIANO, load_midi, midi_to_raw, midi_to_roll,
                                 roll_to_midi, score_to_roll, piano_like, plot_roll, roll_to_audio, write_wav,
                                 roundtrip_stats, roll_main, unit_to_raw)


def _pm(notes, ccs=(), drums=()):
    pm = pretty_midi.PrettyMIDI(); ins = pretty_midi.Instrument(0)
    ins.notes = [pretty_midi.Note(v, p, s, e) for v, p, s, e in notes]
    ins.control_changes = [pretty_midi.ControlChange(64, v, t) for t, v in ccs]
    pm.instruments.append(ins)
    if drums:
        d = pretty_midi.Instrument(0, is_drum=True); d.notes = [pretty_midi.Note(v, p, s, e) for v, p, s, e in drums]
        pm.instruments.append(d)
    return pm


def _notes(pm):
    return sorted((n.pitch, round(n.start, 4), round(n.end, 4), n.velocity) for i in pm.instruments for n in i.notes)


def _asap_performances(data_dir, n):
    files = sorted(p for p in (data_dir / 'asap').rglob('*.mid') if p.name != 'midi_score.mid')
    return files[:: max(1, len(files) // n)][:n]


def test_roundtrip_real_performances(data_dir):
    "At least 99 % of notes of real ASAP performances survive exactly (pitch, velocity, on/offset within 10 ms)."
    tot = dict(notes=0, kept=0, other=0)
    for f in _asap_performances(data_dir, 6):
        st = roundtrip_stats(f)
        for k in tot: tot[k] += st[k]
    assert tot['notes'] > 5000
    assert tot['kept'] / tot['notes'] >= 0.99, tot
    assert tot['other'] == 0, tot  # every loss has a known cause


def test_roundtrip_pop909_max_merge(data_dir):
    "POP909 has several tracks on the same pitches: the roll never exceeds [-1,1] (no summing, no uint8 wrap)."
    for i in (1, 2, 3):
        r = midi_to_roll(data_dir / f'pop909/{i:03d}.mid')
        assert r.dtype == np.float32 and r.shape[:2] == (3, 128)
        assert r.min() >= -1 and r.max() <= 1
        st = roundtrip_stats(data_dir / f'pop909/{i:03d}.mid')
        # tracks doubling a pitch merge into one key: those losses are inherent and all classified
        lost = sum(v for k, v in st.items() if k not in ('notes', 'kept', 'decoded'))
        assert st['kept'] / st['notes'] > 0.9 and st['other'] == 0 and lost == st['notes'] - st['kept'], st


def test_max_merge_across_instruments():
    pm = _pm([(120, 60, 0, 1)]); b = pretty_midi.Instrument(0); b.notes = [pretty_midi.Note(127, 60, 0.5, 1.5)]
    pm.instruments.append(b)
    raw = midi_to_raw(pm)
    assert raw[0, 60].max() == 127 and raw[0, 60, 10] == 120 and raw[0, 60, 60] == 127
    assert midi_to_roll(pm).max() <= 1


def test_overlapping_same_pitch():
    "A re-strike while the key sounds: both onsets survive; the first note is cut at the re-strike (classified)."
    pm = _pm([(80, 60, 0.0, 1.0), (50, 60, 0.5, 1.5)])
    out = _notes(roll_to_midi(midi_to_roll(pm)))
    assert [n[1] for n in out] == [0.0, 0.5]
    assert out[1][2] == 1.5
    st = roundtrip_stats(pm)
    assert st['overlap_same_pitch'] >= 1 and st['other'] == 0
    # with merge='last' the re-struck note keeps its own velocity
    out_last = _notes(roll_to_midi(midi_to_roll(pm, merge='last')))
    assert out_last[1][3] == 50 and out_last[0][3] == 80


def test_repeated_notes_back_to_back():
    pm = _pm([(90, 64, 0.0, 0.5), (40, 64, 0.5, 1.0), (70, 64, 1.0, 1.2)])
    assert _notes(roll_to_midi(midi_to_roll(pm))) == _notes(pm)


def test_notes_outside_piano_range():
    pm = _pm([(90, 20, 0, 1), (90, 109, 0, 1), (90, 21, 0, 1), (90, 108, 0, 1)])
    r = midi_to_roll(pm)
    assert (r[0, 20] > -1).any()                      # midi_to_roll keeps all 128 rows
    out = _notes(roll_to_midi(r))
    assert [n[0] for n in out] == [21, 108]           # decoding is piano_like
    assert len(roll_to_midi(r, piano=False).instruments[0].notes) == 4
    st = roundtrip_stats(pm)
    assert st['outside_piano'] == 2 and st['kept'] == 2


def test_sub_frame_and_drums():
    pm = _pm([(70, 60, 1.0012, 1.0041)], drums=[(100, 36, 0, 1)])
    out = _notes(roll_to_midi(midi_to_roll(pm)))
    assert len(out) == 1 and abs(out[0][1] - 1.0012) <= 0.01 and abs(out[0][2] - 1.0041) <= 0.01


def test_pedal_quantised_and_shifted():
    pm = _pm([(70, 60, 0, 2)], ccs=[(0.5, 100), (1.0, 0), (1.0, 127), (1.5, 40)])
    raw = midi_to_raw(pm)
    assert raw[2, MIN_PIANO:MAX_PIANO + 1, 50].tolist() == [104] * 88
    assert raw[2, :MIN_PIANO].max() == 0 and raw[2, MAX_PIANO + 1:].max() == 0
    assert raw[2, 60, 100] == 8 and raw[2, 60, 102] == 120      # 0 then 127 at one instant: 127 moved 2 frames later
    cc = [(round(c.time, 2), c.value) for c in roll_to_midi(midi_to_roll(pm)).instruments[0].control_changes]
    assert cc == [(0.5, 104), (1.0, 0), (1.02, 127), (1.5, 40)]


def test_pedal_real_file(data_dir):
    f = _asap_performances(data_dir, 1)[0]
    pm = load_midi(f)
    n_cc = sum(c.number == 64 for i in pm.instruments for c in i.control_changes)
    out = roll_to_midi(midi_to_roll(pm)).instruments[0].control_changes
    assert n_cc > 0 and 0.9 * n_cc <= len(out) <= n_cc  # events on the same frame collapse, nothing else is lost


def test_orphan_runs_and_torch_input():
    r = midi_to_roll(_pm([(80, 60, 0, 1), (80, 62, 0, 1)]))
    r[1, 60] = -1                                        # model output without onset for pitch 60
    t = torch.from_numpy(r)
    assert len(roll_to_midi(t).instruments[0].notes) == 2
    assert len(roll_to_midi(t, orphans='drop').instruments[0].notes) == 1
    assert len(roll_to_midi(r[0]).instruments[0].notes) == 2      # (128, T) input
    with pytest.raises(BadInputError, match='shape'): roll_to_midi(np.zeros((4, 128, 10)))


def test_threshold_and_rounding():
    x = -np.ones((3, 128, 4), np.float32)
    x[0, 60, :2] = 100 / 63.5 - 1; x[1, 60, 0] = 1; x[0, 61, :2] = -0.96
    assert unit_to_raw(x)[0, 60, 0] == 100 and unit_to_raw(x)[0, 61, 0] == 0
    n = roll_to_midi(x).instruments[0].notes
    assert [(m.pitch, m.velocity) for m in n] == [(60, 100)]


def test_corrupt_and_empty_midi(tmp_path):
    bad = tmp_path / 'bad.mid'; bad.write_bytes(b'MThd\x00\x00\x00\x06\x00\x01garbage')
    with pytest.raises(BadInputError, match='bad.mid'): load_midi(bad)
    empty = tmp_path / 'empty.mid'; empty.write_bytes(b'')
    with pytest.raises(BadInputError, match='empty.mid'): midi_to_roll(empty)
    with pytest.raises(BadInputError, match='empty'): load_midi(b'')
    nonotes = tmp_path / 'nonotes.mid'; pretty_midi.PrettyMIDI().write(str(nonotes))
    with pytest.raises(BadInputError, match='no .*notes'): midi_to_roll(nonotes)
    assert issubclass(BadInputError, ValueError)


def test_bytes_and_pm_inputs_agree(data_dir):
    f = data_dir / 'pop909/004.mid'
    a, b, c = midi_to_roll(f), midi_to_roll(f.read_bytes()), midi_to_roll(load_midi(f))
    assert np.array_equal(a, b) and np.array_equal(a, c)


@pytest.mark.parametrize('rel', ['partitura_examples/mozart_k265_var1.musicxml', 'asap/Bach/Fugue/bwv_846/xml_score.mxl',
                                 'asap/Bach/Fugue/bwv_846/midi_score.mid'])
def test_score_to_roll(data_dir, rel):
    r, pm = score_to_roll(data_dir / rel, bpm=100, velocity=70, return_midi=True)
    assert r.shape[:2] == (3, 128) and r.min() >= -1 and r.max() <= 1
    vals = set(np.unique(unit_to_raw(r[0])).tolist())
    assert vals == {0, 70}
    notes = pm.instruments[0].notes
    assert len(notes) > 50
    if rel.endswith(('musicxml', 'mxl')):   # quarter = 60/bpm s: onsets on a 0.6/12 s grid for simple scores
        assert min(n.start for n in notes) == 0


def test_score_to_roll_bad(tmp_path):
    p = tmp_path / 'broken.musicxml'; p.write_text('<score-partwise><oops')
    with pytest.raises(BadInputError, match='broken.musicxml'): score_to_roll(p)


def test_piano_like_copy_and_torch():
    x = torch.zeros(2, 3, 128, 8)
    y = piano_like(x)
    assert (x == 0).all() and (y[:, :, :21] == -1).all() and (y[:, :, 109:] == -1).all() and (y[:, :, 21:109] == 0).all()


def test_plot_audio_cli(tmp_path, data_dir):
    import matplotlib; matplotlib.use('Agg')
    r = midi_to_roll(data_dir / 'pop909/001.mid')[..., :500]
    ax = plot_roll(r, title='t')
    assert ax.get_title() == 't'
    a = roll_to_audio(r, sr=8000)
    assert a.dtype == np.float32 and np.abs(a).max() <= 1 and len(a) >= 5 * 8000
    write_wav(tmp_path / 'a.wav', a, 8000)
    assert roll_main([str(data_dir / 'partitura_examples/mozart_k265_var1.musicxml'), '--out', str(tmp_path / 'o'),
                      '--sr', '8000', '--seconds', '5']) == 0
    out = sorted((tmp_path / 'o').iterdir())
    assert [p.name for p in out] == ['mozart_k265_var1.npy', 'mozart_k265_var1.png', 'mozart_k265_var1.wav',
                                     'mozart_k265_var1_roundtrip.mid']
    assert {p.suffix for p in out} == {'.npy', '.png', '.mid', '.wav'} and all(p.stat().st_size > 0 for p in out)


def test_fast_reader_matches_pretty_midi(data_dir):
    "The fast SMF reader gives exactly pretty_midi's notes and pedal events (ASAP, POP909, Vienna files)."
    from scg_music.pianoroll import read_midi_events, _notes_array, _pedal_events
    files = _asap_performances(data_dir, 3) + [data_dir / 'asap/Bach/Fugue/bwv_846/midi_score.mid',
             data_dir / 'pop909/010.mid'] + sorted((data_dir / 'vienna4x22/midi').glob('*.mid'))[:2]
    for f in files:
        n1, t1, v1 = read_midi_events(f.read_bytes())
        pm = load_midi(f); n2 = _notes_array(pm); t2, v2 = _pedal_events(pm)
        s1, s2 = n1[np.lexsort(n1.T[::-1])], n2[np.lexsort(n2.T[::-1])]
        assert np.array_equal(s1, s2) and np.array_equal(t1, t2) and np.array_equal(v1, v2), f


def test_truncated_real_file(data_dir, tmp_path):
    "A real file cut in the middle is declined by the fast reader and named by the fallback's BadInputError."
    d = (data_dir / 'pop909/001.mid').read_bytes()
    p = tmp_path / 'cut.mid'; p.write_bytes(d[: len(d) // 2])
    with pytest.raises(BadInputError, match='cut.mid'): midi_to_roll(p)
    with pytest.raises(BadInputError): midi_to_roll(d[: len(d) // 2])


def test_score_formats_agree():
    "MEI, kern and MusicXML versions of partitura's example score give the same roll."
    import partitura as pt
    rolls = [score_to_roll(f, bpm=90) for f in (pt.EXAMPLE_MUSICXML, pt.EXAMPLE_MEI, pt.EXAMPLE_KERN)]
    assert all(np.array_equal(rolls[0], r) for r in rolls[1:])
    # quarter = 60/90 s: the roll lasts (quarters * 2/3 s) * 100 frames
    na = pt.load_score(pt.EXAMPLE_MUSICXML).note_array()
    quarters = (na['onset_quarter'] + na['duration_quarter']).max() - na['onset_quarter'].min()
    assert rolls[0].shape[-1] == round(quarters * 60 / 90 * FS)
