"""Tempo level on ASAP: the model's own level vs the score's metronome marking, against human performances.

    python benchmarks/dexter_tempo_level.py --model runs/dexter_small/ema.safetensors --pieces 10

For ASAP scores that carry a metronome marking (partitura `Tempo`), in simple meters (ASAP's beat annotations
then count the same beat as partitura's notated beat; checked: the score MIDI's annotations have as many beats
as the unfolded score within 15%): the median tempo (notated beats per minute) of
- each human performance, from its beat annotations (60 / median inter-beat interval),
- the DExter rendering at the model's own level (`bpm='model'`, one seed),
- the rendering anchored at the marking (`bpm='score'`: its median tempo is the marking by construction),
and the absolute level error of both against the median human. Writes a markdown table beside the model."""
import argparse, glob, time, warnings
from pathlib import Path
import numpy as np
import partitura as pt
from scg_music.dexter.codec import load_score
from scg_music.dexter.render import render_codec, render_notes, score_tempo, codec_curves
from scg_music.data import find_shared

def human_bpm(piece_dir):
    out = []
    for f in sorted(Path(piece_dir).glob('*_annotations.txt')):
        if f.name.startswith('midi_score'): continue
        t = np.array([float(l.split()[0]) for l in open(f) if l.strip()])
        if len(t) > 8: out.append(60 / np.median(np.diff(t)))
    return out

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='runs/dexter_small/ema.safetensors')
    ap.add_argument('--pieces', type=int, default=10)
    ap.add_argument('--max-notes', type=int, default=2500)
    ap.add_argument('--steps', type=int, default=20)
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    t0 = time.time(); rows = []
    for f in sorted(glob.glob(str(find_shared() / 'data' / 'asap' / '**' / 'xml_score.mxl'), recursive=True)):
        if len(rows) >= a.pieces: break
        try: part = load_score(f, unfold=True)
        except ValueError: continue
        ts = list(part.iter_all(pt.score.TimeSignature))
        if not ts or any(s.beats % 3 == 0 and s.beats > 3 for s in ts): continue    # compound meters: beats differ
        na = render_notes(part)
        if len(na) > a.max_notes: continue
        sa = Path(f).parent / 'midi_score_annotations.txt'        # same beat unit: as many beats as the score
        n_ann = sum(1 for l in open(sa) if l.strip()) if sa.exists() else 0
        span = float(na['onset_beat'].max() - na['onset_beat'].min())
        if not 0.85 < n_ann / max(span, 1) < 1.15: continue
        mark = score_tempo(part, na)
        hum = human_bpm(Path(f).parent)
        if mark is None or not hum: continue
        r = render_codec(part, a.model, steps=a.steps, unfold=False, bpm='model')
        own = float(np.median(codec_curves(r['na']['onset_beat'], r['p'])[1]))
        h = float(np.median(hum)); m = float(np.median(mark))
        name = str(Path(f).parent.relative_to(find_shared() / 'data' / 'asap'))
        rows.append((name, len(na), len(hum), h, own, m, abs(own - h), abs(m - h)))
        print(rows[-1], flush=True)
    md = ['| piece | notes | humans | human bpm | model-level bpm | marking bpm | model error | marking error |',
          '|---|---|---|---|---|---|---|---|']
    md += [f'| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} | {r[6]:.1f} | {r[7]:.1f} |' for r in rows]
    e = np.array([r[6:] for r in rows])
    md += [f'| **mean ({len(rows)} pieces)** | | | | | | **{e[:, 0].mean():.1f}** | **{e[:, 1].mean():.1f}** |']
    md = '\n'.join(md); print(md); print(f'wall {time.time() - t0:.0f} s')
    (Path(a.model).parent / 'tempo_level_asap.md').write_text(md + '\n')
