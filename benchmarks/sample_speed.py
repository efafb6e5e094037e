"""Unguided sampling speed of `RuleGuidedPipeline` (random weights: speed does not depend on them).

    .venv/bin/python benchmarks/sample_speed.py [--vae small] [--dit DiTRotary_T_8] [--n 4] [--threads 2]
        [--runs ddim:50 ddpm:1000] [--device cpu] [--bf16] [--json out.json]

Times `pipe.sample(n, class_label=1, ...)` end to end (noise -> DiT steps -> VAE decode of the 10.24 s rolls), after one
short warm-up, and reports seconds per call, per sample and per DiT step, the decode time alone, the process CPU
seconds (all threads; less sensitive to a shared machine than wall time) and the load average.
"""
import argparse, json, os, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
from scg_music.vae import AutoencoderKL, VAE_CONFIGS
from scg_music.dit import DIT_CONFIGS
from scg_music.pipeline import RuleGuidedPipeline

def build(vae_name, dit_name, device, seed=0):
    torch.manual_seed(seed)
    vae = AutoencoderKL(**dict(VAE_CONFIGS[vae_name], name=vae_name))
    dit = DIT_CONFIGS[dit_name]()
    for p in dit.parameters():                  # non-zero output layers: realistic attention/MLP activity
        if p.requires_grad: torch.nn.init.normal_(p, std=0.02)
    return RuleGuidedPipeline(vae, dit, device=device)

def sync(device):
    if torch.device(device).type == 'cuda': torch.cuda.synchronize()

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--vae', default='small'); ap.add_argument('--dit', default='DiTRotary_T_8')
    ap.add_argument('--n', type=int, default=4); ap.add_argument('--frames', type=int, default=1024)
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--runs', nargs='+', default=['ddim:50', 'ddpm:1000'], help='sampler:steps')
    ap.add_argument('--device', default='cpu'); ap.add_argument('--json', default=None)
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    pipe = build(a.vae, a.dit, a.device)
    nparams = lambda m: sum(p.numel() for p in m.parameters())
    info = dict(vae=a.vae, vae_params=nparams(pipe.vae), dit=a.dit, dit_params=nparams(pipe.dit), n=a.n, frames=a.frames,
                device=str(pipe.device), threads=torch.get_num_threads(), torch=torch.__version__)
    print(json.dumps(info))
    pipe.sample(a.n, class_label=1, steps=2, seed=0, progress=False, frames=a.frames)      # warm-up
    # decode alone
    z = torch.randn(a.n, 4, a.frames // 8, 16, device=pipe.device)
    sync(a.device); t0 = time.perf_counter()
    with torch.no_grad(): pipe.decode(z, threshold=True)
    sync(a.device); dec = time.perf_counter() - t0
    rows = []
    for run in a.runs:
        sampler, steps = run.split(':'); steps = int(steps)
        sync(a.device); t0, c0 = time.perf_counter(), time.process_time()
        rolls = pipe.sample(a.n, class_label=1, sampler=sampler, steps=steps, seed=0, progress=False, frames=a.frames)
        sync(a.device); dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert rolls.shape == (a.n, 3, 128, a.frames)
        r = dict(sampler=sampler, steps=steps, seconds=round(dt, 2), per_sample_s=round(dt / a.n, 3),
                 per_step_ms=round(1000 * (dt - dec) / steps, 2), decode_s=round(dec, 3),
                 cpu_s=round(cpu, 1), load_avg=round(os.getloadavg()[0], 1))
        rows.append(r); print(json.dumps(r), flush=True)
    if a.json: Path(a.json).write_text(json.dumps(dict(info, runs=rows), indent=1))

if __name__ == '__main__':
    main()
