"""Throughput of every registered rule (rolls/s) at batch 64 on real 10.24 s windows, on CPU and on CUDA when
available, plus the music21 reference path for chords (one MIDI parse per roll) for comparison.

    python benchmarks/rules_speed.py [--batch 64] [--repeats 3] [--oracle 8] [--threads N]
"""
import argparse, random, time
from pathlib import Path
import numpy as np
import torch

from scg_music import rules as R
from scg_music import pianoroll as pr
from scg_music.data import find_shared


def real_windows(n, seed=0):
    "n random 1024-frame windows of POP909 and ASAP performances (random rolls if ../shared is absent)."
    sh = find_shared()
    if sh is None:
        g = torch.Generator().manual_seed(seed)
        x = -torch.ones(n, 3, 128, 1024)
        m = torch.rand(n, 128, 1024, generator=g) < 0.03
        x[:, 0][m] = 0.3
        return x
    rng = random.Random(seed)
    files = sorted((sh / 'data' / 'pop909').glob('*.mid'))[:200] + \
        sorted(p for p in (sh / 'data' / 'asap').rglob('*.mid') if p.name != 'midi_score.mid')[:200]
    out = []
    for f in rng.sample(files, len(files)):
        r = pr.midi_to_roll(f)
        if r.shape[-1] < 1100: continue
        s = rng.randrange(0, r.shape[-1] - 1024)
        out.append(r[:, :, s:s + 1024])
        if len(out) == n: break
    return torch.from_numpy(np.stack(out))


def bench(fn, x, repeats, sync):
    fn(x); sync()                                   # warm-up
    ts = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(x); sync(); ts.append(time.perf_counter() - t)
    return len(x) / min(ts)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--oracle', type=int, default=8, help='rolls for the music21 reference timing (0: skip)')
    ap.add_argument('--threads', type=int, default=None)
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    x = real_windows(a.batch)
    devs = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    print(f'batch {len(x)} x {tuple(x.shape[1:])}, torch {torch.__version__}, threads {torch.get_num_threads()}')
    print(f"{'rule':22s}" + ''.join(f'{d + " rolls/s":>16s}' for d in devs))
    for name, fn in R.RULES.items():
        row = []
        for d in devs:
            xd = x.to(d)
            sync = torch.cuda.synchronize if d == 'cuda' else (lambda: None)
            row.append(bench(fn, xd, a.repeats, sync))
        print(f'{name:22s}' + ''.join(f'{v:16.1f}' for v in row))
    if a.oracle:
        t = time.perf_counter(); R.chord_progression_music21(x[:a.oracle]); dt = time.perf_counter() - t
        print(f"{'chord (music21 ref.)':22s}{a.oracle / dt:16.2f}   (one MIDI + music21 parse per roll)")


if __name__ == '__main__':
    main()
