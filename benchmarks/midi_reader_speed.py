"""Time the fast MIDI reader (`scg_music.pianoroll.read_midi_events`) against pretty_midi on the shared corpora.

    .venv/bin/python benchmarks/midi_reader_speed.py [--limit N] [--glob 'data/asap/**/*.mid']

Both readers parse the same files (every MIDI file under ../shared/data by default); the script checks that they
give identical notes and pedal events and prints the wall-clock seconds of each and the speed-up. Run it on an
otherwise idle machine: the numbers are wall-clock times.
"""
import argparse, sys, time, warnings
from pathlib import Path

import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pretty_midi
from scg_music.data import find_shared
from scg_music.pianoroll import read_midi_events, _notes_array, _pedal_events, _Unusual

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--glob', default='data/**/*.mid', help='files relative to ../shared')
    ap.add_argument('--limit', type=int, default=None)
    a = ap.parse_args(argv)
    shared = find_shared()
    if shared is None: sys.exit('../shared not found (set SCG_SHARED)')
    files = sorted(shared.glob(a.glob))[:a.limit]
    datas = [f.read_bytes() for f in files]
    t0 = time.perf_counter(); fast = []
    for d in datas:
        try: fast.append(read_midi_events(d))
        except _Unusual: fast.append(None)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter(); slow = []
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for f in files:
            try: pm = pretty_midi.PrettyMIDI(str(f)); slow.append((_notes_array(pm), *_pedal_events(pm)))
            except Exception: slow.append(None)
    t_slow = time.perf_counter() - t0
    declined = sum(x is None for x in fast)
    differ = [str(f) for f, x, y in zip(files, fast, slow) if x is not None and y is not None and not (
        np.array_equal(x[0][np.lexsort(x[0].T[::-1])], y[0][np.lexsort(y[0].T[::-1])]) and np.array_equal(x[1], y[1]) and np.array_equal(x[2], y[2]))]
    print(f'{len(files)} files, {declined} declined by the fast reader (pretty_midi reads those)')
    print(f'fast reader {t_fast:.1f} s, pretty_midi {t_slow:.1f} s, speed-up {t_slow / max(t_fast, 1e-9):.1f}x')
    print(f'files whose notes or pedal differ: {len(differ)}' + (f' (first: {differ[0]})' if differ else ''))
    return 1 if differ else 0

if __name__ == '__main__': sys.exit(main())
