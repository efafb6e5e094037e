"""Issue 15's evaluation: a DExter model on every held-out piece of its training run, beside deadpan and the humans.

    python benchmarks/dexter_heldout_all.py --model runs/dexter_pilot_small/ema.safetensors --seeds 0 1

The held-out pieces are the model's own (`train_cfg.holdout` in its json), so no piece it trained on is scored.
Per piece: tempo and velocity curve correlation and MAE of the rendering (its own tempo level, `bpm=None`) against
every human performance, the same for deadpan and for the humans against each other; the median rendered tempo (the
score's marking where it has one, else the model's level: `render`'s default)
against the humans' median; the velocity spread. Summary lines check the issue's bars. Writes
`benchmarks/dexter_heldout_all.{md,json}` (`--out`)."""
import argparse, json, time
from pathlib import Path
import numpy as np
from scg_music.dexter.data import load_dataset, entry_part
from scg_music.dexter.evaluate import curve_table, deadpan_codec, human_median_bpm
from scg_music.dexter.render import render_codec, codec_curves
from scg_music.dexter.codec import load_score

def piece_rows(entry, model, seeds, steps, w, bpm='score'):
    part = entry_part(entry)
    t0 = time.time()
    rs = [render_codec(part, model, w=w, seed=s, steps=steps, unfold=False, ids=entry['ids'], bpm=bpm) for s in seeds]
    dex = [r['p'] for r in rs]
    sec = (time.time() - t0) / len(seeds)
    rows = {r['system']: r for r in curve_table(entry, {'DExter': dex, 'deadpan': [deadpan_codec(entry)]})}
    on = entry['s'][:, 0]
    bpm = float(np.median([np.median(codec_curves(on, p)[1]) for p in dex]))
    vel = np.concatenate([p[:, 1] for p in dex]) * 127               # per note, MIDI velocity
    return dict(piece=entry['name'], notes=len(entry['ids']), humans=len(entry['P']), render_s=round(sec, 1), bpm_source=rs[0]['bpm_source'],
                dexter=rows['DExter'], deadpan=rows['deadpan'], human=rows['average human'],
                bpm=bpm, human_bpm=human_median_bpm(entry), vel_p5_p95=[float(np.percentile(vel, 5)), float(np.percentile(vel, 95))],
                vel_at_127=float((vel >= 126.5).mean()))

def summary(res):
    vd, vh = np.mean([r['dexter']['vel_cor'] for r in res]), np.mean([r['human']['vel_cor'] for r in res])
    agree = [r for r in res if r['human']['tempo_cor'] > 0.2]
    td = np.mean([r['dexter']['tempo_cor'] for r in agree]) if agree else float('nan')
    th = np.mean([r['human']['tempo_cor'] for r in agree]) if agree else float('nan')
    beats = sum(r['dexter']['vel_cor'] > r['deadpan']['vel_cor'] and r['dexter']['vel_mae'] < r['deadpan']['vel_mae'] for r in res)
    marked = [r for r in res if r['bpm_source'] == 'score marking']
    within = sum(abs(r['bpm'] / r['human_bpm'] - 1) <= 0.25 for r in marked)
    within_all = sum(abs(r['bpm'] / r['human_bpm'] - 1) <= 0.25 for r in res)
    beats_cor = sum(r['dexter']['vel_cor'] > r['deadpan']['vel_cor'] for r in res)
    return [f'- velocity correlation with the humans: DExter {vd:.3f}, human vs human {vh:.3f} (ratio {vd / vh:.2f}); bars >= 0.5 and >= 0.6x',
            f'- tempo correlation on the {len(agree)} pieces where humans agree (> 0.2): DExter {td:.3f}, human vs human {th:.3f} '
            f'(ratio {td / th:.2f}); bar >= 0.5x',
            f'- beats deadpan on velocity: higher correlation on {beats_cor} of {len(res)} pieces, higher correlation and lower MAE on {beats}',
            f'- median tempo within 25 % of the humans\' median: {within} of the {len(marked)} pieces with a tempo marking '
            f'(bar: all), {within_all} of all {len(res)} (the others at the model\'s own level)',
            f'- velocities at 127: {np.mean([r["vel_at_127"] for r in res]):.1%} of notes on average']

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--data', default='cache/dexter/shared')
    ap.add_argument('--seeds', type=int, nargs='*', default=[0, 1])
    ap.add_argument('--steps', type=int, default=50)
    ap.add_argument('--w', type=float, default=1.2)
    ap.add_argument('--out', default='benchmarks/dexter_heldout_all', help='writes OUT.md and OUT.json')
    ap.add_argument('--bpm', default='score', help="tempo level: 'score' (marking, else the model's), 'model'")
    a = ap.parse_args()
    cfg = json.loads(Path(a.model).with_suffix('.json').read_text())
    held = cfg['train_cfg']['holdout']
    res = []
    for e in load_dataset(a.data, held):
        if len(e['P']) < 2:                       # no human-vs-human value (the ASAP copy of the held-out Vienna op. 10/3)
            print(f"{e['name']}: skipped, {len(e['P'])} human performance"); continue
        res.append(piece_rows(e, a.model, a.seeds, a.steps, a.w, a.bpm)); r = res[-1]
        print(f"{r['piece']}: vel {r['dexter']['vel_cor']:.3f} (human {r['human']['vel_cor']:.3f}), tempo "
              f"{r['dexter']['tempo_cor']:.3f} (human {r['human']['tempo_cor']:.3f}), {r['bpm']:.0f} vs {r['human_bpm']:.0f} bpm, "
              f"{r['render_s']} s", flush=True)
    f = lambda x: f'{x:.3f}'
    lines = [f'Held-out pieces of {a.model} (step {cfg.get("train_step")}), seeds {a.seeds}, {a.steps} steps, w={a.w}', '',
             '| piece | notes | humans | vel. corr. DExter | deadpan | human | tempo corr. DExter | deadpan | human | vel. MAE DExter | deadpan | bpm DExter | bpm humans | tempo from | render s |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in res:
        d, p, h = r['dexter'], r['deadpan'], r['human']
        lines.append(f"| {r['piece']} | {r['notes']} | {r['humans']} | {f(d['vel_cor'])} | {f(p['vel_cor'])} | {f(h['vel_cor'])} | "
                     f"{f(d['tempo_cor'])} | {f(p['tempo_cor'])} | {f(h['tempo_cor'])} | {d['vel_mae']:.1f} | {p['vel_mae']:.1f} | "
                     f"{r['bpm']:.0f} | {r['human_bpm']:.0f} | {r['bpm_source']} | {r['render_s']} |")
    lines += [''] + summary(res)
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.md').write_text('\n'.join(lines) + '\n'); out.with_suffix('.json').write_text(json.dumps(res, indent=1))
    print('\n'.join(lines))
