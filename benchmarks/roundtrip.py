"""Note-level round-trip fidelity of `roll_to_midi(midi_to_roll(m))` over every ASAP performance MIDI.

    .venv/bin/python benchmarks/roundtrip.py [--workers 2] [--limit N] [--merge max|last] [--json out.json]
    .venv/bin/python benchmarks/roundtrip.py --glob 'data/pop909/*.mid'     # any files under ../shared

A note survives when pitch, onset and offset (each within 10 ms) and velocity come back exactly; every lost
note is classified (see `scg_music.pianoroll.roundtrip_stats`). Target: >= 99 % of notes survive.
"""
import argparse, json, os, sys, time
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault('OMP_NUM_THREADS', '1')
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tqdm import tqdm
from scg_music.data import find_shared
from scg_music.pianoroll import roundtrip_stats, BadInputError

def _one(args):
    f, merge, threshold = args
    try: return f, roundtrip_stats(f, merge=merge, threshold=threshold)
    except BadInputError as e: return f, {'error': str(e)}

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--workers', type=int, default=2); ap.add_argument('--limit', type=int, default=None)
    ap.add_argument('--merge', default='max'); ap.add_argument('--threshold', type=float, default=-0.95)
    ap.add_argument('--json', default=None)
    ap.add_argument('--glob', default=None, help='files relative to ../shared (default: ASAP performances)')
    a = ap.parse_args(argv)
    shared = find_shared()
    if shared is None: sys.exit('../shared not found (set SCG_SHARED)')
    if a.glob: files = sorted(str(p) for p in shared.glob(a.glob))
    else: files = sorted(str(p) for p in (shared / 'data/asap').rglob('*.mid') if p.name != 'midi_score.mid')
    what = a.glob or 'ASAP performances'
    if a.limit: files = files[:a.limit]
    t0 = time.time()
    with Pool(a.workers) as pool:
        res = list(tqdm(pool.imap_unordered(_one, [(f, a.merge, a.threshold) for f in files], chunksize=4),
                        total=len(files), desc='round trip'))
    tot, errors = {}, []
    for f, r in res:
        if 'error' in r: errors.append((f, r['error'])); continue
        for k, v in r.items(): tot[k] = tot.get(k, 0) + v
    frac = tot['kept'] / tot['notes']
    lost = {k: v for k, v in tot.items() if k not in ('notes', 'kept', 'decoded')}
    out = dict(files=len(files), unreadable=errors, notes=tot['notes'], kept=tot['kept'], fraction=frac,
               lost_by_class=lost, merge=a.merge, threshold=a.threshold, seconds=round(time.time() - t0, 1))
    print(json.dumps(out, indent=1))
    print(f"round trip: {tot['kept']}/{tot['notes']} notes survive = {100 * frac:.3f} % over {len(files)} files ({what})"
          f" ({'PASS' if frac >= 0.99 else 'FAIL'} vs 99 % target)")
    if a.json: Path(a.json).write_text(json.dumps(out, indent=1))
    return out

if __name__ == '__main__': main()
