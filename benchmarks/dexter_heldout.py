"""Held-out evaluation of a trained DExter model (spec section 6) on Vienna 4x22.

    python benchmarks/dexter_heldout.py --model runs/dexter_small/dexter.safetensors --piece Chopin_op10_no3

Renders the held-out piece's aligned notes (several seeds), compares tempo/velocity curves and performance
features with every human performance, next to the deadpan baseline and the average human; writes a
markdown table and JSON beside the model."""
import argparse, json, time
from pathlib import Path
from scg_music.dexter.data import load_dataset
from scg_music.dexter.evaluate import evaluate_piece, format_table

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='runs/dexter_small/dexter.safetensors')
    ap.add_argument('--data', default='cache/dexter/vienna')
    ap.add_argument('--piece', default='Chopin_op10_no3')
    ap.add_argument('--seeds', type=int, nargs='*', default=[0, 1, 2])
    ap.add_argument('--w', type=float, nargs='*', default=[1.2])
    ap.add_argument('--steps', type=int, default=50)
    ap.add_argument('--no-features', action='store_true')
    a = ap.parse_args()
    t0 = time.time()
    entry = load_dataset(a.data, [a.piece])[0]
    rows = []
    for w in a.w:
        r = evaluate_piece(entry, a.model, seeds=a.seeds, w=w, steps=a.steps, features=not a.no_features)
        rows += r if not rows else [x for x in r if x['system'].startswith('DExter')]
    title = f'{a.piece}: {len(entry["P"])} human performances, {len(entry["ids"])} notes, seeds {a.seeds}, {a.steps} steps'
    md = format_table(rows, title)
    print(md); print(f'wall {time.time() - t0:.0f} s')
    out = Path(a.model).parent
    (out / f'heldout_{a.piece}.md').write_text(md + '\n')
    (out / f'heldout_{a.piece}.json').write_text(json.dumps(rows, indent=1))
