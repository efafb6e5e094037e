"""Held-out evaluation of a trained DExter model (spec section 6) on Vienna 4x22.

    python benchmarks/dexter_heldout.py --model runs/dexter_small/ema.safetensors --piece Chopin_op10_no3
    python benchmarks/dexter_heldout.py --anchor model score human --no-features --out-suffix _anchored

`--anchor`: the tempo level of the renderings: the model's own, the score's metronome marking, or the median
human tempo of the piece (an oracle level: it shows what anchoring does to the curves, not a fair baseline).

Renders the held-out piece's aligned notes (several seeds), compares tempo/velocity curves and performance
features with every human performance, next to the deadpan baseline and the average human; writes a
markdown table and JSON beside the model."""
import argparse, json, time
import numpy as np
from pathlib import Path
from scg_music.dexter.data import load_dataset
from scg_music.dexter.evaluate import evaluate_piece, format_table, human_median_bpm

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='runs/dexter_small/ema.safetensors')
    ap.add_argument('--data', default='cache/dexter/vienna')
    ap.add_argument('--piece', default='Chopin_op10_no3')
    ap.add_argument('--seeds', type=int, nargs='*', default=[0, 1, 2])
    ap.add_argument('--w', type=float, nargs='*', default=[1.2])
    ap.add_argument('--steps', type=int, default=50)
    ap.add_argument('--no-features', action='store_true')
    ap.add_argument('--anchor', nargs='*', default=['model'], choices=['model', 'score', 'human'])
    ap.add_argument('--out-suffix', default='')
    ap.add_argument('--transfer', type=float, nargs='*', default=[], help='also transfer from human 0 at these strengths')
    a = ap.parse_args()
    t0 = time.time()
    entry = load_dataset(a.data, [a.piece])[0]
    rows = []
    hum = human_median_bpm(entry)
    print(f'median human tempo {hum:.1f} bpm')
    for anchor in a.anchor:
        bpm = dict(model=None, score='score', human=hum)[anchor]
        for w in a.w:
            r = evaluate_piece(entry, a.model, seeds=a.seeds, w=w, steps=a.steps, features=not a.no_features, bpm=bpm)
            rows += r if not rows else [x for x in r if x['system'].startswith('DExter')]
    if a.transfer:
        from scg_music.dexter.render import render_codec
        from scg_music.dexter.codec import load_score
        from scg_music.dexter.evaluate import curve_metrics
        from scg_music.dexter.data import vienna_sources, find_shared_data
        src = vienna_sources(find_shared_data() / 'vienna4x22')[a.piece][0]
        part = load_score(entry['score_path'])
        on, P, V = entry['s'][:, 0], entry['P'], entry['V']
        for f in a.transfer:
            p = render_codec(part, a.model, seed=0, steps=a.steps, unfold=False, ids=entry['ids'],
                             transfer_from=src['match'], strength=f)['p']
            m_src = curve_metrics(on, p, P[0], V[0])
            m_oth = [curve_metrics(on, p, P[j], V[j]) for j in range(1, len(P))]
            rows.append(dict(system=f'transfer from {src["performer"]} at {f}: vs source',
                             **{k: m_src[k] for k in ('tempo_cor', 'vel_cor', 'tempo_mae', 'vel_mae')}))
            rows.append(dict(system=f'transfer from {src["performer"]} at {f}: vs other humans',
                             **{k: float(np.mean([m[k] for m in m_oth])) for k in ('tempo_cor', 'vel_cor', 'tempo_mae', 'vel_mae')}))
    keys = list(dict.fromkeys(k for r in rows for k in r))
    rows = [{k: r.get(k, float('nan')) for k in keys} for r in rows]
    title = (f'{a.piece}: {len(entry["P"])} human performances, {len(entry["ids"])} notes, seeds {a.seeds}, {a.steps} steps, '
             f'median human tempo {hum:.1f} bpm')
    md = format_table(rows, title)
    print(md); print(f'wall {time.time() - t0:.0f} s')
    out = Path(a.model).parent
    (out / f'heldout_{a.piece}{a.out_suffix}.md').write_text(md + '\n')
    (out / f'heldout_{a.piece}{a.out_suffix}.json').write_text(json.dumps(rows, indent=1))
