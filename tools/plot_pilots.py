"""Pilot curves for the model card: OA (mean of the 7 features, per class) and training loss against CPU-minutes
(steps x the idle-machine step time of benchmarks/train_speed.py --dit-shapes), from the pilot runs' logs.

    python tools/plot_pilots.py --runs runs/pilots --speeds runs/train_speed_dit.json --out nbs/model_card/pilots.png
"""
import argparse, json
from pathlib import Path
import numpy as np
from matplotlib.figure import Figure

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--runs', default='runs/pilots'); ap.add_argument('--speeds', default='runs/train_speed_dit.json')
    ap.add_argument('--out', default='nbs/model_card/pilots.png'); ap.add_argument('--logs', default='nbs/model_card/logs')
    a = ap.parse_args(argv)
    speeds = json.loads(Path(a.speeds).read_text())
    fig = Figure(figsize=(13, 3.6)); axs = fig.subplots(1, 4)
    for run in sorted(Path(a.runs).iterdir()):
        rows = [json.loads(l) for l in (run / 'log.jsonl').read_text().splitlines() if l.strip()]
        cfg = json.loads((run / 'ema.json').read_text())
        sps = speeds[f"{cfg['name']} bf16"]['s_per_step'] / 60
        loss = [(r['step'] * sps, r['loss']) for r in rows if 'loss' in r]
        probes = [r for r in rows if 'oa_mean' in r]
        x = np.array([p['step'] * sps for p in probes])
        lab = f"{cfg['name']} ({cfg['hidden_size']}w, patch {cfg['patch_size']})"
        k = np.convolve([l for _, l in loss], np.ones(10) / 10, mode='valid')
        axs[0].plot([s for s, _ in loss][9:], k, label=lab)
        for c in range(3): axs[c + 1].plot(x, [p[f'oa_{c}'] for p in probes], 'o-', label=lab)
        (Path(a.logs) / f'{run.name}.jsonl').write_text((run / 'log.jsonl').read_text())
    names = ['classical performance', 'sheet music', 'pop']
    axs[0].set_title('eps loss (10-row mean)'); axs[0].set_xlabel('CPU-minutes (2 threads)'); axs[0].set_yscale('log')
    for c in range(3):
        axs[c + 1].set_title(f'OA vs test windows: {names[c]}', fontsize=9); axs[c + 1].set_xlabel('CPU-minutes (2 threads)')
    axs[1].legend(fontsize=7); fig.tight_layout(); fig.savefig(a.out, dpi=90)
    print('wrote', a.out)

if __name__ == '__main__': main()
