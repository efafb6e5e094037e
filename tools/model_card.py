"""Release tooling for the bundled SCG models: the numbers of the model card (nbs/13_model_card.ipynb) and the
steps that produce and ship the bundled weights. Not part of the installed package: it is a plain module that the
model card, `make train-bundled`, `tools/train_bundled.py` (its OA probe) and `tests/test_bundled.py` import with
`tools/` on `sys.path`.

    python tools/model_card.py calibrate_run      # fit the decoder calibration of runs/bundled_vae_decoder/ema
    python tools/model_card.py ship_bundled       # copy the EMA exports of the bundled runs into scg_music/assets/models

- note-level F1 of a reconstruction: `onset_stats`, `note_table`, `match_onsets`, `note_f1`, `vae_note_f1`;
- test windows of the corpus cache and run logs: `test_windows`, `read_log`;
- measurements: `measure_vae`, `measure_unguided`, `measure_guidance` (+ `guidance_configs`), `time_guided_excerpt`;
- the decoder's roll post-processing (calibration and orphan filter) `calibrate_vae` / `calibrate_run`, and `ship_bundled` (`BUNDLED` names the runs).
"""
from __future__ import annotations
import copy, dataclasses, itertools, json, time
from pathlib import Path

import numpy as np
CARD = Path(__file__).resolve().parent.parent / "nbs" / "model_card"
import torch

from scg_music.pianoroll import roll_to_midi, BadInputError

__all__ = ['onset_stats', 'note_table', 'match_onsets', 'note_f1', 'test_windows', 'vae_note_f1', 'read_log',
           'measure_vae', 'median_notes', 'measure_unguided', 'calibrate_vae', 'calibrate_run', 'guidance_configs',
           'measure_guidance', 'time_guided_excerpt', 'measure_classifier', 'sweep_classifier_scales', 'ship_classifiers', 'BUNDLED', 'ship_bundled']


def onset_stats(roll, threshold=-0.95):
    """`(fraction of notes that start on an onset pixel, their MIDI velocities)` of the notes `roll_to_midi` reads
    from a roll `(3,128,T)` with orphans kept (a decoded note without an onset is a fading or smeared run)."""
    from scg_music.pianoroll import unit_to_raw, MIN_PIANO, MAX_PIANO
    x = np.asarray(roll.detach().float().cpu() if torch.is_tensor(roll) else roll)
    vel = unit_to_raw(x[0], threshold); vel[:MIN_PIANO] = 0; vel[MAX_PIANO + 1:] = 0
    on = vel > 0
    first = on & ~np.concatenate([np.zeros_like(on[:, :1]), on[:, :-1]], 1)
    onset = (unit_to_raw(x[1], threshold) >= 64) & on
    starts = first | onset
    return (float(onset[starts].mean()) if starts.any() else float('nan')), vel[starts].astype(np.int64)

def note_table(roll, threshold=-0.95):
    "`(N,2)` float array `(pitch, onset seconds)` of the notes `roll_to_midi` reads from a roll `(3,128,T)`."
    pm = roll_to_midi(roll, threshold=threshold)
    notes = [n for i in pm.instruments for n in i.notes]
    return np.array([(n.pitch, n.start) for n in notes], dtype=np.float64).reshape(-1, 2)


def match_onsets(ref, est, tol=0.02) -> int:
    "Number of one-to-one matches between two note tables: same pitch, |onset difference| <= `tol` seconds."
    hits = 0
    for p in np.intersect1d(ref[:, 0], est[:, 0]):
        a, b = np.sort(ref[ref[:, 0] == p, 1]), np.sort(est[est[:, 0] == p, 1])
        i = j = 0
        while i < len(a) and j < len(b):
            if abs(a[i] - b[j]) <= tol + 1e-9: hits += 1; i += 1; j += 1
            elif a[i] < b[j]: i += 1
            else: j += 1
    return hits

def note_f1(ref_rolls, est_rolls, tol=0.02, threshold=-0.95) -> dict:
    "Pooled note precision / recall / F1 of `est_rolls` against `ref_rolls` (each `(B,3,128,T)` or a list of rolls)."
    if len(ref_rolls) != len(est_rolls):
        raise BadInputError(f'note_f1: {len(ref_rolls)} reference rolls but {len(est_rolls)} estimates')
    tp = n_ref = n_est = 0; per = []
    for r, e in zip(ref_rolls, est_rolls):
        a, b = note_table(r, threshold), note_table(e, threshold)
        h = match_onsets(a, b, tol); tp += h; n_ref += len(a); n_est += len(b)
        per.append(2 * h / max(len(a) + len(b), 1))
    p, rc = tp / max(n_est, 1), tp / max(n_ref, 1)
    return dict(precision=p, recall=rc, f1=2 * p * rc / max(p + rc, 1e-12), ref_notes=n_ref, est_notes=n_est,
                matched=tp, per_window_f1=per)


def test_windows(cache_dir='cache/corpus', n_per_class=8, seed=0, split='test', length=1024):
    "`(x (N,3,128,length), y (N,))`: `n_per_class` random un-augmented windows of each class of a corpus split."
    from scg_music.data import RollDataset
    ds = RollDataset(cache_dir, split=split, length=length, augment=False)
    lab, rng = ds.labels, np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(lab == c), n_per_class, replace=False) for c in np.unique(lab)])
    return torch.stack([ds[int(i)][0] for i in idx]), torch.as_tensor(lab[idx])

@torch.no_grad()
def vae_note_f1(vae, rolls, tol=0.02, batch=8, postprocess=None) -> dict:
    """Note F1 of `postprocess(vae.decode(vae.encode(rolls)))` against `rolls` (posterior mode, decoded in batches of
    `batch` rolls); `postprocess` defaults to the VAE's fitted roll post-processing `vae.postprocess`, as the pipeline
    applies it."""
    vae = vae.eval(); pp = postprocess if postprocess is not None else vae.postprocess
    rec = torch.cat([pp(vae.decode(vae.encode(x))).clamp(-1, 1) for x in torch.as_tensor(rolls).split(batch)])
    return note_f1(rolls, rec, tol)

def read_log(path) -> dict:
    "A training JSONL log as `{column: np.array}` of its numeric columns (missing values NaN; per-feature dicts dropped)."
    rows = [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]
    keys = sorted({k for r in rows for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return {k: np.array([r.get(k, np.nan) for r in rows], dtype=np.float64) for k in keys}


def measure_vae(vae, cache_dir='cache/corpus', n_per_class=8, seed=0, tol=0.02) -> dict:
    "VAE note F1 on `n_per_class` random test windows per class: pooled and per class."
    x, y = test_windows(cache_dir, n_per_class, seed)
    t0 = time.time()
    out = {k: v for k, v in vae_note_f1(vae, x, tol).items()}
    per = np.array(out.pop('per_window_f1'))
    out['per_class_mean_window_f1'] = {int(c): float(per[(y == c).numpy()].mean()) for c in y.unique()}
    out.update(windows=len(x), tol_s=tol, seconds=round(time.time() - t0, 1))
    return out


def median_notes(cache_dir='cache/corpus', n_per_class=400, seed=7, split='test') -> dict:
    "`{class: median notes per 10.24 s}` of `n_per_class` random windows per class of a split (test: the unguided bar's reference)."
    return _median_notes(*test_windows(cache_dir, n_per_class, seed, split=split))

def _median_notes(x, y) -> dict:
    "`{class: median notes per roll}` of rolls `x` with labels `y`."
    return {int(c): float(np.median([len(note_table(r)) for r in x[y == c]])) for c in y.unique()}


def measure_unguided(pipe, cache_dir='cache/corpus', n_per_class=8, n_ref=32, steps=20, seed=0, num_runs=10, cfg=None, eta=None) -> dict:
    """Unguided class-conditional samples (DDIM-`steps`, `eta` (None: the pipeline's `unguided_eta`), classifier-free guidance weight `cfg`) vs `n_ref` test windows of the same class:
    OA per feature (`scg_music.evaluate.oa_metrics`), plus the test set against itself as a ceiling."""
    from scg_music.evaluate import feature_matrix, oa_metrics
    x, y = test_windows(cache_dir, n_ref, seed + 1)
    out = {}
    for c in range(pipe.dit.num_classes):
        t0 = time.time()
        rolls = pipe.sample(n_per_class, class_label=c, sampler='ddim', steps=steps, seed=seed + c, progress=False, cfg=cfg, eta=eta)
        dt = time.time() - t0
        ref = x[(y == c).numpy()]
        rf, gf = feature_matrix(list(ref)), feature_matrix(list(rolls))
        half = feature_matrix(list(ref[:n_per_class]))
        oa = oa_metrics(rf, gf, num_runs=num_runs, seed=seed)
        ceil = oa_metrics(feature_matrix(list(ref[n_per_class:])), half, num_runs=num_runs, seed=seed)
        st, sr = [onset_stats(r) for r in rolls], [onset_stats(r) for r in ref]
        vel = lambda s: np.concatenate([v for _, v in s]) if any(len(v) for _, v in s) else np.zeros(1)
        out[int(c)] = dict(oa=oa['mean'], oa_test_vs_test=ceil['mean'], samples=n_per_class, reference=len(ref),
                           onset_fraction=float(np.nanmean([f for f, _ in st])), onset_fraction_reference=float(np.nanmean([f for f, _ in sr])),
                           velocity_p10_p90=np.percentile(vel(st), [10, 90]).tolist(), velocity_p10_p90_reference=np.percentile(vel(sr), [10, 90]).tolist(),
                           notes_per_sample=float(np.mean([len(note_table(r)) for r in rolls])),
                           notes_median=float(np.median([len(note_table(r)) for r in rolls])),
                           notes_per_reference=float(np.mean([len(note_table(r)) for r in ref])), seconds=round(dt, 1))
    return out


@torch.no_grad()
def calibrate_vae(vae, rolls, grid_notes=(-0.95, -0.9, -0.8, -0.7, -0.6, -0.5, -0.4, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3),
                  grid_onsets=(0.008, 0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95),
                  grid_orphans=(None, -0.5, -0.3, -0.1, 0.0, 0.1, 0.2, 0.3, 0.5), tol=0.02, keep_tol=0.02, batch=8) -> dict:
    """Fit the VAE's roll post-processing `vae.postprocess` (`thresholds` and `orphan_min`, saved in its config as
    `out_thresholds` and `orphan_min`) on `rolls` (train windows) by grid search on note F1; returns the fitted values,
    the F1, the best F1 of the grid and the grid. The orphan filter chosen is the least strict one (None, then the
    lowest `orphan_min`) whose best F1 is within `keep_tol` of the grid's best: generated latents decode fainter than
    reconstructions, and a stricter filter than reconstruction needs clears their notes."""
    from scg_music.vae import drop_weak_orphans, RollPostprocess
    vae = vae.eval(); rolls = torch.as_tensor(rolls)
    old = vae.out_thresholds, vae.orphan_min
    vae.out_thresholds, vae.orphan_min = None, None        # raw decodes (a stand-in VAE may post-process in decode)
    try: raw = torch.cat([vae.decode(vae.encode(x)) for x in rolls.split(batch)])
    finally: vae.out_thresholds, vae.orphan_min = old
    grid = {}
    for t0 in grid_notes:
        for t1 in grid_onsets:
            cal = RollPostprocess([t0, t1, None]).calibrate(raw)
            for om in grid_orphans:
                f = note_f1(rolls, (cal if om is None else drop_weak_orphans(cal, om)).clamp(-1, 1), tol)['f1']
                grid[(t0, t1, om)] = f
    top = max(grid.values())
    def strictness(k): return -2.0 if k[2] is None else k[2]
    ok = [k for k, f in grid.items() if f >= top - keep_tol]
    om = min(ok, key=strictness)[2]
    best = max((f, k) for k, f in grid.items() if k[2] == om)
    ref = rolls[:, 2] > -0.95
    def pix_f1(t):
        est = raw[:, 2] > t; tp = (est & ref).sum().item()
        return 2 * tp / max(est.sum().item() + ref.sum().item(), 1)
    t2 = max(grid_notes, key=pix_f1)
    vae.out_thresholds, vae.orphan_min = [best[1][0], best[1][1], t2], best[1][2]     # the fields of vae.postprocess
    return dict(out_thresholds=vae.out_thresholds, orphan_min=vae.orphan_min, f1=best[0], best_f1=top,
                pedal_pixel_f1=pix_f1(t2), windows=len(rolls), grid={f'{a:g},{b:g},{c}': f for (a, b, c), f in grid.items()})


def calibrate_run(src='runs/bundled_vae_decoder/ema', dst='runs/bundled_vae_decoder/calibrated', cache_dir='cache/corpus', n_per_class=8,
                  seed=1) -> dict:
    "Calibrate the VAE export `src` on `n_per_class` train windows per class and save it as `dst` (what ships)."
    from scg_music.checkpoints import load_model, save_model, model_config
    vae = load_model(src)
    x, _ = test_windows(cache_dir, n_per_class, seed, split='train')
    res = calibrate_vae(vae, x)
    meta = dict(model_config(src)); meta.pop('class', None)
    save_model(vae, dst, {k: v for k, v in meta.items() if k in ('train_step',)} | dict(calibration={k: v for k, v in res.items() if k != 'grid'}))
    return {k: v for k, v in res.items() if k != 'grid'}


@torch.no_grad()
def calibrate_generation(pipe, cache_dir='cache/corpus', n_per_class=16, n_ref=32, steps=50, seed=0,
                         grid_onsets=(-0.3, 0.0, 0.3), grid_orphans=(0.15, 0.3, 0.45), grid_snap=(4,), grid_hold=(8, 16),
                         f1_slack=0.005, eta=1.0, min_onset=None, notes_tol=None) -> dict:
    """Fit the onset and velocity steps of `pipe.vae.postprocess` (`out_thresholds[1]`, `orphan_min`, `onset_snap`,
    `velocity_frames`) on the pipeline's own unguided samples (DDIM-`steps`, `n_per_class` per class, decoded once):
    the setting whose samples have the highest mean OA against `n_ref` *train* windows per class, among those whose
    reconstruction note F1 on the same train windows is within `f1_slack` of the current step's, and (if given) whose
    samples of every class have an onset share of at least `min_onset` and a median note count within `notes_tol`
    (relative) of the class's train median. Samples are drawn with DDIM `eta`. Sets the fields and returns them
    with both F1s, the OAs and the grid (test windows are never looked at)."""
    from scg_music.vae import RollPostprocess, clear_background
    from scg_music.evaluate import feature_matrix, oa_metrics
    vae, old = pipe.vae.eval(), copy.deepcopy(pipe.vae.postprocess)
    x, y = test_windows(cache_dir, n_ref, seed + 3, split='train')
    raw = lambda zs: torch.cat([vae.decode(q) for z in zs for q in z.split(4)])     # latents in pieces -> raw rolls
    zg = torch.cat([pipe.sample_latents(n_per_class, class_label=c, sampler='ddim', steps=steps, seed=seed + c, eta=eta, progress=False)
                    for c in range(pipe.dit.num_classes)])
    gy = torch.arange(pipe.dit.num_classes).repeat_interleave(n_per_class)
    rec_raw, gen_raw = raw([vae.encode(q) for q in x.split(8)]), raw([zg])
    refs = {c: feature_matrix(list(x[y == c])) for c in range(pipe.dit.num_classes)}
    med = _median_notes(x, y)
    def score(pp):
        g = clear_background(pp(gen_raw)).clamp(-1, 1)
        oa = [oa_metrics(refs[c], feature_matrix(list(g[gy == c])), num_runs=5, seed=seed)['mean']['avg'] for c in refs]
        ons = [float(np.nanmean([onset_stats(r)[0] for r in g[gy == c]])) for c in refs]
        notes = [float(np.median([len(note_table(r)) for r in g[gy == c]])) / med[c] - 1 for c in refs]
        return float(np.mean(oa)), oa, note_f1(x, clear_background(pp(rec_raw)).clamp(-1, 1))['f1'], ons, notes
    def allowed(v):
        return (v[2] >= base[2] - f1_slack and (min_onset is None or min(v[3]) >= min_onset)
                and (notes_tol is None or max(abs(d) for d in v[4]) <= notes_tol))
    base = score(old)
    grid = {}
    for t1, om, sn, vf in itertools.product(grid_onsets, grid_orphans, grid_snap, grid_hold):
        th = list(old.thresholds or [None, None, None]); th[1] = t1
        grid[(t1, om, sn, vf)] = score(RollPostprocess(th, om, sn, vf))
    ok = {k: v for k, v in grid.items() if allowed(v)}
    if not ok: raise RuntimeError('calibrate_generation: no setting of the grid meets the constraints; widen the grid or relax them')
    k = max(ok, key=lambda k: ok[k][0])
    th = list(old.thresholds or [None, None, None]); th[1] = k[0]
    pipe.vae.postprocess = RollPostprocess(th, k[1], k[2], k[3])
    if getattr(pipe, 'postprocess', None) is not None: pipe.postprocess = pipe.vae.postprocess
    return dict(out_thresholds=th, orphan_min=k[1], onset_snap=k[2], velocity_frames=k[3], oa_train=ok[k][0],
                oa_train_per_class=[round(v, 4) for v in ok[k][1]], f1_train=ok[k][2], before=dict(oa_train=base[0], f1_train=base[2],
                postprocess=dataclasses.asdict(old)), samples_per_class=n_per_class, reference_windows_per_class=n_ref, steps=steps,
                eta=eta, min_onset=min_onset, notes_tol=notes_tol, onset_share_per_class=ok[k][3],
                notes_vs_train_median=[round(d, 4) for d in ok[k][4]], train_median_notes=list(med.values()),
                grid={f'{a:g},{b:g},{c},{d}': [round(v[0], 4), round(v[2], 4), [round(o, 3) for o in v[3]], [round(n, 3) for n in v[4]]]
                      for (a, b, c, d), v in grid.items()})


_RULE_FILES = {'pitch_hist': 'pitch', 'note_density': 'nd', 'chord_progression': 'chord'}

def guidance_configs(rule, steps=10, scg_samples=4, classifier_scale=None):
    """The four guidance settings for one rule as generate-config mappings: the shipped cond_table configs
    (no_guidance, single/classifier, single/scg) and SCG + classifier, all switched to DDIM-`steps` with guidance
    at every step and `scg_samples` SCG candidates; `classifier_scale` replaces the released classifier scale."""
    import yaml
    from scg_music.generate import CONFIG_DIR
    f = _RULE_FILES[rule]
    read = lambda sub: yaml.safe_load((CONFIG_DIR / 'cond_table' / sub / f'{f}.yml').read_text())
    cfgs = {'no_guidance': read('no_guidance'), 'classifier': read('single/classifier'), 'scg': read('single/scg')}
    both = read('single/scg'); cls = read('single/classifier')['guidance']
    both['guidance'].update(nn=True, method='classifier_guidance', cond_fn=cls['cond_fn'])
    cfgs['scg_classifier'] = both
    for c in cfgs.values():
        c['sampling'].update(use_ddim=True, timestep_respacing=f'ddim{steps}', t_end=0)
        c['guidance']['schedule'] = False
        for k in ('t_start', 't_end', 'interval'): c['guidance'].pop(k, None)
        if 'scg' in c: c['scg']['num_samples'] = scg_samples
        if classifier_scale is not None and c['guidance'].get('cond_fn'): c['guidance']['cond_fn']['classifier_scales'] = [float(classifier_scale)]
    return cfgs


def measure_guidance(pipe, out_dir, rules=('pitch_hist', 'note_density', 'chord_progression'), num_samples=20,
                     batch_size=4, steps=10, scg_samples=4, class_label=1, cache_dir='cache/corpus', seed=0, scorer='auto',
                     methods=None, classifier_scales=None) -> dict:
    """Rule-loss table `{rule: {method: {loss_mean, loss_std, n, seconds}}}` with targets from test windows of
    `class_label`; `scorer` is the SCG candidates' decoder (the reported losses always come from the full decoder);
    `classifier_scales`: None = the released configs' scales, 'pipe' = the pipeline's (the bundled classifiers' swept ones)."""
    from scg_music.generate import load_config, generate
    table = {}
    for rule in rules:
        cs = pipe.classifier_scales.get(rule) if classifier_scales == 'pipe' else (classifier_scales or {}).get(rule)
        for method, raw in guidance_configs(rule, steps, scg_samples, cs).items():
            if methods is not None and method not in methods: continue
            if 'scg' in raw: raw['scg']['scorer'] = scorer
            res = generate(pipe, load_config(raw), num_samples=num_samples, batch_size=batch_size,
                           out_dir=Path(out_dir) / f'{_RULE_FILES[rule]}_{method}', class_label=class_label, seed=seed,
                           corpus=cache_dir, png=False, progress=False, overwrite=True)   # a rerun replaces other settings' files
            s = res['summary'][rule]
            table.setdefault(rule, {})[method] = dict(s, seconds=res['seconds'])
    return table

def time_guided_excerpt(pipe, config=None, out_dir=None, seed=0) -> dict:
    """Seconds for one guided 10.24 s excerpt with the `make demo` config (DDIM-50, SCG n=8 + classifier guidance),
    written to a fresh temporary folder (`out_dir`, if given, must not hold a finished job: a job resumes its own output)."""
    import tempfile, yaml
    out_dir = out_dir or tempfile.mkdtemp(prefix='scg_model_card_speed_')
    from scg_music.demo import DEMO_CONFIG
    from scg_music.generate import load_config, generate
    raw = yaml.safe_load(Path(config or DEMO_CONFIG).read_text())
    t0 = time.time()
    res = generate(pipe, load_config(raw), num_samples=1, batch_size=1, out_dir=out_dir, seed=seed, png=False, progress=False)
    return dict(seconds=round(time.time() - t0, 1), config=str(config or DEMO_CONFIG), threads=torch.get_num_threads(),
                scorer='preview' if pipe.preview is not None else 'full', bf16=bool(pipe.bf16),
                cpu=torch.backends.cpu.get_cpu_capability(), losses=res['samples'][0]['losses'])


BUNDLED = {'vae': 'bundled_vae_decoder', 'dit': 'bundled_dit', 'classifier_pitch': 'bundled_cls_pitch',
           'classifier_nd': 'bundled_cls_nd', 'classifier_chord': 'bundled_cls_chord'}


def ship_bundled(runs='runs', dest=None, dexter=None) -> dict:
    "Copy `runs/<bundled run>/ema` into `dest` (default the package's assets/models); returns `{file: bytes}`."
    import shutil
    from scg_music.checkpoints import load_model, save_model, model_config
    from scg_music.pipeline import MODELS_DIR
    dest = Path(dest) if dest is not None else MODELS_DIR
    dest.mkdir(parents=True, exist_ok=True)
    runs = Path(runs)
    scale = model_config(runs / BUNDLED['dit'] / 'ema')['scale_factor']
    for name, run in BUNDLED.items():
        src = runs / run / 'ema'
        if name == 'vae' and (runs / run / 'calibrated.safetensors').is_file(): src = runs / run / 'calibrated'
        m, meta = load_model(src), model_config(src)
        if name == 'vae': m.scale_factor = float(scale)
        keep = ('train_step', 'rule', 'vae', 'calibration') + (() if name == 'vae' else ('scale_factor',))   # the VAE's own scale is set above
        save_model(m, dest / name, {k: v for k, v in meta.items() if k in keep}
                   | dict(run=run, config=f'scg_music/configs/train/{run}.yml'))
    dx = Path(dexter) if dexter else None
    if dx is not None and dx.is_file():
        shutil.copyfile(dx, dest / 'dexter.safetensors')
        if dx.with_suffix('.json').is_file(): shutil.copyfile(dx.with_suffix('.json'), dest / 'dexter.json')
    if abs(model_config(dest / 'vae')['scale_factor'] - scale) > 1e-12: raise RuntimeError('VAE scale factor not written')
    return {p.name: p.stat().st_size for p in sorted(dest.iterdir()) if p.is_file()}


def compare_postprocess(pipe, settings, cache_dir='cache/corpus', n_per_class=16, steps=50, seed=100) -> dict:
    """`{name: {vae_f1, unguided}}`: the VAE's test F1 (`measure_vae`) and `measure_unguided` (test windows, fresh
    `seed`) of the same pipeline under each roll post-processing in `settings` (`{name: RollPostprocess}`); the
    samples are the same under every setting (same seeds), only their decoding differs."""
    old, out = pipe.vae.postprocess, {}
    try:
        for name, pp in settings.items():
            pipe.vae.postprocess = pipe.postprocess = pp
            out[name] = dict(vae_f1=measure_vae(pipe.vae, cache_dir)['f1'],
                             unguided=measure_unguided(pipe, cache_dir, n_per_class=n_per_class, n_ref=32, steps=steps, seed=seed))
    finally: pipe.vae.postprocess = pipe.postprocess = old
    return out


GENERATION_FIT = dict(n_ref=64, grid_onsets=(-0.3, 0.0, 0.3, 0.5), grid_orphans=(0.15, 0.3, 0.45, 0.6), grid_hold=(16,),
                      min_onset=0.92, notes_tol=0.15)

def ship_generator(run='nbs/model_card/runs/full_dit/ema', dest=None, cache_dir='cache/corpus', dtype='float16', eta=0.0,
                   fit=None) -> dict:
    """Ship the long run's EMA DiT as the bundled generator: its weights stored at 16 bits (`dtype`), its recommended
    unguided DDIM `eta` in its config (`sampling.eta`, which `RuleGuidedPipeline.from_pretrained` reads), the bundled
    VAE given the DiT's latent scale and its onset/velocity post-processing fitted on the DiT's own DDIM-`eta`
    samples against train windows (`calibrate_generation` with `GENERATION_FIT`; the fit, with its grid, goes to
    nbs/model_card/generation_calibration.json). `fit`: reuse that file's fit instead of fitting again."""
    from scg_music.checkpoints import load_model, save_model, model_config
    from scg_music.pipeline import MODELS_DIR, RuleGuidedPipeline
    from scg_music.vae import RollPostprocess
    dest = Path(dest) if dest is not None else MODELS_DIR
    meta = model_config(run)
    dit, vae = load_model(run), load_model(dest / 'vae')
    vae.scale_factor = float(meta['scale_factor'])
    if fit is None:
        fit = calibrate_generation(RuleGuidedPipeline(vae, dit, device='cpu'), cache_dir, eta=eta, **GENERATION_FIT)
        (CARD / 'generation_calibration.json').write_text(json.dumps(fit, indent=1))
    else:
        fit = json.loads(Path(fit).read_text())
        if fit.get('eta', 1.0) != eta: raise ValueError(f"{fit.get('eta')=} of the given fit differs from {eta=}")
        vae.postprocess = RollPostprocess.from_config(fit)
    vmeta = {k: v for k, v in model_config(dest / 'vae').items() if k in ('train_step', 'calibration', 'run', 'config')}
    save_model(vae, dest / 'vae', vmeta | dict(generation_calibration={k: v for k, v in fit.items() if k != 'grid'}))
    save_model(dit, dest / 'dit', {k: meta[k] for k in ('train_step', 'scale_factor', 'vae') if k in meta}
               | dict(run='full_dit', config='scg_music/configs/train/full_dit.yml',
                      sampling=dict(eta=eta, why='unguided DDIM eta chosen in nbs/13_model_card.ipynb')), dtype=dtype)
    return {p.name: p.stat().st_size for p in sorted(dest.iterdir()) if p.is_file()}


CLASSIFIER_RULES = {v: k for k, v in _RULE_FILES.items()}      # bundled classifier name -> its rule

@torch.no_grad()
def measure_classifier(pipe, cache_dir='cache/corpus', n_per_class=32, seed=3, levels=(0, 250, 500, 750), split='test', rolls=None) -> dict:
    """Held-out accuracy of the pipeline's guidance classifiers: `n_per_class` windows of `split` per class (or the
    given `rolls`), encoded and noised at schedule indices `levels` (one noise per window); per classifier and level:
    pitch / nd the R^2 of its values (1 - MSE / variance of the true values), chord the window-chord and key accuracies."""
    from scg_music.diffusion import q_sample
    from scg_music.rules import get_rule
    from scg_music.train import chord_labels
    x = torch.as_tensor(rolls).float() if rolls is not None else test_windows(cache_dir, n_per_class, seed, split=split)[0]
    z = torch.cat([pipe.encode(c) for c in x.split(16)])
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(z.shape, generator=g).to(z.device)
    out = {}
    for name, clf in pipe.classifiers.items():
        rule = CLASSIFIER_RULES[name]
        lab = chord_labels(x) if get_rule(rule).classifier == 'chord' else get_rule(rule).fn(x.clone()).float()
        out[name] = {}
        for lv in levels:
            i = torch.full((len(z),), int(lv), device=z.device)
            zt, t = q_sample(pipe.diffusion, z, i, noise), pipe.diffusion.model_t(i)
            pred = [clf(a, b) for a, b in zip(zt.split(32), t.split(32))]
            if isinstance(pred[0], tuple):
                key = torch.cat([p[0] for p in pred]).argmax(-1).cpu(); ch = torch.cat([p[1] for p in pred]).argmax(-1).cpu()
                out[name][int(lv)] = dict(chord_acc=float((ch == lab[0]).float().mean()), key_acc=float((key == lab[1]).float().mean()))
            else:
                pr = torch.cat(pred).float().cpu()
                out[name][int(lv)] = dict(r2=float(1 - ((pr - lab) ** 2).mean() / lab.var(0, unbiased=False).mean()),
                                          mse=float(((pr - lab) ** 2).mean()))
    return out


def sweep_classifier_scales(pipe, rule, scales, num_samples=8, steps=50, class_label=1, cache_dir='cache/corpus', seed=11,
                            split='train') -> dict:
    """Classifier guidance alone for one rule at each of `scales`: `{scale: mean full-decoder rule loss}` over
    `num_samples` targets taken from windows of `split` (train by default, so that choosing a scale never sees the
    test windows of the guidance table); scale 0 = unguided, at the same seeds."""
    from scg_music.rules import get_rule
    x, y = test_windows(cache_dir, 4 * num_samples, seed, split=split)
    x = x[(y == class_label).numpy()][:num_samples]
    tg = {rule: get_rule(rule).fn(x.clone())}
    res = {}
    for s in scales:
        o = pipe(num_samples, tg, 'classifier' if s else None, class_label=class_label, steps=steps, seed=seed,
                 scales={rule: float(s)} if s else None, progress=False)
        res[float(s)] = float(np.mean(o.losses[rule]))
    return res


def ship_classifiers(runs='runs', scales=None, names=('pitch', 'nd', 'chord'), prefix='full_cls', dest=None) -> dict:
    """Ship the EMA exports `runs/<prefix>_<name>/ema` as the bundled guidance classifiers `classifier_<name>`, each with
    its swept classifier-guidance scale `scales[name]` in its config (`guidance_scale`, which
    `RuleGuidedPipeline.from_pretrained` reads into `pipe.classifier_scales`). They must share the bundled DiT's latent scale."""
    from scg_music.checkpoints import load_model, save_model, model_config
    from scg_music.pipeline import MODELS_DIR
    dest = Path(dest) if dest is not None else MODELS_DIR
    want = float(model_config(dest / 'dit')['scale_factor'])
    for name in names:
        src = Path(runs) / f'{prefix}_{name}' / 'ema'
        meta = model_config(src)
        if abs(float(meta['scale_factor']) / want - 1) > 1e-3:          # a rebuilt cache measures 1/std again (last digits differ)
            raise ValueError(f"{src}: latent scale {meta['scale_factor']} differs from the bundled DiT's {want}")
        extra = dict(guidance_scale=float(scales[name])) if scales and name in scales else {}
        save_model(load_model(src), dest / f'classifier_{name}', {k: v for k, v in meta.items() if k in ('train_step', 'rule', 'scale_factor')}
                   | dict(run=f'{prefix}_{name}', config=f'scg_music/configs/train/{prefix}_{name}.yml') | extra)
    return {p.name: p.stat().st_size for p in sorted(dest.iterdir()) if p.is_file()}


def ship_preview(run='nbs/model_card/runs/preview_decoder/ema', dest=None) -> dict:
    """Ship a preview decoder's EMA export as the bundled `preview_decoder` (SCG's candidate scorer under `scorer='auto'`).
    It must have been distilled from the bundled VAE (its config's `vae`)."""
    from scg_music.checkpoints import load_model, save_model, model_config
    from scg_music.pipeline import MODELS_DIR
    dest = Path(dest) if dest is not None else MODELS_DIR
    meta = model_config(run)
    if Path(meta.get('vae', '')).resolve() != (MODELS_DIR / 'vae').resolve():
        raise ValueError(f"{run}: distilled from {meta.get('vae')!r}, not the bundled VAE")
    keep = ('train_step', 'vae', 'calibration')
    save_model(load_model(run), dest / 'preview_decoder', {k: v for k, v in meta.items() if k in keep} | dict(run=str(run)))
    return {p.name: p.stat().st_size for p in sorted(dest.iterdir()) if p.is_file()}


@torch.no_grad()
def plot_unguided_vs_test(pipe, path, cache_dir='cache/corpus', n_per_class=2, steps=50, seed=0):
    """A picture for the card: `n_per_class` unguided DDIM-`steps` samples of each class (seeds `seed + class`, as
    `measure_unguided`) beside as many random test windows of that class, as piano rolls; saved to `path` (PNG)."""
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from scg_music.pianoroll import plot_roll
    names = {0: 'classical performance', 1: 'sheet music', 2: 'pop'}
    x, y = test_windows(cache_dir, n_per_class, seed + 1)
    C = pipe.dit.num_classes
    fig, axs = plt.subplots(C, 2 * n_per_class, figsize=(4 * n_per_class * 2, 2.6 * C), squeeze=False)
    for c in range(C):
        rolls = pipe.sample(n_per_class, class_label=c, sampler='ddim', steps=steps, seed=seed + c, progress=False)
        ref = x[(y == c).numpy()]
        for j in range(n_per_class):
            plot_roll(rolls[j], ax=axs[c, j], title=f'{names.get(c, c)}: sample {j}')
            plot_roll(ref[j], ax=axs[c, n_per_class + j], title=f'{names.get(c, c)}: test window {j}')
    fig.tight_layout(); fig.savefig(path, dpi=70); plt.close(fig)
    return str(path)


def main(argv=None):
    """`python tools/model_card.py calibrate_run|ship_bundled|ship_generator|ship_classifiers|ship_preview`: run one release step with its
    defaults, print the result (`ship_classifiers` takes the scales chosen in `model_card/classifiers.json`)."""
    import argparse
    ap = argparse.ArgumentParser(prog='tools/model_card.py', description=main.__doc__)
    ap.add_argument('step', choices=['calibrate_run', 'ship_bundled', 'ship_generator', 'ship_classifiers', 'ship_preview'])
    a = ap.parse_args(argv)
    kw = dict(scales=json.loads((CARD / 'classifiers.json').read_text())['chosen']) if a.step == 'ship_classifiers' else {}
    print(globals()[a.step](**kw))

if __name__ == '__main__': main()
