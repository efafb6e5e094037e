"""SCG per-step cost, split into DiT (one batched call on n*B candidates), VAE decode (one batched call) and rules.

    .venv/bin/python benchmarks/scg_step.py                 # small configs on CPU (n = 4, 8, 16)
    .venv/bin/python benchmarks/scg_step.py --device cuda   # + DiTRotary_XL_8 and the released-size VAE

Random weights: the cost does not depend on training. Prints a table and writes benchmarks/scg_step.json.
"""
import argparse, json, time
from pathlib import Path
import torch
from scg_music import diffusion as D
from scg_music.dit import DIT_CONFIGS
from scg_music.vae import AutoencoderKL, VAE_CONFIGS
from scg_music.rules import RULE_REGISTRY
from scg_music.guidance import RuleScore, candidate_x0

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()

def timed(fn, dev, reps):
    fn(); sync(dev)                                    # warm-up
    t0 = time.perf_counter()
    for _ in range(reps): out = fn()
    sync(dev)
    return (time.perf_counter() - t0) / reps, out

def bench(dit_name, vae_name, ns, B, dev, reps, rules):
    dit = DIT_CONFIGS[dit_name]().to(dev).eval().requires_grad_(False)
    vae = AutoencoderKL(**VAE_CONFIGS[vae_name]).to(dev).eval().requires_grad_(False)
    diff = D.Diffusion.linear()
    ac = torch.autocast('cuda', dtype=torch.bfloat16) if dev.type == 'cuda' else torch.autocast('cpu', enabled=False)
    def model_fn(x, t, y=None):
        with ac: return dit(x, t, y).float()
    targets = {r: torch.zeros(B, RULE_REGISTRY[r].dim, device=dev, dtype=torch.long if RULE_REGISTRY[r].discrete else torch.float)
               for r in rules}
    sc = RuleScore(targets, vae.decode)
    rows = []
    for n in ns:
        x = torch.randn(B, 4, 128, 16, device=dev)
        s = D.Step(500, diff.model_t(500, batch=B, device=dev), x, None, None, x, torch.tensor(0.0), diffusion=diff,
                   model_fn=model_fn, model_kwargs={'y': torch.ones(B, dtype=torch.long, device=dev)})
        cands = torch.randn(n * B, 4, 128, 16, device=dev)
        with torch.no_grad():
            t_dit, x0 = timed(lambda: candidate_x0(s, cands), dev, reps)
            with ac: t_vae, rolls = timed(lambda: vae.decode(x0).float(), dev, reps)
            per_rule = {}
            for r in rules:
                one = RuleScore({r: targets[r]}, vae.decode)
                per_rule[r], _ = timed(lambda: one.score_rolls(rolls, n), dev, reps)
        t_rules = sum(per_rule.values())
        tot = t_dit + t_vae + t_rules
        rows.append(dict(dit=dit_name, vae=vae_name, device=str(dev), B=B, n=n, dit_s=t_dit, vae_s=t_vae, rules_s=t_rules,
                         per_rule_s=per_rule, step_s=tot, rules_frac=t_rules / tot))
        r = rows[-1]
        print(f"{dit_name:>15} {vae_name:>13} B={B} n={n:>2}: DiT {t_dit*1e3:8.1f} ms  VAE {t_vae*1e3:8.1f} ms  "
              f"rules {t_rules*1e3:7.1f} ms ({100*r['rules_frac']:.1f}%)  " + ' '.join(f'{k} {v*1e3:.1f}' for k, v in per_rule.items()), flush=True)
    return rows

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--device', default='cpu'); ap.add_argument('--n', type=int, nargs='+', default=[4, 8, 16])
    ap.add_argument('--batch', type=int, default=1); ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--dit', default='DiTRotary_S_8'); ap.add_argument('--vae', default='small')
    ap.add_argument('--out', default=str(Path(__file__).with_suffix('.json')))
    a = ap.parse_args(argv)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    rules = [r for r in ('pitch_hist', 'note_density', 'chord_progression') if r in RULE_REGISTRY]
    rows = bench(a.dit, a.vae, a.n, a.batch, dev, a.reps, rules)
    if dev.type == 'cuda': rows += bench('DiTRotary_XL_8', 'f8-all-onset', a.n, 4, dev, a.reps, rules)
    Path(a.out).write_text(json.dumps(dict(torch=torch.__version__, threads=torch.get_num_threads(), rows=rows), indent=1))

if __name__ == '__main__': main()
