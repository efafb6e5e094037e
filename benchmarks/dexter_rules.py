"""Issue 16's measurement: performance rules steering DExter with SCG, against unguided rendering at equal seeds.

    python benchmarks/dexter_rules.py [--model PATH] [--pieces 5] [--notes 400] [--candidates 8]

For each of `--pieces` held-out scores of the model (its `train_cfg.holdout`, shortest first, from the dataset in
`cache/dexter/shared`), the first `--notes` notes are rendered unguided and then with each rule alone, at the same
seed. The targets are "like this human performance": each rule measured on the piece's first human performance
(spanned rules over the bars of the excerpt's middle half). Per rule: the squared error to the target, guided over
unguided (the bar: at most 0.5), the render time over unguided (bar: at most 10x), and whether the curves the rule
does not target stay within the unguided range. Writes `benchmarks/dexter_rules.{md,json}`."""
import argparse, json, time, warnings
from pathlib import Path
import numpy as np

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default=None); ap.add_argument('--data', default='cache/dexter/shared')
    ap.add_argument('--pieces', type=int, default=5); ap.add_argument('--notes', type=int, default=400)
    ap.add_argument('--candidates', type=int, default=8); ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    from scg_music.dexter.render import render_codec, resolve_model, bundled_model_path
    from scg_music.dexter.data import load_dataset, entry_part
    from scg_music.dexter.codec import load_score
    from scg_music.dexter.rules import PERFORMANCE_RULES, SPANNED, PerfTarget, perf_context, measure_performance, _check_span
    model = a.model or str(bundled_model_path())
    cfg = resolve_model(model)[2]
    held = cfg.get('train_cfg', {}).get('holdout') or []
    entries = sorted(load_dataset(a.data, held), key=lambda e: len(e['ids']))[:a.pieces]
    rows, names = [], list(PERFORMANCE_RULES)
    for e in entries:
        part = entry_part(e)
        ids = e['ids'][:a.notes]
        t0 = time.time(); base = render_codec(part, model, seed=a.seed, unfold=False, ids=ids); t_base = time.time() - t0
        ctx = perf_context(part, base['na'])
        glob_ = [k for k in names if k not in SPANNED]
        unguided = [base['p']] + [render_codec(part, model, seed=a.seed + k, unfold=False, ids=ids)['p'] for k in (1, 2)]
        rng = {k: [measure_performance(p, ctx, [PerfTarget(k, None, 0.0)])[k] for p in unguided] for k in glob_}
        rng = {k: (min(v) - 0.1 * abs(min(v)), max(v) + 0.1 * abs(max(v))) for k, v in rng.items()}   # 3 seeds, +-10 %
        bars = np.unique(ctx['bar']); mid = (int(bars[len(bars) // 4]), int(bars[3 * len(bars) // 4]))
        hctx = dict(ctx, note=e['V'][0][:len(ids)].astype(bool))
        for name in names:
            span = mid if name in SPANNED else None
            t = PerfTarget(name, span, 0.0); t.span_beats = _check_span(t, ctx)
            target = measure_performance(e['P'][0][:len(ids)], hctx, [t])
            key = next(iter(target)); t.value = float(target[key])
            rule = {name: (span, t.value) if span else t.value}
            t0 = time.time(); g = render_codec(part, model, seed=a.seed, unfold=False, ids=ids, rules=rule,
                                              n_candidates=a.candidates, bpm=None); sec = time.time() - t0
            u = measure_performance(base['p'], ctx, [t])[key]; v = g['rules']['achieved'][key]
            others = {k: measure_performance(g['p'], ctx, [PerfTarget(k, None, 0.0)])[k] for k in glob_ if k != name}
            inside = {k: bool(rng[k][0] <= v <= rng[k][1]) for k, v in others.items()}
            rows.append(dict(piece=e['name'], rule=key, target=t.value, unguided=u, guided=v,
                             loss_ratio=(v - t.value) ** 2 / max((u - t.value) ** 2, 1e-12), time_ratio=sec / t_base,
                             notes=len(ids), all_notes=bool(np.isfinite(g['p']).all() and len(g['p']) == len(ids)),
                             others=others, others_in_unguided_range=inside, unguided_range=rng))
            print(f"{e['name'][:36]:36s} {key:22s} target {t.value:8.3f} unguided {u:8.3f} guided {v:8.3f} "
                  f"loss x{rows[-1]['loss_ratio']:.2f} time x{rows[-1]['time_ratio']:.1f}", flush=True)
    _report(rows, a, model)

def _report(rows, a, model):
    by = {}
    for r in rows: by.setdefault(r['rule'].split('@')[0], []).append(r)
    lines = [f'Performance rules with SCG (n = {a.candidates}), {model}, the first {a.notes} notes of {a.pieces} held-out scores, '
             f'seed {a.seed}; targets from the first human performance of each piece.', '',
             '| rule | median loss guided / unguided | pieces with loss ratio <= 0.5 | mean time guided / unguided | untargeted rules in the unguided range |', '|---|---|---|---|---|']
    for k, rs in by.items():
        lr = [r['loss_ratio'] for r in rs]
        ins = [v for r in rs for v in r['others_in_unguided_range'].values()]
        lines.append(f"| {k} | {np.median(lr):.2f} | {sum(x <= 0.5 for x in lr)} of {len(lr)} | {np.mean([r['time_ratio'] for r in rs]):.1f} | "
                     f"{sum(ins)} of {len(ins)} |")
    lines += ['', f"Every note rendered with finite values: {all(r['all_notes'] for r in rows)}. The unguided range of a rule is its "
              'values over 3 unguided seeds, widened by 10 %.']
    Path('benchmarks/dexter_rules.md').write_text('\n'.join(lines) + '\n')
    Path('benchmarks/dexter_rules.json').write_text(json.dumps(rows, indent=1))
    print('\n'.join(lines))

if __name__ == '__main__':
    main()
