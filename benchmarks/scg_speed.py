"""Speed of a guided SCG excerpt, full-decoder against preview-decoder scoring: per-step split, whole excerpt, rule losses.

    python benchmarks/scg_speed.py                          # bundled models, CPU: timing + 20 test-window targets per rule
    python benchmarks/scg_speed.py --loss-steps 0           # timing only
    python benchmarks/scg_speed.py --device cuda --released-sizes   # + DiTRotary_XL_8 and the released VAE size (random)

Timing (`--steps` DDIM steps, `--n` candidates, one 10.24 s sample of class `--class-label`, the targets of `make demo`:
C-E-G pitch classes, sparse-dense-sparse note density, I then V; `--guidance scg+classifier` adds its classifiers): every call is split into the DiT (every forward,
candidates included), candidate decoding (the scorer's decoder and post-processing), the rules on the decoded
candidates, the final full decode with its measurement, and the rest (sampler arithmetic, noise); `--reps` timed
calls per scorer after one warm-up, the fastest reported. Peak RSS is the process's (`ru_maxrss`).

Rule losses: for each rule, the targets are that rule's values of `--targets` random test windows of the corpus
cache (`--cache`), one sample per target in one batch, same seed for every scorer, DDIM-`--loss-steps`, n = `--n`,
losses measured on the full decoder's rolls; `unguided` (n = 1) is the floor. Writes `<out>.json` and `<out>.md`.
"""
import argparse, json, resource, time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
import numpy as np
import torch
from scg_music.core import WINDOW
from scg_music.guidance import RuleScore
from scg_music.rules import get_rule
from scg_music.pipeline import RuleGuidedPipeline

RULES = ('pitch_hist', 'note_density', 'chord_progression')
DEMO_TARGETS = {'pitch_hist': [0.5, 0, 0, 0, 0.25, 0, 0, 0.25, 0, 0, 0, 0],             # the targets of `make demo`
                'note_density': [1.0, 1, 2, 3, 3, 2, 1, 1, 5, 5, 10, 15, 15, 10, 5, 5],      # vertical ++ horizontal
                'chord_progression': [1, 1, 1, 1, 5, 5, 5, 5]}                              # I ... V


def _wrap(obj, name, key, T):
    f = getattr(obj, name)
    def timed(*a, **k):
        t = time.perf_counter()
        try: return f(*a, **k)
        finally: T[key] += time.perf_counter() - t
    setattr(obj, name, timed)
    return f


@contextmanager
def split_timer(pipe):
    "Accumulate seconds per part of `pipe(...)` calls into a dict (DiT, candidate decode, rules, final)."
    T = defaultdict(float)
    saved = [(RuleScore, 'rolls', _wrap(RuleScore, 'rolls', 'decode', T)),
             (RuleScore, 'score_rolls', _wrap(RuleScore, 'score_rolls', 'rules', T)),
             (pipe.dit, 'forward', _wrap(pipe.dit, 'forward', 'dit', T)),
             (pipe, '_output', _wrap(pipe, '_output', 'final', T))]
    try: yield T
    finally:
        for obj, name, f in saved:
            if obj is pipe.dit or obj is pipe: delattr(obj, name)
            else: setattr(obj, name, f)


def time_excerpt(pipe, scorer, a):
    "Fastest of `--reps` calls: total seconds and its split."
    tg = {k: DEMO_TARGETS[k] for k in a.rules.split(',')}
    kw = dict(class_label=a.class_label, steps=a.steps, sampler='ddim', n_candidates=a.n, seed=a.seed, progress=False, scorer=scorer)
    pipe(1, tg, a.guidance, **dict(kw, steps=2))                          # warm-up
    best = None
    for r in range(a.reps):
        with split_timer(pipe) as T:
            t0 = time.perf_counter(); out = pipe(1, tg, a.guidance, **kw); total = time.perf_counter() - t0
        row = dict(total=total, **{k: T[k] for k in ('dit', 'decode', 'rules', 'final')})
        row['other'] = total - row['dit'] - row['decode'] - row['rules'] - row['final']
        row['losses'] = {k: float(v[0]) for k, v in out.losses.items()}
        if best is None or total < best['total']: best = row
    return best


def losses_table(pipe, x, a):
    "Per rule: final losses (full decoder) of unguided, SCG with full scoring and SCG with preview scoring."
    rows = []
    for rule in a.rules.split(','):
        tgt = get_rule(rule).fn(x).to(pipe.device)
        runs = [('unguided', 'full', 1), ('scg', 'full', a.n)] + ([('scg', 'preview', a.n)] if pipe.preview is not None else [])
        for method, scorer, n in runs:
            t0 = time.perf_counter()
            out = pipe(len(tgt), {rule: tgt}, 'scg', class_label=a.class_label, steps=a.loss_steps, sampler='ddim', n_candidates=n,
                       seed=a.seed, progress=False, scorer=scorer)
            loss = np.asarray(out.losses[rule], dtype=np.float64)
            rows.append(dict(rule=rule, method=method if n == 1 else f'scg ({scorer} scorer)', loss_mean=float(loss.mean()),
                             loss_sem=float(loss.std(ddof=1) / np.sqrt(len(loss))) if len(loss) > 1 else 0.0, losses=loss.tolist(),
                             seconds=round(time.perf_counter() - t0, 1)))
            print(f"{rule:>18} {rows[-1]['method']:>20}: {rows[-1]['loss_mean']:.4f} +- {rows[-1]['loss_sem']:.4f}  ({rows[-1]['seconds']} s)", flush=True)
    return rows


def released_sizes(a):
    "Per-step parts at the released sizes with random weights (DiTRotary_XL_8 + the f8 VAE) on `--device`."
    from scg_music.dit import DIT_CONFIGS
    from scg_music.vae import AutoencoderKL, VAE_CONFIGS
    from scg_music.preview import PreviewDecoder
    vae = AutoencoderKL(**VAE_CONFIGS['f8-all-onset'])
    pipe = RuleGuidedPipeline(vae, DIT_CONFIGS['DiTRotary_XL_8'](num_classes=3), device=a.device, preview=PreviewDecoder())
    return {s: time_excerpt(pipe, s, a) for s in ('full', 'preview')}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', default=None, help='model folder (default: the bundled models)')
    ap.add_argument('--device', default=None); ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--steps', type=int, default=50); ap.add_argument('--n', type=int, default=8)
    ap.add_argument('--reps', type=int, default=2); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--class-label', type=int, default=1); ap.add_argument('--rules', default=','.join(RULES))
    ap.add_argument('--guidance', default='scg', help="timing: 'scg' or 'scg+classifier' (the demo's)")
    ap.add_argument('--targets', type=int, default=20); ap.add_argument('--loss-steps', type=int, default=50)
    ap.add_argument('--cache', default='cache/corpus'); ap.add_argument('--released-sizes', action='store_true')
    ap.add_argument('--out', default=str(Path(__file__).with_suffix('')))
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    pipe = RuleGuidedPipeline.from_pretrained(a.models, device=a.device)
    scorers = ['full'] + (['preview'] if pipe.preview is not None else [])
    timing = {}
    for s in scorers:
        timing[s] = time_excerpt(pipe, s, a)
        t = timing[s]
        print(f"{s:>8}: {t['total']:.1f} s (DiT {t['dit']:.1f}, decode {t['decode']:.1f}, rules {t['rules']:.1f}, final {t['final']:.2f}, "
              f"other {t['other']:.1f}); losses {t['losses']}", flush=True)
    rows = []
    if a.loss_steps and a.targets:
        if not Path(a.cache, 'manifest.json').is_file(): raise SystemExit(f'no corpus cache at {a.cache} (scg-music build-corpus)')
        from scg_music.data import RollDataset
        ds = RollDataset(a.cache, split='test', length=WINDOW, augment=False)
        idx = np.random.default_rng(a.seed).choice(len(ds), min(a.targets, len(ds)), replace=False)
        rows = losses_table(pipe, torch.stack([ds[int(i)][0] for i in idx]), a)
    info = dict(device=str(pipe.device), threads=torch.get_num_threads(), torch=torch.__version__, steps=a.steps, n=a.n,
                class_label=a.class_label, seed=a.seed, timing=timing, loss_steps=a.loss_steps, targets=a.targets, losses=rows,
                peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    if a.released_sizes: info['released_sizes'] = released_sizes(a)
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(info, indent=1))
    md = [f"One guided 10.24 s excerpt ({a.guidance}, DDIM-{a.steps}, n = {a.n}, {info['device']}, {info['threads']} threads), seconds:", '',
          '| scorer | total | DiT | candidate decode | rules | final decode + measure | other |', '|---|---|---|---|---|---|---|']
    md += [f"| {s} | {t['total']:.1f} | {t['dit']:.1f} | {t['decode']:.1f} | {t['rules']:.1f} | {t['final']:.2f} | {t['other']:.1f} |"
           for s, t in timing.items()]
    if 'preview' in timing: md += ['', f"Speed-up of preview scoring: {timing['full']['total'] / timing['preview']['total']:.1f}x."]
    md += ['', f"Peak RSS of the process: {info['peak_rss_gb']:.2f} GB."]
    if rows:
        md += ['', f'Final rule loss (full decoder; mean +- s.e. over {a.targets} test-window targets per rule, DDIM-{a.loss_steps}, n = {a.n}):', '',
               '| rule | method | loss | seconds |', '|---|---|---|---|']
        md += [f"| {r['rule']} | {r['method']} | {r['loss_mean']:.4f} +- {r['loss_sem']:.4f} | {r['seconds']} |" for r in rows]
    out.with_suffix('.md').write_text('\n'.join(md) + '\n')
    print('wrote', out.with_suffix('.json'), out.with_suffix('.md'))


if __name__ == '__main__': main()
