"""Fuzz suite of issue 19: hostile and careless input (MIDI, MusicXML, YAML, config values, CLI arguments).

Every case asserts that only `BadInputError` / `OSError` escape the library, that the CLI answers a bad input
with exit status 2 and exactly one stderr line (no traceback), that no case takes over 10 s, that what is
accepted is in range and finite, and that nothing is written into the output folder on failure.
Inputs are generated with fixed seeds, so every run sees the same cases."""
import copy, io, math, struct, time, tracemalloc
from pathlib import Path
import numpy as np
import pretty_midi
import pytest
import yaml

from scg_music import cli
from scg_music.core import BadInputError, CONFIG_DIR, MAX_YAML_BYTES
from scg_music.pianoroll import FS, MAX_SECONDS, midi_to_roll, score_to_roll
from scg_music.jobconfig import load_config
from scg_music.generate import generate

LIMIT_S = 10.0
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / 'shared' / 'data' / 'partitura_examples'

# ---------------------------------------------------------------- helpers

def _timed(fn):
    "`fn()` -> (result or the exception it raised, seconds); an exception other than BadInputError/OSError fails."
    t = time.perf_counter()
    try: out = fn()
    except (BadInputError, OSError) as e: out = e
    dt = time.perf_counter() - t
    assert dt < LIMIT_S, f'took {dt:.1f} s'
    return out, dt

def _check_roll(out):
    "An accepted roll is (3,128,T), at most MAX_SECONDS long, finite and in [-1, 1]; a refusal says something."
    if isinstance(out, Exception):
        msg = str(out).strip()
        assert msg and not msg.endswith(':') and '\n' not in msg and len(msg) < 600, repr(out)   # one bounded line that says what
        return
    assert out.shape[:2] == (3, 128) and 0 < out.shape[2] <= MAX_SECONDS * FS + 1, out.shape
    assert np.isfinite(out).all() and out.min() >= -1 and out.max() <= 1

def _vlq(n):
    out = [n & 0x7F]; n >>= 7
    while n: out.append(0x80 | (n & 0x7F)); n >>= 7
    return bytes(reversed(out))

def _smf(events, div=480, fmt=0):
    "A one-track Standard MIDI File of `(delta ticks, message bytes)` events, built byte by byte."
    trk = b''.join(_vlq(d) + m for d, m in events) + b'\x00\xff\x2f\x00'
    return b'MThd' + struct.pack('>Ihhh', 6, fmt, 1, div) + b'MTrk' + struct.pack('>I', len(trk)) + trk

def _good_midi():
    "A small valid two-instrument MIDI with a tempo change and pedal (pretty_midi-written)."
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    for prog, base in ((0, 60), (40, 48)):
        ins = pretty_midi.Instrument(prog)
        ins.notes = [pretty_midi.Note(30 + 4 * k, base + k % 12, 0.25 * k, 0.25 * k + 0.4) for k in range(24)]
        ins.control_changes = [pretty_midi.ControlChange(64, v, t) for t, v in ((0.5, 100), (2.0, 0), (3.0, 127))]
        pm.instruments.append(ins)
    b = io.BytesIO(); pm.write(b); return b.getvalue()

GOOD_MIDI = _good_midi()
RNG = np.random.default_rng(19)

def _truncations(data, n, rng):
    return [data[:int(k)] for k in rng.integers(1, len(data), n)]

def _corruptions(data, n, rng):
    out = []
    for _ in range(n):
        b = bytearray(data)
        for i in rng.integers(0, len(b), rng.integers(1, 6)): b[i] = int(rng.integers(0, 256))
        out.append(bytes(b))
    return out

# ---------------------------------------------------------------- MIDI bytes and files

MIDI_CASES = ([('trunc', d) for d in _truncations(GOOD_MIDI, 70, RNG)]
              + [('flip', d) for d in _corruptions(GOOD_MIDI, 70, RNG)]
              + [('random', bytes(RNG.integers(0, 256, int(RNG.integers(1, 400))).astype(np.uint8))) for _ in range(15)]
              + [('mthd+random', b'MThd' + bytes(RNG.integers(0, 256, int(RNG.integers(0, 200))).astype(np.uint8))) for _ in range(15)])

@pytest.mark.parametrize('kind,data', MIDI_CASES, ids=[f'{k}{i}' for i, (k, _) in enumerate(MIDI_CASES)])
def test_midi_bytes(kind, data):
    _check_roll(_timed(lambda: midi_to_roll(data))[0])

NOTE_ON, NOTE_OFF = b'\x90\x3c\x40', b'\x80\x3c\x00'
ABSURD = ([(f'div{div}', _smf([(0, NOTE_ON), (480, NOTE_OFF)], div=div)) for div in (1, 0, -1, -6360, -32768, 32767, 7)]
          + [(f'note{t}', _smf([(0, NOTE_ON), (t, NOTE_OFF)])) for t in (10**6, 3 * 10**6, 6_911_999, 9_999_990, 2**28 - 1)]
          + [(f'div1_note{t}', _smf([(0, NOTE_ON), (t, NOTE_OFF)], div=1)) for t in (7199, 7201, 10**5)]
          + [('tempo0', _smf([(0, b'\xff\x51\x03\x00\x00\x00'), (0, NOTE_ON), (480, NOTE_OFF)])),
             ('tempo_max', _smf([(0, b'\xff\x51\x03\xff\xff\xff'), (0, NOTE_ON), (9 * 10**6, NOTE_OFF)])),
             ('pedal_late', _smf([(0, NOTE_ON), (480, NOTE_OFF), (9 * 10**6, b'\xb0\x40\x7f')])),
             ('many_long', _smf([(0, bytes([0x90, p, 0x40])) for p in range(21, 109)] + [(1_700_000 if p == 21 else 0, bytes([0x80, p, 0])) for p in range(21, 109)]))])

@pytest.mark.parametrize('kind,data', ABSURD, ids=[k for k, _ in ABSURD])
def test_midi_absurd_sizes(kind, data):
    "Header divisions and hour-long notes: refused or small, and never more than 2 GB allocated (numpy is traced)."
    tracemalloc.start()
    try: out, _ = _timed(lambda: midi_to_roll(data))
    finally: peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    _check_roll(out)
    assert peak < 2 << 30, f'{peak / 2**30:.1f} GiB'

def test_midi_limits_named():
    e = _timed(lambda: midi_to_roll(_smf([(0, NOTE_ON), (2 * 480 * 7200, NOTE_OFF)])))[0]
    assert isinstance(e, BadInputError) and 'lasts 7200 s' in str(e)
    e = _timed(lambda: midi_to_roll(_smf([(0, NOTE_ON), (480, NOTE_OFF)], div=-6360)))[0]
    assert isinstance(e, BadInputError) and 'SMPTE' in str(e)

def _pm(pitch=60, start=0.0, end=1.0, vel=64):
    pm = pretty_midi.PrettyMIDI(); ins = pretty_midi.Instrument(0)
    ins.notes.append(pretty_midi.Note(vel, pitch, start, end)); pm.instruments.append(ins); return pm

PM_CASES = [dict(pitch=p) for p in (-48, -1, 128, 200, 10**6)] + [dict(vel=v) for v in (-1, 128, 300)] + \
           [dict(end=e) for e in (math.nan, math.inf, 1e300, 7200.0)] + [dict(start=math.nan), dict(start=-math.inf)]

@pytest.mark.parametrize('kw', PM_CASES, ids=[f'{k}={v}' for d in PM_CASES for k, v in d.items()])
def test_prettymidi_out_of_range(kw):
    out = _timed(lambda: midi_to_roll(_pm(**kw)))[0]
    assert isinstance(out, BadInputError), out            # never wrapped, clipped or allocated

ARG_CASES = [None, 3, 1.5, [], {}, object(), '', '/nonexistent/x.mid', '/tmp', b'']

@pytest.mark.parametrize('arg', ARG_CASES, ids=[repr(a)[:20] for a in ARG_CASES])
def test_midi_bad_arguments(arg):
    assert isinstance(_timed(lambda: midi_to_roll(arg))[0], (BadInputError, OSError))

@pytest.mark.parametrize('i', range(12))
def test_midi_files_on_disk(tmp_path, i):
    "Corrupt files by path, with odd names and extensions."
    data = (_truncations(GOOD_MIDI, 12, np.random.default_rng(100))[i] if i % 2 else _corruptions(GOOD_MIDI, 12, np.random.default_rng(101))[i])
    p = tmp_path / (f'we ird {i}.mid' if i % 3 else f'x{i}.MIDI'); p.write_bytes(data)
    _check_roll(_timed(lambda: midi_to_roll(p))[0])

# ---------------------------------------------------------------- MusicXML

def _xml(notes='<pitch><step>C</step><octave>4</octave></pitch><duration>4</duration>', divisions=4, measures=2):
    m = ''.join(f'<measure number="{k + 1}">' + (f'<attributes><divisions>{divisions}</divisions></attributes>' if k == 0 else '')
                + f'<note>{notes}<type>whole</type></note></measure>' for k in range(measures))
    return ('<?xml version="1.0" encoding="UTF-8"?><score-partwise version="3.1"><part-list><score-part id="P1"><part-name>P</part-name>'
            f'</score-part></part-list><part id="P1">{m}</part></score-partwise>')

XML_GOOD = _xml()
XML_HOSTILE = [('octave99', _xml('<pitch><step>C</step><octave>99</octave></pitch><duration>4</duration>')),
               ('octave-5', _xml('<pitch><step>C</step><octave>-5</octave></pitch><duration>4</duration>')),
               ('alter1e6', _xml('<pitch><step>C</step><alter>1000000</alter><octave>4</octave></pitch><duration>4</duration>')),
               ('dur1e12', _xml('<pitch><step>C</step><octave>4</octave></pitch><duration>1000000000000</duration>')),
               ('dur-4', _xml('<pitch><step>C</step><octave>4</octave></pitch><duration>-4</duration>')),
               ('divisions0', _xml(divisions=0)), ('divisions1e-9', _xml(divisions='0.000000001')),
               ('measures3000', _xml(measures=3000)), ('empty', ''), ('not_xml', 'hello'),
               ('doctype_entity', '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><score-partwise>&x;</score-partwise>')]
XML_CASES = (XML_HOSTILE + [(f'trunc{i}', XML_GOOD[:int(k)]) for i, k in enumerate(RNG.integers(1, len(XML_GOOD), 25))]
             + [(f'flip{i}', d.decode('latin-1')) for i, d in enumerate(_corruptions(XML_GOOD.encode(), 15, RNG))])

@pytest.mark.parametrize('kind,text', XML_CASES, ids=[k for k, _ in XML_CASES])
def test_musicxml(tmp_path, kind, text):
    p = tmp_path / 'score.musicxml'; p.write_text(text, encoding='latin-1')
    out = _timed(lambda: score_to_roll(p))[0]
    _check_roll(out)
    if kind == 'octave99' or kind == 'octave-5': assert isinstance(out, BadInputError) and 'pitch' in str(out), out

@pytest.mark.parametrize('i', range(10))
def test_musicxml_shared_truncated(tmp_path, i):
    src = SHARED / 'mozart_k265_var1.musicxml'
    if not src.is_file(): pytest.skip('../shared/data/partitura_examples is absent')
    data = src.read_bytes(); k = int(np.random.default_rng(200 + i).integers(1, len(data)))
    p = tmp_path / 'm.musicxml'; p.write_bytes(data[:k])
    _check_roll(_timed(lambda: score_to_roll(p))[0])

@pytest.mark.parametrize('bpm', [0, -60, math.nan, math.inf, 1e300, '120'])
def test_score_bad_bpm(tmp_path, bpm):
    p = tmp_path / 's.musicxml'; p.write_text(XML_GOOD)
    out = _timed(lambda: score_to_roll(p, bpm=bpm))[0]
    assert isinstance(out, BadInputError) and 'bpm' in str(out), out

# ---------------------------------------------------------------- YAML and config values

GOOD_CFG = CONFIG_DIR / 'cond_table/all/scg_classifier_all.yml'

def _bomb(levels, width=9):
    lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]']
    lines += [f'a{k}: &a{k} [' + ', '.join([f'*a{k - 1}'] * width) + ']' for k in range(1, levels)]
    return '\n'.join(lines) + '\n'

YAML_BOMBS = [('bomb9', _bomb(9)), ('bomb30', _bomb(30, 2)), ('merge', 'a: &a {x: 1}\nb: {<<: *a}\n'), ('alias_scalar', 'a: &a 1\nb: *a\n'),
              ('deep_list', '[' * 5000 + ']' * 5000), ('deep_map', 'a: {' * 3000 + '}' * 3000), ('big', 'x: ' + 'y' * (MAX_YAML_BYTES + 10)),
              ('python_tag', 'a: !!python/object/apply:os.system ["touch /tmp/pwned_scg"]'), ('binary', '\x00\x01\x02\xff'),
              ('tabs', 'a:\n\tb: 1'), ('list_top', '- 1\n- 2'), ('scalar_top', '42'), ('empty', ''), ('dup_keys', 'guidance: 1\nguidance: 2'),
              ('long_key', 'k' * 100_000 + ': 1'), ('long_value', 'guidance: ' + 'v' * 500_000)]

@pytest.mark.parametrize('kind,text', YAML_BOMBS, ids=[k for k, _ in YAML_BOMBS])
def test_yaml_bombs(tmp_path, kind, text):
    p = tmp_path / 'c.yml'; p.write_bytes(text.encode('utf-8', 'surrogateescape') if kind != 'binary' else b'\x00\x01\xff\xfe')
    out = _timed(lambda: load_config(p))[0]
    assert isinstance(out, BadInputError), out
    assert '\n' not in str(out) and len(str(out)) < 500 and str(p) in str(out), str(out)[:300]
    assert not Path('/tmp/pwned_scg').exists()

GOOD = yaml.safe_load(GOOD_CFG.read_text())
BAD_VALUES = [0, -1, math.nan, math.inf, -math.inf, 1e300, 10**12, 'x', True, None, [], {'a': 1}]
FIELDS = [('scg', 'num_samples'), ('guidance', 't_start'), ('guidance', 'interval'), ('guidance', 'step_size'), ('sampling', 'eta'),
          ('sampling', 't_end'), ('sampling', 'timestep_respacing'), ('scg', 'tiebreak'), ('scg', 'pitch_hist')]
CFG_CASES = [(f, v) for f in FIELDS for v in BAD_VALUES]

def _numbers(x):
    if isinstance(x, dict): return [n for v in x.values() for n in _numbers(v)]
    if isinstance(x, (list, tuple)): return [n for v in x for n in _numbers(v)]
    return [x] if isinstance(x, float) else []

@pytest.mark.parametrize('field,value', CFG_CASES, ids=[f'{a}.{b}={v!r}'[:40] for (a, b), v in CFG_CASES])
def test_config_values(field, value):
    d = copy.deepcopy(GOOD); d.setdefault(field[0], {})[field[1]] = value
    out = _timed(lambda: load_config(d))[0]
    if isinstance(out, Exception):
        assert isinstance(out, BadInputError) and f'{field[0]}.{field[1]}' in str(out) and len(str(out)) < 500, str(out)[:300]
    else: assert all(math.isfinite(n) for n in _numbers(out.to_dict())), out      # accepted only if in range and finite

TARGET_CASES = [('pitch_hist', [math.nan] + [0.1] * 11), ('pitch_hist', [math.inf] * 12), ('pitch_hist', [1e300] * 12), ('pitch_hist', [-1.0] * 12),
                ('pitch_hist', ['a'] * 12), ('pitch_hist', [0.1] * 10**4), ('pitch_hist', [[0.1]] * 12), ('vertical_nd', [math.nan] * 8),
                ('horizontal_nd', [-math.inf] * 8), ('chord_progression', [10**9] * 8), ('chord_progression', [-1] * 8), ('chord_progression', [1.5] * 8)]

@pytest.mark.parametrize('key,value', TARGET_CASES, ids=[f'{k}{i}' for i, (k, _) in enumerate(TARGET_CASES)])
def test_config_targets(key, value):
    d = copy.deepcopy(GOOD); d['target_rules'][key] = value
    out = _timed(lambda: load_config(d))[0]
    assert isinstance(out, BadInputError) and 'target_rules' in str(out) and len(str(out)) < 500, str(out)[:300]

@pytest.mark.parametrize('scales', [[math.nan] * 3, [math.inf, 1, 1], [1e300, 1, 1], ['x', 1, 1]])
def test_config_classifier_scales(scales):
    d = copy.deepcopy(GOOD); d['guidance']['cond_fn']['classifier_scales'] = scales
    out = _timed(lambda: load_config(d))[0]
    assert isinstance(out, BadInputError) and 'classifier_scales' in str(out), out

RUN_CASES = [dict(num_samples=v) for v in (0, -2, 10**9, math.nan, 2.5)] + [dict(batch_size=v) for v in (0, -1, 10**6, math.inf)] + \
            [dict(class_label=v) for v in (7, -1, 3, math.nan)] + [dict(seed=v) for v in (-5, 2**64, math.nan)] + [dict(steps=v) for v in (0, -3, 10**6)]

@pytest.mark.parametrize('kw', RUN_CASES, ids=[f'{k}={v}' for d in RUN_CASES for k, v in d.items()])
def test_generate_run_settings(tmp_path, kw):
    "The API checks its run settings before it touches the pipeline (None here) or makes the folder."
    out_dir = tmp_path / 'out'
    out = _timed(lambda: generate(None, load_config(GOOD_CFG), out_dir=out_dir, progress=False, **kw))[0]
    assert isinstance(out, BadInputError) and next(iter(kw)) in str(out), out
    assert not out_dir.exists()

# ---------------------------------------------------------------- the command line, in process

def _cli(capsys, argv):
    capsys.readouterr()
    rc, _ = _timed(lambda: cli.main(argv))
    err = capsys.readouterr().err
    return rc, err

def _assert_one_line(rc, err):
    assert rc == 2, (rc, err[-500:])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in err and lines[0].startswith('scg-music '), err[-800:]
    assert len(lines[0]) < 500

ROLL_ARGS = [['--bpm', '0'], ['--bpm', '-60'], ['--bpm', 'nan'], ['--bpm', 'inf'], ['--bpm', 'x'], ['--seconds', '-1'], ['--seconds', '0'],
             ['--seconds', 'nan'], ['--seconds', '1e12'], ['--sr', '0'], ['--sr', '-22050'], ['--sr', '1e9'], ['--sr', '10000000'], ['--bogus'],
             ['--out']]

@pytest.mark.parametrize('extra', ROLL_ARGS, ids=[' '.join(a) for a in ROLL_ARGS])
def test_cli_roll_bad_args(tmp_path, capsys, extra):
    p = tmp_path / 'ok.mid'; p.write_bytes(GOOD_MIDI); out = tmp_path / 'out'
    argv = ['roll', str(p), *extra] + ([] if extra == ['--out'] else ['--out', str(out), '--no-audio'])
    _assert_one_line(*_cli(capsys, argv))
    assert not out.exists()

ROLL_FILES = ([(f'trunc{i}', d, 'x.mid') for i, d in enumerate(_truncations(GOOD_MIDI, 12, np.random.default_rng(300)))]
              + [('empty', b'', 'x.mid'), ('random', bytes(range(256)), 'x.mid'), ('txt', b'hello', 'x.txt'), ('no_ext', GOOD_MIDI, 'x'),
                 ('xml_garbage', b'<score-partwise', 'x.musicxml'), ('mxl_garbage', b'PK\x03\x04junk', 'x.mxl'), ('smpte', _smf([(0, NOTE_ON), (480, NOTE_OFF)], div=-6360), 'x.mid'),
                 ('hour_note', _smf([(0, NOTE_ON), (2 * 480 * 7200, NOTE_OFF)]), 'x.mid'), ('missing', None, 'missing.mid'), ('dir', 'dir', 'd.mid')])

@pytest.mark.parametrize('kind,data,name', ROLL_FILES, ids=[k for k, _, _ in ROLL_FILES])
def test_cli_roll_bad_files(tmp_path, capsys, kind, data, name):
    p = tmp_path / name; out = tmp_path / 'out'
    if data == 'dir': p.mkdir()
    elif data is not None: p.write_bytes(data)
    rc, err = _cli(capsys, ['roll', str(p), '--out', str(out), '--no-audio'])
    if rc == 0: assert sorted(f.suffix for f in out.iterdir()) == ['.mid', '.npy', '.png']      # a readable prefix: the full set
    else: _assert_one_line(rc, err); assert not out.exists()

def test_cli_roll_out_is_a_file(tmp_path, capsys):
    p = tmp_path / 'ok.mid'; p.write_bytes(GOOD_MIDI)
    _assert_one_line(*_cli(capsys, ['roll', str(p), '--out', str(p), '--no-audio']))
    assert p.read_bytes() == GOOD_MIDI

GEN_ARGS = [['--num-samples', '0'], ['--num-samples', '-2'], ['--num-samples', '1000000000'], ['--batch-size', '0'], ['--batch-size', '-4'],
            ['--class-label', '7'], ['--class-label', '-1'], ['--class-label', 'jazz'], ['--seed', '-5'], ['--seed', '99999999999999999999'],
            ['--steps', '0'], ['--steps', '-3'], ['--steps', '100000'], ['--device', 'gpu7'], ['--device', 'cuda:99'], ['--device', ''],
            ['--scg-samples', '0'], ['--scg-samples', '-1'], ['--scg-samples', '100000'], ['--num-samples', 'x'], ['--x0-timestep', 'later'],
            ['--released-vae', 'a.ckpt'], ['--released-classifier', 'noequals', '--released-vae', 'a', '--released-dit', 'b'], ['--bogus-flag']]

@pytest.mark.parametrize('cmd', ['generate', 'edit'])
@pytest.mark.parametrize('extra', GEN_ARGS, ids=[' '.join(a)[:30] for a in GEN_ARGS])
def test_cli_generate_bad_args(tmp_path, capsys, cmd, extra):
    out = tmp_path / 'out'
    cfg = 'cond_table/all/scg_classifier_all' if cmd == 'generate' else 'edit/chord'
    _assert_one_line(*_cli(capsys, [cmd, '--config', cfg, '--out', str(out), *extra]))
    assert not out.exists()

@pytest.mark.parametrize('kind,text', YAML_BOMBS[:10], ids=[k for k, _ in YAML_BOMBS[:10]])
def test_cli_generate_bad_config_files(tmp_path, capsys, kind, text):
    p = tmp_path / 'c.yml'; p.write_bytes(text.encode('utf-8', 'surrogateescape')); out = tmp_path / 'out'
    _assert_one_line(*_cli(capsys, ['generate', '--config', str(p), '--out', str(out)]))
    assert not out.exists()

@pytest.mark.parametrize('name', ['../core.py', '../../../../../../etc/passwd_nope', 'no/such/config', '', '/'])
def test_cli_generate_config_names(tmp_path, capsys, name):
    out = tmp_path / 'out'
    _assert_one_line(*_cli(capsys, ['generate', '--config', name, '--out', str(out)]))
    assert not out.exists()

def _other_cli(tmp):
    "Bad arguments for the other commands (each must fail before a model loads); `{T}` is the case's folder."
    score = '{T}/s.musicxml'
    r = ['render', score, '--out', '{T}/out/r.mid']
    return [['rules', '--bogus'], ['evaluate', '--bogus'], ['build-corpus', '--bogus'], ['train', '--bogus'], ['demo', '--bogus'],
            ['render', '--bogus'], ['render', score], ['train', 'vae'], ['train', 'vae', '--config', 'no_such_config'],
            ['train', 'vae', '--config', '{T}/bomb.yml'], ['train', 'vae', '--config', '{T}/bad.json'], ['train', 'jazz', '--config', 'vae_tiny'],
            ['rules', '--measure', '{T}/bad.mid'], ['rules', '--measure', '{T}/missing.mid'], ['rules', '--measure', '{T}'],
            ['rules', '--measure', '{T}/hour.mid'], ['evaluate', '--num-runs', 'x', '{T}'], ['build-corpus', '--hop', 'x'],
            r + ['--w', 'nan'], r + ['--w', 'inf'], r + ['--w', '1e300'], r + ['--steps', '0'], r + ['--steps', '-3'], r + ['--seed', '-1'],
            r + ['--bpm', '0'], r + ['--bpm', 'nan'], r + ['--bpm', '-60'], r + ['--device', 'gpu7'], r + ['--strength', '2'],
            r + ['--strength', '0'], r + ['--perceptual'] + ['nan'] * 7, r + ['--perceptual', '1'],
            ['demo', '--class-label', '7', '--out', '{T}/out'], ['demo', '--seed', '-1', '--out', '{T}/out'], ['demo', '--steps', '0', '--out', '{T}/out'],
            ['train', 'vae', '--config', 'vae_tiny', '--steps', '0', '--out', '{T}/out'], ['train', 'vae', '--config', 'vae_tiny', '--batch-size', '-1', '--out', '{T}/out'],
            ['train', 'vae', '--config', 'vae_tiny', '--device', 'gpu7', '--out', '{T}/out'], ['train', 'latents', '--reps', '0', '--out', '{T}/out']]

OTHER_CLI = _other_cli(None)

@pytest.mark.parametrize('argv', OTHER_CLI, ids=[' '.join(a).replace('{T}/', '')[:40] for a in OTHER_CLI])
def test_cli_other_commands(tmp_path, capsys, argv):
    (tmp_path / 's.musicxml').write_text(XML_GOOD); (tmp_path / 'bad.mid').write_bytes(GOOD_MIDI[:40])
    (tmp_path / 'hour.mid').write_bytes(_smf([(0, NOTE_ON), (2 * 480 * 7200, NOTE_OFF)]))
    (tmp_path / 'bomb.yml').write_text(_bomb(9)); (tmp_path / 'bad.json').write_text('{"job": ')
    argv = [a.replace('{T}', str(tmp_path)) for a in argv]
    _assert_one_line(*_cli(capsys, argv))
    assert not (tmp_path / 'out').exists()
