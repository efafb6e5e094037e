"Configs (every shipped one validates; bad ones fail clearly) and the generate / edit jobs end to end on real MIDI."
import copy, json
from pathlib import Path
import pytest, torch, yaml
from scg_music.pianoroll import BadInputError
from scg_music.generate import (load_config, shipped_configs, find_config, CONFIG_DIR, generate, edit, generate_main, edit_main,
                                config_schedule, config_targets, tile_windows)
from scg_music.diffusion import Diffusion

torch.set_num_threads(1)

@pytest.mark.parametrize('path', shipped_configs(), ids=lambda p: str(p.relative_to(CONFIG_DIR)))
def test_shipped_config_validates(path):
    cfg = load_config(path, kind='edit' if path.parts[-2] == 'edit' or 'edit' in path.relative_to(CONFIG_DIR).parts[:1] else None)
    assert cfg.rule_names

def test_schema_module_is_reexported_and_imports_no_jobs():
    "The schema lives in `jobconfig`; `generate` re-exports its public names (same objects); `jobconfig` never imports the jobs."
    import subprocess, sys
    import scg_music.jobconfig as jc, scg_music.generate as g
    for n in jc.__all__: assert getattr(g, n) is getattr(jc, n) and n in g.__all__, n
    code = "import sys, scg_music.jobconfig; sys.exit(int('scg_music.generate' in sys.modules or 'scg_music.pipeline' in sys.modules))"
    assert subprocess.run([sys.executable, '-c', code]).returncode == 0

def test_shipped_set_is_complete():
    names = {str(p.relative_to(CONFIG_DIR).with_suffix('')) for p in shipped_configs()}
    for k in ('pitch', 'nd', 'chord'):
        for m in ('no_guidance', 'single/classifier', 'single/dps_nn', 'single/scg'):
            assert f'cond_table/{m}/{k}' in names
    for m in ('classifier', 'dps_nn', 'scg', 'scg_classifier_all', 'scg_dps_nn_all'): assert f'cond_table/all/{m}' in names
    assert {'cond_demo/demo1', 'cond_demo/demo2', 'cond_demo/demo3', 'edit/nd_500_num16', 'edit/chord'} <= names
    c = load_config(find_config('cond_table/all/scg_classifier_all'))
    assert c.scg.num_samples == 16 and c.scg.weights == {'pitch_hist': 40., 'note_density': 1., 'chord_progression': 1.}
    assert c.guidance.cond_fn.classifier_scales == [400., 10., 10.] and c.guidance.schedule and c.guidance.t_start == 750

RELEASED_SINGLE_DPS_RULE = """
target_rules:
  pitch_hist: Null
guidance:
  vae: True  # whether need to decode during sampling process
  nn: False   # whether to use classifier
  beam: False
  method: dps
  schedule: False
  step_size: 1.  # need to tune step size for dps
  cond_fn:
    rule_names: ['pitch_hist']
    fns: ['rule_x0_mse_dummy']
    classifier_scales: [1.]
sampling:
  use_ddim: False
  diff_collage: False
  t_end: 0
"""

def test_legacy_beam_is_read_as_scg():
    c = load_config(yaml.safe_load(RELEASED_SINGLE_DPS_RULE))
    assert c.guidance.scg is False and c.guidance.method == 'dps' and c.dataset_targets

BASE = yaml.safe_load((CONFIG_DIR / 'cond_table/all/scg_classifier_all.yml').read_text())

@pytest.mark.parametrize('mutate,msg', [
    (lambda d: d['target_rules'].update(pitch_histogram=None), 'unknown rule'),
    (lambda d: d['target_rules'].update(vertical_nd=[1, 2, 3], horizontal_nd=[1, 2, 3]), 'target_rules.vertical_nd`: needs 8'),
    (lambda d: d['target_rules'].pop('horizontal_nd'), 'needs its partner'),
    (lambda d: d['target_rules'].update(chord_progression=[1, 2, 3, 4, 5, 6, 7, 9]), 'chord degrees must be integers 0..7'),
    (lambda d: d['guidance'].pop('nn'), 'missing required key `guidance.nn`'),
    (lambda d: d.pop('guidance'), 'missing required section `guidance`'),
    (lambda d: d['guidance']['cond_fn']['classifiers'].pop('paths'), 'missing required key `guidance.cond_fn.classifiers.paths`'),
    (lambda d: d['guidance']['cond_fn']['fns'].__setitem__(0, 'grad_magic'), '`guidance.cond_fn.fns[0]`: unknown condition function'),
    (lambda d: d['guidance'].update(t_start='late'), '`guidance.t_start`: expected an integer'),
    (lambda d: d['scg'].pop('num_samples'), 'missing required key `scg.num_samples`'),
    (lambda d: d['scg'].update(num_samples=0), '`scg.num_samples`: must be in 1..1024, got 0'),
    (lambda d: d.update(sampling={'use_ddim': True}), 'use_ddim needs a respacing'),
    (lambda d: d.update(sampling={'diff_collage': True}), 'the `dc` section is missing'),
    (lambda d: d.update(extra=1), 'unknown key `extra`'),
    (lambda d: d['guidance'].update(vae=False), 'SCG scores decoded piano rolls'),
])
def test_bad_configs_fail_clearly(mutate, msg):
    d = copy.deepcopy(BASE); mutate(d)
    with pytest.raises(BadInputError) as e: load_config(d)
    assert msg in str(e.value)

def test_bad_files(tmp_path):
    with pytest.raises(BadInputError, match='not found'): load_config(tmp_path / 'nope.yml')
    (tmp_path / 'bad.yml').write_text('guidance: [unclosed')
    with pytest.raises(BadInputError, match='not valid YAML'): load_config(tmp_path / 'bad.yml')
    with pytest.raises(BadInputError, match='not found'): find_config('cond_table/nothing')

def test_edit_config_checks():
    d = yaml.safe_load((CONFIG_DIR / 'edit/nd_scg_given_target.yml').read_text())
    d['edit']['l_end'] = 70
    with pytest.raises(BadInputError, match='multiples of 16'): load_config(d)
    d['edit']['l_end'] = 80                      # 3 windows, but the targets give 2
    with pytest.raises(BadInputError, match='needs 3 values'): load_config(d)
    d = yaml.safe_load((CONFIG_DIR / 'cond_table/single/scg/nd.yml').read_text())
    d['target_rules'] = {'vertical_nd': 1, 'horizontal_nd': 1}
    with pytest.raises(BadInputError, match='only valid for note density in edit'): load_config(d)

def test_schedule_rescaling():
    c = load_config(find_config('cond_table/single/scg/nd'))
    diff, sampler, sched, t_end = config_schedule(c, Diffusion.linear())
    assert sampler == 'ddpm' and diff.num_timesteps == 1000 and sched == (750, 0, 1)
    diff, _, sched, _ = config_schedule(c, Diffusion.linear(), steps=100)
    assert diff.num_timesteps == 100 and sched == (75, 0, 1)
    c = load_config(find_config('cond_table/abla/sampling/ddim/ddim25'))
    diff, sampler, sched, _ = config_schedule(c, Diffusion.linear())
    assert sampler == 'ddim' and diff.num_timesteps == 25 and sched is None

def test_targets_parsing_and_long_tiling():
    c = load_config(find_config('cond_demo/demo1'))
    t = config_targets(c)
    assert torch.allclose(t['note_density'][8:], torch.tensor([5., 5, 10, 15, 15, 10, 5, 5]) / 5)
    assert abs(float(t['pitch_hist'].sum()) - 1) < 1e-6 and t['chord_progression'].dtype == torch.long
    long = tile_windows('note_density', t['note_density'], 20)
    assert long.shape == (40,) and torch.equal(long[:8], t['note_density'][:8]) and torch.equal(long[20:28], t['note_density'][8:])

# ---------------------------------------------------------------------------------------------------------------------
# jobs, end to end, with tiny random models and a small real corpus

@pytest.fixture(scope='module')
def pipe():
    from scg_music.pipeline import RuleGuidedPipeline
    from scg_music.dit import DIT_CONFIGS
    from scg_music.vae import AutoencoderKL, VAE_CONFIGS
    torch.manual_seed(0)
    dit = DIT_CONFIGS['DiTRotary_T_8']()
    for b in dit.blocks: torch.nn.init.normal_(b.adaLN_modulation[-1].weight, std=0.02)
    torch.nn.init.normal_(dit.final_layer.linear.weight, std=0.02)
    return RuleGuidedPipeline(AutoencoderKL(**VAE_CONFIGS['tiny']), dit, device='cpu')

@pytest.fixture(scope='module')
def corpus(data_dir, tmp_path_factory):
    from scg_music.data import build_corpus
    out = tmp_path_factory.mktemp('corpus')
    pop = sorted((data_dir / 'pop909').glob('*.mid'))[:4]
    build_corpus([dict(name='pop', label=2, group='file', files=[str(p) for p in pop])], out, test_fraction=0.5, workers=1, progress=False)
    return out

def test_generate_draws_fresh_dataset_targets(pipe, corpus, tmp_path):
    "null targets: every batch gets new targets from the test split (the released sampler reused one batch)."
    cfg = load_config(find_config('cond_table/no_guidance/nd'))
    res = generate(pipe, cfg, num_samples=2, batch_size=1, out_dir=tmp_path, class_label=2, steps=2, corpus=corpus, progress=False)
    t = [r['targets']['note_density'] for r in res['samples']]
    assert len(t) == 2 and t[0] != t[1]
    assert all(len(x) == 16 for x in t) and res['summary']['note_density']['n'] == 2
    assert (tmp_path / 'sample_1.mid').is_file() and (tmp_path / 'sample_1.png').is_file()
    r = json.loads((tmp_path / 'results.json').read_text())
    assert r['samples'][0]['achieved']['note_density'] and r['config']['path'].endswith('no_guidance/nd.yml')
    assert r['method'] == 'no_guidance' and r['samples'][0]['file'] == 'sample_0.mid'
    with pytest.raises(BadInputError, match='no .* excerpts of class 0'):
        generate(pipe, cfg, num_samples=1, batch_size=1, out_dir=tmp_path / 'x', class_label=0, steps=2, corpus=corpus, progress=False)

def test_edit_job_real_midi(pipe, data_dir, tmp_path):
    d = yaml.safe_load((CONFIG_DIR / 'edit/nd_shift_up.yml').read_text())
    d['scg']['num_samples'] = 2
    src = data_dir / 'pop909' / '002.mid'
    res = edit(pipe, load_config(d, kind='edit'), str(src), num_samples=1, batch_size=1, out_dir=tmp_path, class_label=2, steps=8, progress=False)
    s = res['samples'][0]
    assert s['rows'] == [32, 96] and len(s['targets']['note_density']) == 8       # 4 edited windows x (v, h)
    # class shift up: every target is at or above the source's class centre
    from scg_music.rules import VERTICAL_ND_BOUNDS
    import bisect
    for o, t in zip(s['orig']['note_density'][:4], s['targets']['note_density'][:4]):
        assert bisect.bisect(VERTICAL_ND_BOUNDS, t) == min(bisect.bisect(VERTICAL_ND_BOUNDS, o) + 1, 7)
    assert (tmp_path / 'edit_0.mid').is_file() and (tmp_path / 'gt' / 'source_0.mid').is_file()
    assert s['kept_change'] is not None and s['kept_change'] < 1e-3      # kept bars untouched (vs VAE round trip)
    with pytest.raises(BadInputError, match="earlier edit run"):          # no mixing of two runs' files in one folder
        edit(pipe, load_config(d, kind='edit'), str(src), num_samples=1, batch_size=1, out_dir=tmp_path, class_label=2, steps=4, seed=5, progress=False)
    (tmp_path / 'edit_7.mid').write_bytes(b'x')                            # a stale file of a larger earlier run
    r2 = edit(pipe, load_config(d, kind='edit'), str(src), num_samples=1, batch_size=1, out_dir=tmp_path, class_label=2, steps=4, seed=5,
              progress=False, png=False, overwrite=True)
    assert sorted(p.name for p in tmp_path.glob('edit_*')) == ['edit_0.mid'] and r2['seed'] == 5

def test_cli(pipe, tmp_path, capsys):
    from scg_music.checkpoints import save_model
    save_model(pipe.vae, tmp_path / 'models' / 'vae'); save_model(pipe.dit, tmp_path / 'models' / 'dit')
    assert generate_main(['--list-configs']) == 0
    assert 'cond_table/all/scg_classifier_all' in capsys.readouterr().out
    cfg = tmp_path / 'c.yml'
    cfg.write_text(yaml.safe_dump({'target_rules': {'pitch_hist': [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0]},
                                   'guidance': {'vae': True, 'nn': False, 'scg': False}}))
    assert generate_main(['--config', str(cfg), '--num-samples', '1', '--batch-size', '1', '--steps', '2', '--out', str(tmp_path / 'o'),
                          '--model-dir', str(tmp_path / 'models'), '--no-png']) == 0
    assert (tmp_path / 'o' / 'sample_0.mid').is_file()
    with pytest.raises(BadInputError, match='--config is required'): generate_main(['--num-samples', '1'])     # one line, not a usage block
    with pytest.raises(BadInputError, match='not an edit config|missing required section `edit`'):
        edit_main(['--config', str(cfg), '--model-dir', str(tmp_path / 'models')])

def test_generate_long_chain_with_chunked_scg(pipe, tmp_path):
    "DiffCollage chain of 2 windows (15.36 s) with given 8-window targets tiled to 12 windows, SCG per 64-row chunk."
    d = yaml.safe_load((CONFIG_DIR / 'cond_demo/long_chain.yml').read_text())
    d['dc']['num_img'] = 2; d['scg']['num_samples'] = 2
    cfg = load_config(d)
    res = generate(pipe, cfg, num_samples=1, batch_size=1, out_dir=tmp_path, class_label=1, steps=3, progress=False)
    s = res['samples'][0]
    assert res['latent_rows'] == 192 and res['frames'] == 1536
    assert len(s['targets']['note_density']) == 24 and len(s['achieved']['note_density']) == 24
    assert s['targets']['note_density'][8:12] == s['targets']['note_density'][0:4]        # cyclic tiling
    import pretty_midi
    assert pretty_midi.PrettyMIDI(str(tmp_path / 'sample_0.mid')).get_end_time() <= 15.37

def test_cli_import_registers_a_rule_for_a_long_job(pipe, tmp_path):
    "`scg-music --import rules.py generate`: a windowed rule from a file, tiled over a DiffCollage chain, SCG per chunk."
    from scg_music.cli import main
    from scg_music.checkpoints import save_model
    from scg_music.rules import RULES, unregister_rule
    save_model(pipe.vae, tmp_path / 'models' / 'vae'); save_model(pipe.dit, tmp_path / 'models' / 'dit')
    (tmp_path / 'my_rules.py').write_text(
        "import torch\nfrom scg_music.rules import register_rule, _sounding\n"
        "def lowest(rolls):\n"
        "    b = _sounding(rolls); B, _, T = b.shape\n"
        "    w = b.view(B, 128, T // 128, 128).any(-1)\n"
        "    return torch.where(w, torch.arange(128)[None, :, None], 128).amin(1).float()\n"
        "register_rule('lowest_t', lowest, 'mse', dim=8, layout='windows')\n")
    d = yaml.safe_load((CONFIG_DIR / 'cond_demo/long_chain.yml').read_text())
    d['target_rules'] = {'lowest_t': [40.0, 42, 44, 46, 48, 50, 52, 54]}
    d['scg'] = {'num_samples': 2, 'lowest_t': 1.0}; d['dc']['num_img'] = 2
    (tmp_path / 'c.yml').write_text(yaml.safe_dump(d))
    try:
        assert main(['--import', str(tmp_path / 'my_rules.py'), 'generate', '--config', str(tmp_path / 'c.yml'), '--num-samples', '1',
                     '--batch-size', '1', '--steps', '2', '--out', str(tmp_path / 'o'), '--model-dir', str(tmp_path / 'models'), '--no-png']) == 0
        s = json.loads((tmp_path / 'o' / 'results.json').read_text())['samples'][0]
        assert len(s['targets']['lowest_t']) == 12 and s['targets']['lowest_t'][8:] == [40.0, 42, 44, 46]     # tiled per window
        assert len(s['achieved']['lowest_t']) == 12
    finally:
        if 'lowest_t' in RULES: unregister_rule('lowest_t')
