"""encode -> decode on every Vienna 4x22 match file (and the partitura examples): onset, duration, velocity errors.

    python benchmarks/dexter_codec_roundtrip.py
"""
import glob, time, warnings
from pathlib import Path
import numpy as np
import partitura as pt
from scg_music.dexter.codec import load_score, roundtrip_errors
from scg_music.dexter.data import find_shared_data

if __name__ == '__main__':
    warnings.simplefilter('ignore')
    d = find_shared_data() / 'vienna4x22'
    t0, rows, parts = time.time(), [], {}
    for f in sorted((d / 'match').glob('*.match')):
        stem = f.stem.rsplit('_', 1)[0]
        if stem not in parts: parts[stem] = load_score(d / 'musicxml' / f'{stem}.musicxml')
        perf, al = pt.load_match(str(f))
        rows.append(dict(file=f.name, **roundtrip_errors(parts[stem], perf, al)))
    keys = ['onset_mae', 'onset_max', 'dur_mae', 'dur_max', 'vel_mae', 'vel_max']
    print(f'{len(rows)} Vienna 4x22 performances, {sum(r["n"] for r in rows)} matched notes, '
          f'{sum(r["deleted"] for r in rows)} deleted notes (kept as masked rows)')
    print('| error | mean over files | median over files | worst file |\n|---|---|---|---|')
    for k in keys:
        v = np.array([r[k] for r in rows]); unit = 'MIDI' if k.startswith('vel') else 's'
        print(f'| {k} ({unit}) | {v.mean():.4g} | {np.median(v):.4g} | {v.max():.4g} ({rows[int(v.argmax())]["file"]}) |')
    print(f'wall {time.time() - t0:.0f} s')
