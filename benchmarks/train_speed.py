"""Seconds per training step of the small training configs, on real corpus windows.

    .venv/bin/python benchmarks/train_speed.py [--cache cache/corpus] [--steps 6] [--threads 1] [--json out.json]
    .venv/bin/python benchmarks/train_speed.py --dit-shapes DiTRotary_T_8,DiTRotary_T_16,DiTRotary_SM_16 [--threads 2]

--dit-shapes times only the DiT step on latents already in memory (what a run from the latent cache does):
forward + backward + AdamW + EMA at batch 32, in bf16 autocast and in fp32; reported as samples/s.

Without --cache a small corpus cache is built in a temp folder from a few ASAP / POP909 files of ../shared.
Each job runs `--steps` optimizer steps through the real training loop (data fetch + augmentation + VAE
encode for the latent jobs + forward/backward + AdamW + EMA); the first step is excluded as warm-up.
Reported: wall seconds per step and process CPU seconds per step (the machine may be shared), load average.
"""
import argparse, json, os, resource, sys, tempfile, time
from pathlib import Path

def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

def small_corpus(out):
    from scg_music.data import build_corpus, find_shared
    sh = find_shared()
    if sh is None: sys.exit('../shared not found: pass --cache')
    asap = sorted(str(p) for p in (sh / 'data' / 'asap').rglob('*.mid'))
    perf = [f for f in asap if not f.endswith('midi_score.mid')][:3]
    score = [f for f in asap if f.endswith('midi_score.mid')][:2]
    pop = sorted(str(p) for p in (sh / 'data' / 'pop909').glob('*.mid'))[:4]
    build_corpus([dict(name='perf', label=0, files=perf), dict(name='score', label=1, files=score),
                  dict(name='pop', label=2, group='file', files=pop)], out, workers=1, progress=False)
    return out

def dit_shapes(names, steps, batch=32):
    "Samples/s of a DiT training step per shape, bf16 autocast and fp32, on random latents (4,128,16)."
    import copy, torch
    from scg_music.dit import DIT_CONFIGS
    from scg_music.diffusion import Diffusion, training_loss
    diff, out = Diffusion.linear(1000), {}
    for name in names:
        for bf16 in (True, False):
            torch.manual_seed(0)
            m = DIT_CONFIGS[name](num_classes=3, input_size=(128, 16), class_dropout_prob=0.1)
            ema, opt = copy.deepcopy(m).requires_grad_(False), torch.optim.AdamW(m.parameters(), lr=1e-4)
            z, y = torch.randn(batch, 4, 128, 16), torch.randint(0, 3, (batch,))
            times = []
            for k in range(steps + 1):
                t0 = time.time()
                with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                    loss = training_loss(m, diff, z, dict(y=y))
                opt.zero_grad(); loss.backward(); opt.step()
                with torch.no_grad():
                    for pe, p in zip(ema.parameters(), m.parameters()): pe.lerp_(p, 1e-3)
                if k: times.append(time.time() - t0)              # the first step is warm-up
            sps = batch * len(times) / sum(times)
            out[f'{name} {"bf16" if bf16 else "fp32"}'] = dict(params_M=round(sum(p.numel() for p in m.parameters()) / 1e6, 2),
                                                               s_per_step=round(sum(times) / len(times), 3), samples_per_s=round(sps, 1))
            print(name, 'bf16' if bf16 else 'fp32', out[f'{name} {"bf16" if bf16 else "fp32"}'], flush=True)
    return out

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--cache', default=None)
    ap.add_argument('--steps', type=int, default=6)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--jobs', default='vae_tiny,vae_small,dit_tiny,cls_pitch_tiny')
    ap.add_argument('--json', default=None)
    ap.add_argument('--dit-shapes', default=None, help='comma-separated DIT_CONFIGS names: time the cached-latent DiT step only')
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(a.threads)
    if a.dit_shapes:
        results = dit_shapes(a.dit_shapes.split(','), a.steps)
        results['_env'] = dict(threads=a.threads, loadavg=os.getloadavg(), torch=torch.__version__, cpus=os.cpu_count())
        print(json.dumps(results, indent=1))
        if a.json: Path(a.json).write_text(json.dumps(results, indent=1))
        return
    from scg_music.train import load_config, train_vae, train_dit, train_classifier
    tmp = Path(tempfile.mkdtemp(prefix='train_speed_'))
    cache = a.cache or str(small_corpus(tmp / 'corpus'))
    results = {}
    vae_path = None
    for name in a.jobs.split(','):
        cfg = load_config(name)
        cfg['data']['cache_dir'] = cache
        cfg['train'].update(steps=a.steps, log_every=1, ckpt_every=10 ** 9, device='cpu')
        if cfg['job'] != 'vae':
            if vae_path is None:   # any VAE of the right shape works as the frozen encoder for timing
                vc = load_config('vae_tiny'); vc['data']['cache_dir'] = cache
                vc['train'].update(steps=1, batch_size=2, ckpt_every=1)
                train_vae(vc, tmp / 'vae_for_latents', progress=False); vae_path = str(tmp / 'vae_for_latents' / 'ema')
            cfg['vae'] = {'path': vae_path}
            cfg['latents']['scale_batches'] = 1
        job = {'vae': train_vae, 'dit': train_dit, 'classifier': train_classifier}[cfg['job']]
        stamps = []
        import scg_music.train as T
        orig = T.LossLog.write
        def write(self, row, _o=orig):
            stamps.append((time.time(), cpu_seconds())); _o(self, row)
        T.LossLog.write = write
        try: job(cfg, tmp / name, progress=False)
        finally: T.LossLog.write = orig
        (w0, c0), (w1, c1) = stamps[0], stamps[-1]
        n = len(stamps) - 1
        results[name] = dict(batch_size=cfg['train']['batch_size'], wall_s_per_step=round((w1 - w0) / n, 3),
                             cpu_s_per_step=round((c1 - c0) / n, 3), steps_timed=n)
        print(name, results[name], flush=True)
    results['_env'] = dict(threads=a.threads, loadavg=os.getloadavg(), torch=torch.__version__, cpus=os.cpu_count())
    print(json.dumps(results, indent=1))
    if a.json: Path(a.json).write_text(json.dumps(results, indent=1))

if __name__ == '__main__': main()
