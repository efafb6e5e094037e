"""Update nbs/model_card/card.json in parts: `python tools/update_card.py unguided|chord|classifiers|speed ...` (run from the repo root, corpus at cache/corpus)."""
import sys, json
sys.path.insert(0, 'tools')
from pathlib import Path
import torch
from model_card import measure_unguided, measure_vae, median_notes, time_guided_excerpt, measure_guidance, CARD
from scg_music.checkpoints import load_model
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
    ch = json.loads((CARD / 'guidance_chord_full.json').read_text())
    card['guidance']['table']['chord_progression'] = ch
    card['guidance']['chord_scorer'] = 'full'
    card['guidance']['note'] = ('SCG candidates of the pitch-histogram and note-density rows scored by the preview decoder, '
                                'of the chord rows by the full decoder with the chord tie-break (RuleScore.tiebreak 0.1); '
                                'final losses from the full decoder')
if 'classifiers' in what:
    # the classifier rows with the bundled (retrained) classifiers at their swept scales (pipe.classifier_scales):
    # pitch/density SCG candidates scored by the preview decoder of model_card/runs, chords by the full decoder
    g = card['guidance']
    for rule, scorer in (('pitch_hist', 'preview'), ('note_density', 'preview'), ('chord_progression', 'full')):
        pipe.preview = load_model(CARD / 'runs/preview_decoder/ema').eval().requires_grad_(False) if scorer == 'preview' else None
        t = measure_guidance(pipe, '/tmp/scg_model_card_guidance', rules=(rule,), num_samples=20, batch_size=10, steps=50,
                             scg_samples=16, cache_dir='cache/corpus', scorer=scorer, methods=('classifier', 'scg_classifier'),
                             classifier_scales='pipe')
        g['table'][rule].update(t[rule])
        print(rule, {m: round(v['loss_mean'], 4) for m, v in g['table'][rule].items()}, flush=True)
        (CARD / 'card.json').write_text(json.dumps(card, indent=1))
    g['classifier_scales'] = dict(pipe.classifier_scales)
    g['classifier_note'] = ('classifier rows: the bundled classifiers (retrained on the block latent cache) at their swept '
                            'scales, pipe.classifier_scales')
if 'speed' in what:
    card['speed'] = time_guided_excerpt(pipe)
    print(card['speed'])
(CARD / 'card.json').write_text(json.dumps(card, indent=1))
