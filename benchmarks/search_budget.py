"""Search strategies behind SCG's selector at an equal budget of decoded candidates: best of n vs tree search vs adaptive n.

    python benchmarks/search_budget.py                                   # 20 test windows of cache/corpus, DDIM-20, n = 8
    python benchmarks/search_budget.py ../shared/data/pop909/00*.mid --targets 4 --steps 10 --n 4   # targets from MIDI files
    python benchmarks/search_budget.py FILE.mid --targets 2 --steps 5 --n 4 --frames 256 --out /tmp/sb   # a smoke test
    python benchmarks/search_budget.py --rules chord_progression --compare-full --methods 'best_of_n,best_of_n full'

For each rule (pitch_hist, note_density, chord_progression) the targets are the rule's values of `--targets` 10.24 s
windows: random un-augmented windows of the corpus cache's test split (`--cache`, default `cache/corpus`, built from
`../shared/data`) when it exists and no MIDI files are given, else consecutive windows of the MIDI files given. Every
method samples one batch of those targets (one sample per target, same seed and class) with the bundled models
(`scg_music/assets/models`, or `--models`) and reports the final rule loss of the decoded rolls (mean and standard
error over the targets):

- `unguided`: no selection (best of 1), the floor;
- `best_of_n`: `pipe(..., guidance='scg', n_candidates=n)`;
- `tree KxB`: `pipe(..., guidance='tree', active=K, branch=b)` for every factorisation K*b = n with K > 1 (or `--trees`);
- `adaptive`: `pipe(..., guidance='scg', n_candidates=n, adaptive=True, adaptive_batch=--batch)`: at most n.

`budget` is the decoded candidates per sample and guided step (K*b for the tree, the mean drawn for adaptive; the tree
also decodes its K branches once at the end). Writes `<out>.json` and `<out>.md`. Full size is CPU-hours; use a GPU
(`--device cuda`) or small sizes.
"""
import argparse, json, time
from pathlib import Path
import numpy as np
import torch
from scg_music.core import WINDOW
from scg_music.rules import get_rule, load_roll, fit_frames
from scg_music.pipeline import RuleGuidedPipeline

RULES = ('pitch_hist', 'note_density', 'chord_progression')

def windows_from_cache(cache, n, seed=0, split='test', frames=WINDOW):
    "`n` random un-augmented windows `(n,3,128,frames)` of a corpus split."
    from scg_music.data import RollDataset
    ds = RollDataset(cache, split=split, length=frames, augment=False)
    idx = np.random.default_rng(seed).choice(len(ds), min(n, len(ds)), replace=False)
    return torch.stack([ds[int(i)][0] for i in idx])

def windows_from_midi(paths, n, frames=WINDOW):
    "Up to `n` consecutive windows `(n,3,128,frames)` of the MIDI/score files, in order, skipping silent ones."
    out = []
    for p in paths:
        r = load_roll(str(p))[0].clamp(-1, 1)
        for s in range(0, max(1, r.shape[-1] - frames // 2), frames):
            w = fit_frames(r[..., s:s + frames], frames)
            if (w[0] > -0.95).any(): out.append(w)
            if len(out) == n: return torch.stack(out)
    if not out: raise SystemExit('no non-silent windows in the MIDI files given')
    return torch.stack(out)

def tree_shapes(n, spec=None):
    "(K, b) pairs with K*b = n and K > 1, or those of `spec` ('2x4,4x2')."
    if spec: return [tuple(int(v) for v in s.split('x')) for s in spec.split(',')]
    return [(K, n // K) for K in range(2, n + 1) if n % K == 0]

def run_method(pipe, rule, tgt, a, guidance='scg', **kw):
    t0 = time.time()
    out = pipe(len(tgt), {rule: tgt}, guidance, class_label=a.class_label, steps=a.steps, sampler='ddim', seed=a.seed,
               frames=a.frames, progress=False, **kw)
    loss = np.array(out.losses[rule], dtype=np.float64)
    drawn = out.settings.get('drawn')
    return dict(loss_mean=float(loss.mean()), loss_sem=float(loss.std(ddof=1) / np.sqrt(len(loss))) if len(loss) > 1 else 0.0,
                losses=loss.tolist(), budget=float(np.mean(drawn)) if drawn else int(kw.get('n_candidates', 1)),
                drawn=drawn, seconds=round(time.time() - t0, 2))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('midi', nargs='*', help='MIDI/score files for the targets (default: the corpus cache test split)')
    ap.add_argument('--targets', type=int, default=20); ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--n', type=int, default=8, help='decoded candidates per sample and guided step')
    ap.add_argument('--trees', default=None, help="tree shapes KxB, e.g. '2x4,4x2' (default: every K*b = n, K > 1)")
    ap.add_argument('--batch', type=int, default=2, help='adaptive n: candidates per batch')
    ap.add_argument('--tol', type=float, default=1e-3, help='adaptive n: stop when the best improved by at most this')
    ap.add_argument('--rules', default=','.join(RULES)); ap.add_argument('--cache', default='cache/corpus')
    ap.add_argument('--models', default=None); ap.add_argument('--device', default=None)
    ap.add_argument('--class-label', type=int, default=1); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--frames', type=int, default=WINDOW, help='window length (multiple of 128; 1024 = 10.24 s, as trained)')
    ap.add_argument('--scorer', default='auto', choices=('auto', 'preview', 'full'),
                    help="decoder that scores the candidates (reported losses always come from the full decoder)")
    ap.add_argument('--compare-full', action='store_true', help="add a best_of_n row scored with the full decoder (scorer='full')")
    ap.add_argument('--methods', default=None, help="only these rows, e.g. 'unguided,best_of_n,best_of_n full' ('tree': every tree row)")
    ap.add_argument('--out', default=str(Path(__file__).with_suffix('')))
    a = ap.parse_args(argv)
    keep = lambda name: a.methods is None or any(name == m or (m == 'tree' and name.startswith('tree ')) for m in a.methods.split(','))
    if a.midi: x, src = windows_from_midi(a.midi, a.targets, a.frames), f'{len(a.midi)} MIDI files'
    elif Path(a.cache, 'manifest.json').is_file(): x, src = windows_from_cache(a.cache, a.targets, a.seed, frames=a.frames), f'{a.cache} test split'
    else: raise SystemExit(f'no corpus cache at {a.cache} (build it with `scg-music train` data prep) and no MIDI files given')
    pipe = RuleGuidedPipeline.from_pretrained(a.models, device=a.device)
    rows = []
    for rule in a.rules.split(','):
        tgt = get_rule(rule).fn(x).to(pipe.device)
        methods = [('unguided', 'scg', dict(n_candidates=1)), ('best_of_n', 'scg', dict(n_candidates=a.n))]
        if a.compare_full: methods.append(('best_of_n full', 'scg', dict(n_candidates=a.n, scorer='full')))
        methods += [(f'tree {K}x{b}', 'tree', dict(n_candidates=a.n, active=K, branch=b)) for K, b in tree_shapes(a.n, a.trees)]
        methods += [('adaptive', 'scg', dict(n_candidates=a.n, adaptive=True, adaptive_batch=a.batch, adaptive_tol=a.tol))]
        for name, guidance, kw in [m for m in methods if keep(m[0])]:
            kw = dict(dict(scorer=a.scorer), **kw)
            r = dict(rule=rule, method=name, scorer=kw['scorer'], **run_method(pipe, rule, tgt, a, guidance, **kw))
            rows.append(r)
            print(f"{rule:>18} {name:>12}: loss {r['loss_mean']:.4f} +- {r['loss_sem']:.4f}  budget {r['budget']:.1f}  {r['seconds']:.1f} s", flush=True)
    info = dict(targets=len(x), source=src, frames=a.frames, steps=a.steps, n=a.n, batch=a.batch, tol=a.tol, class_label=a.class_label,
                scorer=a.scorer, preview=pipe.preview is not None,
                seed=a.seed, device=str(pipe.device), torch=torch.__version__, rows=rows)
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(info, indent=1))
    md = [f'Final rule loss (mean +- s.e. over {len(x)} targets from {src}; {a.frames} frames, DDIM-{a.steps}, n = {a.n}, seed {a.seed}; '
          f'candidates scored by the {"preview" if pipe.preview is not None and a.scorer != "full" else "full"} decoder unless the row says full).', '',
          '| rule | method | scorer | loss | budget (decoded / sample / guided step) | seconds |', '|---|---|---|---|---|---|']
    md += [f"| {r['rule']} | {r['method']} | {r['scorer']} | {r['loss_mean']:.4f} +- {r['loss_sem']:.4f} | {r['budget']:.1f} | {r['seconds']:.1f} |" for r in rows]
    out.with_suffix('.md').write_text('\n'.join(md) + '\n')
    print('wrote', out.with_suffix('.json'), out.with_suffix('.md'))

if __name__ == '__main__': main()
