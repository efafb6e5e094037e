"""Release tooling for the bundled SCG generator: DiT runs from the block latent cache with an OA probe in the log,
short pilots that compare model shapes by OA per CPU-hour, and snapshots of a run into the repository.

    python tools/train_bundled.py pilot --configs pilot_dit_T8,pilot_dit_T16,pilot_dit_SM16 --minutes 25
    python tools/train_bundled.py run --config full_dit --out runs/full_dit        # resumes; nice it
    python tools/train_bundled.py snapshot --run runs/full_dit --name full_dit    # EMA weights + log into the repo

The probe (every `train.probe_every` steps, on the EMA weights): `--probe-per-class` unguided DDIM-`--probe-steps`
samples per class, decoded by the cache's VAE, against 32 test-split windows per class
(`model_card.measure_unguided`); logged as `oa_<class>`, `oa_ceiling_<class>`, `notes_<class>`, `oa_mean`.
A snapshot copies `runs/<run>/ema.{safetensors,json}` to `nbs/model_card/runs/<name>/` and the log to
`nbs/model_card/logs/<name>.jsonl`; the run's config names them under `train.resume_from`, so a fresh clone
continues the run with `run --config ...` (AdamW re-warms; see nbs/05_train).
"""
import argparse, copy, json, os, shutil, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CARD = ROOT / 'nbs' / 'model_card'

def oa_probe(vae_path, scale, cache_dir='cache/corpus', n_per_class=8, steps=20):
    "A `probe(step, model) -> dict` for train_loop: unguided OA per class of the EMA DiT (see the module doc)."
    import numpy as np, torch
    from scg_music.checkpoints import load_model
    from scg_music.pipeline import RuleGuidedPipeline
    from model_card import measure_unguided           # tools/model_card.py (tools/ is sys.path[0] when run as a script)
    vae = load_model(vae_path); vae.scale_factor = float(scale)
    def probe(step, model):
        t0, threads = time.time(), torch.get_num_threads()
        pipe = RuleGuidedPipeline(vae, copy.deepcopy(model).float(), device='cpu')
        r = measure_unguided(pipe, cache_dir, n_per_class=n_per_class, n_ref=32, steps=steps, seed=0, num_runs=5)
        torch.set_num_threads(threads)
        row = {}
        for c, v in r.items():
            row[f'oa_{c}'], row[f'oa_ceiling_{c}'] = round(v['oa']['avg'], 4), round(v['oa_test_vs_test']['avg'], 4)
            row[f'oa_features_{c}'] = {k: round(x, 3) for k, x in v['oa'].items() if k != 'avg'}
            row[f'notes_{c}'], row[f'notes_ref_{c}'] = v['notes_per_sample'], v['notes_per_reference']
        for c, v in r.items(): row[f"onset_frac_{c}"], row[f"vel_p10_p90_{c}"] = round(v["onset_fraction"], 3), v["velocity_p10_p90"]
        row["oa_mean"] = round(float(np.mean([v['oa']['avg'] for v in r.values()])), 4)
        row['probe_s'] = round(time.time() - t0, 1)
        print(f'probe step {step}:', row, flush=True)
        return row
    return probe

def _run(cfg_name, out, probe_every=None, steps=None, probe_per_class=8, probe_steps=20, progress=True):
    from scg_music.train import load_config, train_dit, load_latent_cache
    cfg = load_config(cfg_name)
    if probe_every: cfg['train']['probe_every'] = int(probe_every)
    if steps: cfg['train']['steps'] = int(steps)
    cache = load_latent_cache(cfg['latents']['cache'])
    probe = oa_probe(cache['meta']['vae'], cache['scale_factor'], cache['meta']['cache_dir'], probe_per_class, probe_steps)
    del cache
    return train_dit(cfg, out, resume=True, progress=progress, probe=probe)

def snapshot(run, name):
    "Copy a run's EMA export and log into the repository (what a later session resumes from)."
    run, dst = Path(run), CARD / 'runs' / name
    dst.mkdir(parents=True, exist_ok=True)
    for ext in ('safetensors', 'json'):
        tmp = dst / f'.ema.{ext}.tmp'; shutil.copyfile(run / f'ema.{ext}', tmp); os.replace(tmp, dst / f'ema.{ext}')
    (CARD / 'logs').mkdir(parents=True, exist_ok=True)
    tmp = CARD / 'logs' / f'.{name}.jsonl.tmp'; shutil.copyfile(run / 'log.jsonl', tmp); os.replace(tmp, CARD / 'logs' / f'{name}.jsonl')
    size = (dst / 'ema.safetensors').stat().st_size
    if size > 20 * 2**20: raise SystemExit(f'{dst}/ema.safetensors is {size / 2**20:.1f} MB (> 20 MB): do not commit it')
    return dict(weights=str(dst / 'ema'), log=str(CARD / 'logs' / f'{name}.jsonl'), mb=round(size / 2**20, 2))

def pilot(configs, minutes, out_root='runs/pilots', speeds=None):
    """Train each config for about `minutes` of wall time (steps from its measured step time) with a probe at the
    middle and the end; returns and writes `nbs/model_card/pilots.json`: OA per class, notes, and CPU-hours."""
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    from train_speed import dit_shapes                                               # benchmarks/train_speed.py
    from scg_music.train import load_config, LossLog
    table = {}
    for name in configs:
        cfg = load_config(name)
        sps = speeds or dit_shapes([cfg['model']['name']], 3, batch=int(cfg['train']['batch_size']))
        s_per_step = sps[f"{cfg['model']['name']} bf16"]['s_per_step']     # the same CPU budget for every shape
        steps = max(20, int(minutes * 60 / s_per_step) // 20 * 20)
        t0 = time.time()
        r = _run(name, Path(out_root) / name, probe_every=steps // 2, steps=steps, progress=False)
        rows = [x for x in LossLog(Path(out_root) / name / 'log.jsonl').read() if 'oa_mean' in x]
        table[name] = dict(model=cfg['model']['name'], steps=steps, s_per_step_bench=s_per_step,
                           wall_min=round((time.time() - t0) / 60, 1), probes=rows)
        print(name, json.dumps(table[name]), flush=True)
        tmp = CARD / '.pilots.json.tmp'; tmp.write_text(json.dumps(table, indent=1)); os.replace(tmp, CARD / 'pilots.json')
    return table

def main(argv=None):
    ap = argparse.ArgumentParser(prog='train_bundled')
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('run'); p.add_argument('--config', required=True); p.add_argument('--out', required=True)
    p.add_argument('--probe-every', type=int, default=None); p.add_argument('--steps', type=int, default=None)
    p.add_argument('--probe-per-class', type=int, default=16, help='unguided samples per class in each OA probe')
    s = sub.add_parser('snapshot'); s.add_argument('--run', required=True); s.add_argument('--name', required=True)
    q = sub.add_parser('pilot'); q.add_argument('--configs', required=True); q.add_argument('--minutes', type=float, default=25)
    q.add_argument('--speeds', default=None, help='benchmarks/train_speed.py --dit-shapes JSON (step times measured on an idle machine)')
    a = ap.parse_args(argv)
    if a.cmd == 'run': r = _run(a.config, a.out, a.probe_every, a.steps, probe_per_class=a.probe_per_class); print(dict(step=r['step']))
    elif a.cmd == 'snapshot': print(json.dumps(snapshot(a.run, a.name)))
    else: pilot(a.configs.split(','), a.minutes, speeds=json.loads(Path(a.speeds).read_text()) if a.speeds else None)

if __name__ == '__main__': main()
