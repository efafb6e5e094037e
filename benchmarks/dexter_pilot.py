"""Pick the DExter model size by measurement: quality per CPU-hour on the held-out pieces.

    python benchmarks/dexter_pilot.py --models tiny small base --minutes 18 --val-every 100   # runs the pilots
    python benchmarks/dexter_pilot.py --models tiny small base --report                       # table only

Each pilot is `scg-music dexter-train` on the shared dataset (`cache/dexter/shared`, held-out pieces from
`dexter.data.heldout_split`) in its own process (`runs/dexter_pilot_<model>`), so the `cpu_s` its log records is that
model's CPU time alone, whatever else runs on the machine. The probe is the EMA model's mean tempo and velocity curve
correlation with the human mean on the held-out windows (`dexter.train.validate`). The report compares the models at
equal CPU time (the largest CPU time all pilots reached) and writes `benchmarks/dexter_pilot.{md,json}`."""
import argparse, json, os, subprocess, sys
from pathlib import Path
import numpy as np

def _rows(out):
    p = Path(out) / 'log.jsonl'
    return [json.loads(l) for l in p.read_text().splitlines() if l.strip()] if p.exists() else []

def _at(rows, key, cpu):
    "The probe value `key` at CPU time `cpu` (linear between probes; None before the first)."
    pr = [(r['cpu_s'], r[key]) for r in rows if key in r and 'cpu_s' in r]
    if not pr or cpu < pr[0][0]: return None
    x, y = zip(*pr)
    return float(np.interp(cpu, x, y))

def report(models, root='runs'):
    import torch
    from scg_music.dexter.model import build_model
    runs = {m: _rows(f'{root}/dexter_pilot_{m}') for m in models}
    last = {m: max([r['cpu_s'] for r in rs if 'vel_cor' in r and 'cpu_s' in r] or [0]) for m, rs in runs.items()}
    cpu = min(last.values())
    res = []
    for m, rs in runs.items():
        loss = [r for r in rs if 'loss' in r]
        res.append(dict(model=m, params_M=round(sum(p.numel() for p in build_model(m).parameters()) / 1e6, 2),
                        steps=loss[-1]['step'] if loss else 0, cpu_s=last[m],
                        cpu_s_per_step=round(loss[-1]['cpu_s'] / max(loss[-1]['step'], 1), 3) if loss and 'cpu_s' in loss[-1] else None,
                        last_loss=round(float(np.mean([r['loss'] for r in loss[-5:]])), 4) if loss else None,
                        vel_cor_at_equal_cpu=_at(rs, 'vel_cor', cpu), tempo_cor_at_equal_cpu=_at(rs, 'tempo_cor', cpu),
                        vel_cor_last=next((r['vel_cor'] for r in rs[::-1] if 'vel_cor' in r), None),
                        tempo_cor_last=next((r['tempo_cor'] for r in rs[::-1] if 'tempo_cor' in r), None)))
    f = lambda v: '-' if v is None else f'{v:.3f}'
    lines = [f'DExter pilots on the shared dataset, compared at {cpu / 60:.1f} CPU-minutes each (this machine: 2-core EPYC, AVX2).', '',
             '| model | params (M) | steps | CPU s/step | loss (last 5 logs) | velocity corr. | tempo corr. | velocity corr. (last) | tempo corr. (last) |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in res:
        lines.append(f"| {r['model']} | {r['params_M']} | {r['steps']} | {r['cpu_s_per_step']} | {r['last_loss']} | "
                     f"{f(r['vel_cor_at_equal_cpu'])} | {f(r['tempo_cor_at_equal_cpu'])} | {f(r['vel_cor_last'])} | {f(r['tempo_cor_last'])} |")
    Path('benchmarks/dexter_pilot.md').write_text('\n'.join(lines) + '\n')
    Path('benchmarks/dexter_pilot.json').write_text(json.dumps(dict(equal_cpu_s=cpu, runs=res), indent=1))
    print('\n'.join(lines))

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', nargs='*', default=['tiny', 'small', 'base'])
    ap.add_argument('--minutes', type=float, default=18)
    ap.add_argument('--val-every', type=int, default=100)
    ap.add_argument('--data', default='cache/dexter/shared')
    ap.add_argument('--report', action='store_true', help='only write the table from the pilots already run')
    a = ap.parse_args()
    if not a.report:
        env = dict(os.environ, OMP_NUM_THREADS='1')
        procs = [subprocess.Popen([sys.executable, '-c', 'import sys; from scg_music.cli import main; sys.exit(main(sys.argv[1:]))', 'dexter-train', '--data', a.data, '--model', m,
                                   '--out', f'runs/dexter_pilot_{m}', '--minutes', str(a.minutes), '--steps', '1000000',
                                   '--val-every', str(a.val_every), '--ckpt-every', str(a.val_every)], env=env,
                                  stdout=open(f'runs/dexter_pilot_{m}.log', 'w'), stderr=subprocess.STDOUT) for m in a.models]
        for p in procs: p.wait()
    report(a.models)
