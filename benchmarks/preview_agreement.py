"""Preview agreement: rule values of preview-decoded against full-decoded rolls, on test windows and their x0-estimates.

    python benchmarks/preview_agreement.py --preview nbs/model_card/runs/preview_decoder/ema [--preview runs/x/ema ...]

Test windows of the corpus cache (`--per-class` per class, seeded), encoded by the bundled VAE; each is also noised at
the schedule levels `--levels` (fractions of the 1000-step schedule) and replaced by the bundled DiT's x0-estimate,
which is what SCG decodes while it scores candidates. Per level and preview: pitch-histogram squared difference (mean
of 12), note-density mean |difference| per 1.28 s, the share of 1.28 s windows whose chord degree is equal, and the
share of samples whose detected key is equal. Both rolls post-processed as the pipeline does. Writes `--out` (.json, .md).
"""
import argparse, json, time
from pathlib import Path
import torch
from scg_music.checkpoints import load_model, model_config
from scg_music.core import MODELS_DIR
from scg_music.data import RollDataset
from scg_music.diffusion import Diffusion
from scg_music.rules import detect_key
from scg_music.train import encode_rolls, x0_estimates, preview_agreement, teacher_rolls
from scg_music.vae import clear_background


def test_latents(vae, cache, per_class, seed):
    "`(z, y)`: unscaled latents and labels of `per_class` seeded test windows per class."
    ds = RollDataset(cache, split='test', augment=False)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(ds), generator=g).tolist()
    picked, count = [], {}
    for i in order:
        x, y = ds[i]
        if count.get(int(y), 0) < per_class: picked.append((x, int(y))); count[int(y)] = count.get(int(y), 0) + 1
        if len(picked) == 3 * per_class: break
    x = torch.stack([p[0] for p in picked]); y = torch.tensor([p[1] for p in picked])
    return torch.cat([encode_rolls(vae, c, 1.0, True) for c in x.split(8)]), y


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--preview', action='append', required=True, help='save_model path of a preview decoder (repeatable)')
    ap.add_argument('--models', default=str(MODELS_DIR)); ap.add_argument('--cache', default='cache/corpus')
    ap.add_argument('--per-class', type=int, default=12); ap.add_argument('--seed', type=int, default=5)
    ap.add_argument('--levels', default='0,0.25,0.5,0.75'); ap.add_argument('--out', default='benchmarks/preview_agreement')
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    m = Path(a.models)
    vae, dit = load_model(m / 'vae').eval(), load_model(m / 'dit').eval()
    scale = float(model_config(m / 'dit').get('scale_factor', vae.scale_factor))
    previews = {p: load_model(p).eval().requires_grad_(False) for p in a.preview}
    z0, y = test_latents(vae, a.cache, a.per_class, a.seed)
    diff, g = Diffusion.linear().respace('ddim50'), torch.Generator().manual_seed(a.seed)
    res = {}
    for lv in [float(v) for v in a.levels.split(',')]:
        i = torch.full((len(z0),), min(int(lv * diff.num_timesteps), diff.num_timesteps - 1))
        z = z0 if lv == 0 else torch.cat([x0_estimates(dit, diff, zc, yc, scale, ic, g) for zc, yc, ic in zip(z0.split(8), y.split(8), i.split(8))])
        full = torch.cat([clear_background(vae.postprocess(teacher_rolls(vae, c))) for c in z.split(8)])
        for p, pv in previews.items():
            ag = [preview_agreement(vae, pv, zc, full=fc) for zc, fc in zip(z.split(8), full.split(8))]
            with torch.autocast('cpu', dtype=torch.bfloat16):
                own = pv.postprocess if pv.targets == 'postprocessed' else vae.postprocess     # as preview_agreement reads it
                prev = torch.cat([clear_background(own(pv(zc).float())) for zc in z.split(8)])
            key = (detect_key(full)[0] == detect_key(prev)[0]).float().mean().item()
            res.setdefault(p, {})[f'{lv:g}'] = dict({k: torch.cat([d[k] for d in ag]).mean().item() for k in ag[0]}, key=key)
        print(f'level {lv:g}:', {p: {k: round(v, 4) for k, v in r[f"{lv:g}"].items()} for p, r in res.items()}, flush=True)
    meta = dict(windows=len(z0), per_class=a.per_class, seed=a.seed, models=str(m), date=time.strftime('%Y-%m-%d'))
    Path(a.out + '.json').write_text(json.dumps(dict(meta, results=res), indent=1))
    rows = ['| preview | level | pitch_hist sq. diff | note density abs. diff | chord degree equal | key equal |', '|---|---|---|---|---|---|']
    for p, r in res.items():
        for lv, d in r.items():
            rows.append(f"| {p} | {lv} | {d['pitch_hist']:.5f} | {d['note_density']:.3f} | {d['chord']:.3f} | {d['key']:.3f} |")
    Path(a.out + '.md').write_text(f"{len(z0)} test windows ({a.per_class} per class, seed {a.seed}), models {m}; level = "
                                   "fraction of the schedule where the window was noised and replaced by the DiT's x0-estimate (0 = clean).\n\n"
                                   + '\n'.join(rows) + '\n')


if __name__ == '__main__': main()
