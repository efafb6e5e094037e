"""Update nbs/model_card/card.json in parts: `python tools/update_card.py unguided|chord|speed ...` (run from the repo root, corpus at cache/corpus)."""
import sys, json
sys.path.insert(0, 'tools')
from pathlib import Path
import torch
from model_card import measure_unguided, measure_vae, median_notes, time_guided_excerpt, CARD
from scg_music.pipeline import RuleGuidedPipeline
what = sys.argv[1:]
pipe = RuleGuidedPipeline.from_pretrained(device='cpu')
card = json.loads((CARD / 'card.json').read_text())
if 'unguided' in what:
    torch.manual_seed(0)
    card['vae'] = measure_vae(pipe.vae, 'cache/corpus', n_per_class=16)
    med = median_notes('cache/corpus')
    runs = {}
    for seed in (0, 100):
        runs[seed] = measure_unguided(pipe, 'cache/corpus', n_per_class=16, n_ref=32, steps=50, seed=seed)
    card['unguided'] = dict(steps=50, eta=pipe.unguided_eta, samples_per_class=16, reference_per_class=32,
                            test_median_notes=med, test_median_windows_per_class=400, classes=runs[0],
                            seed_100=runs[100])
    print(json.dumps({s: {c: (round(v['oa']['avg'], 3), round(0.85 * v['oa_test_vs_test']['avg'], 3), v['notes_per_sample'], v['notes_median'], round(v['onset_fraction'], 3)) for c, v in r.items()} for s, r in runs.items()}), med, card['vae']['f1'], flush=True)
if 'chord' in what:
    ch = json.loads(CARD / 'guidance_chord_full.json'.read_text())
    card['guidance']['table']['chord_progression'] = ch
    card['guidance']['chord_scorer'] = 'full'
if 'speed' in what:
    card['speed'] = time_guided_excerpt(pipe)
    print(card['speed'])
(CARD / 'card.json').write_text(json.dumps(card, indent=1))
