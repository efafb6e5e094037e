"""RuleGuidedPipeline end to end with tiny random models: sampling -> rolls -> MIDI/PNG/WAV, loading our checkpoints
and files in the released formats, guidance hooks reaching the sampler."""
from pathlib import Path
import numpy as np
import pretty_midi
import pytest
import torch
from scg_music.vae import AutoencoderKL, VAE_CONFIGS
from scg_music.dit import DIT_CONFIGS, DiTRotaryClassifier
from scg_music.checkpoints import save_model
from scg_music.pipeline import RuleGuidedPipeline

def tiny_models(seed=0, std=0.02):
    torch.manual_seed(seed)
    vae = AutoencoderKL(**VAE_CONFIGS['tiny'])
    dit = DIT_CONFIGS['DiTRotary_T_8']()
    for p in dit.parameters():
        if p.requires_grad: torch.nn.init.normal_(p, std=std)
    return vae, dit

@pytest.fixture(scope='module')
def pipe():
    vae, dit = tiny_models()
    with torch.no_grad():     # shift the decoder output so that most of the roll is background (-1): sparse notes
        vae.decoder.conv_out.bias.copy_(torch.tensor([-1.0, -1.0, -1.0]))
    return RuleGuidedPipeline(vae, dit, device='cpu')

def test_unguided_sampling_to_valid_midi(pipe, tmp_path):
    rolls = pipe.sample(2, class_label=2, sampler='ddim', steps=20, seed=3, progress=False)
    assert rolls.shape == (2, 3, 128, 1024) and torch.isfinite(rolls).all()
    assert rolls.min() >= -1 and rolls.max() <= 1
    paths = RuleGuidedPipeline.save(rolls, tmp_path, prefix='s', labels=[2, 2])
    names = sorted(p.name for p in paths)
    assert names == ['s_0_y2.mid', 's_0_y2.png', 's_0_y2.wav', 's_1_y2.mid', 's_1_y2.png', 's_1_y2.wav']
    total = 0
    for i in range(2):
        pm = pretty_midi.PrettyMIDI(str(tmp_path / f's_{i}_y2.mid'))
        notes = [n for ins in pm.instruments for n in ins.notes]
        total += len(notes)
        for n in notes:
            assert 21 <= n.pitch <= 108 and 0 <= n.start < n.end <= 10.24 + 0.005 and 1 <= n.velocity <= 127
        # the MIDI written equals the pipeline's own conversion
        assert len(notes) == sum(len(ins.notes) for ins in pipe.to_midi(rolls[i])[0].instruments)
    assert total > 0
    assert all(p.stat().st_size > 0 for p in paths)
    assert not list(tmp_path.glob('.*tmp'))

def test_sampling_is_seeded_and_samplers_agree_in_shape(pipe):
    a = pipe.sample(1, class_label=0, steps=5, seed=11, progress=False, frames=256)
    b = pipe.sample(1, class_label=0, steps=5, seed=11, progress=False, frames=256)
    c = pipe.sample(1, class_label=0, steps=5, seed=12, progress=False, frames=256)
    assert torch.equal(a, b) and not torch.equal(a, c)
    d, z = pipe.sample(2, class_label=None, sampler='ddpm', steps=8, cfg=None, seed=0, progress=False, frames=128,
                       return_latents=True)
    assert d.shape == (2, 3, 128, 128) and z.shape == (2, 4, 16, 16)
    e = pipe.sample(2, class_label=[0, 1], sampler='ddim', steps=4, eta=0.0, cfg=3.0, seed=0, progress=False, frames=128)
    assert e.shape == (2, 3, 128, 128)

def test_cfg_matches_formula(pipe):
    x, t, y = torch.randn(2, 4, 16, 16), torch.tensor([500, 20]), torch.tensor([0, 2])
    with torch.no_grad():
        got = pipe.model_fn(cfg=4.0)(x, t, y=y)
        cond, unc = pipe.model_fn()(x, t, y=y), pipe.model_fn()(x, t, y=torch.full_like(y, 3))
    assert torch.allclose(got, 5 * cond - 4 * unc, atol=1e-5)

def test_callback_observes_steps(pipe):
    steps = []
    a = pipe.sample(1, steps=6, seed=0, progress=False, frames=128, callback=lambda s: steps.append(s.index))
    b = pipe.sample(1, steps=6, seed=0, progress=False, frames=128)
    assert steps == [5, 4, 3, 2, 1, 0] and torch.equal(a, b)          # observing changes nothing

def test_scg_guide_integration(pipe):
    "SCG as the diffusion core's guide: n candidates scored by a rule on decoded x0-hat."
    G = pytest.importorskip('scg_music.guidance')
    R = pytest.importorskip('scg_music.rules')
    from scg_music import diffusion as D
    target = R.get_rule('note_density').fn(-torch.ones(1, 3, 128, 128))
    score = G.RuleScore(targets={'note_density': target}, decode=lambda z: pipe.decode(z, threshold=True))
    guide = G.Guide(select=G.SCGSelect(score, n=2))
    z = D.sample(pipe.model_fn(), pipe.schedule('ddim', 4), pipe.latent_shape(1, 128), sampler='ddim',
                 model_kwargs={'y': torch.tensor([1])}, generator=torch.Generator().manual_seed(0), guide=guide, progress=False)
    assert z.shape == (1, 4, 16, 16)

def test_errors(pipe, tmp_path):
    with pytest.raises(ValueError, match='class_label'): pipe.sample(1, class_label=9, steps=2, progress=False)
    with pytest.raises(ValueError, match='class_label'): pipe.sample(3, class_label=[0, 1], steps=2, progress=False)
    with pytest.raises(ValueError, match='sampler'): pipe.sample(1, sampler='heun', steps=2, progress=False)
    with pytest.raises(ValueError, match='multiple'): pipe.sample(1, steps=2, frames=1000, progress=False)
    with pytest.raises(ValueError, match='steps'): pipe.sample(1, steps=0, progress=False)
    with pytest.raises(FileNotFoundError, match='vae.safetensors'): RuleGuidedPipeline.from_pretrained(tmp_path)

def test_from_pretrained_roundtrip(tmp_path):
    vae, dit = tiny_models(seed=5)
    vae.scale_factor = 1.3
    cls = DIT_CONFIGS['DiTRotary-T/8-cls'](num_classes=16)
    save_model(vae, tmp_path / 'vae'); save_model(dit, tmp_path / 'dit'); save_model(cls, tmp_path / 'classifier_nd')
    p = RuleGuidedPipeline.from_pretrained(tmp_path, device='cpu')
    assert p.vae.scale_factor == 1.3 and list(p.classifiers) == ['nd'] and isinstance(p.classifiers['nd'], DiTRotaryClassifier)
    ref = RuleGuidedPipeline(vae, dit, device='cpu')
    a, b = p.sample(1, steps=3, seed=0, progress=False, frames=128), ref.sample(1, steps=3, seed=0, progress=False, frames=128)
    assert (a - b).abs().max() < 1e-4        # same weights; bitwise equality is not guaranteed across memory layouts

def test_from_released_formats(tmp_path):
    vae, dit = tiny_models(seed=7)
    sd = dict(vae.state_dict(), **{'loss.logvar': torch.zeros(())})
    torch.save({'epoch': 14, 'state_dict': sd}, tmp_path / 'epoch_14.ckpt')
    torch.save(dict(dit.state_dict()), tmp_path / 'ema.pt')
    (tmp_path / 'nd').mkdir(); (tmp_path / 'chord').mkdir()
    torch.save(dict(DIT_CONFIGS['DiTRotary-T/8-cls'](num_classes=16).state_dict()), tmp_path / 'nd' / 'model009999.pt')
    torch.save(dict(DIT_CONFIGS['DiTRotary-T/8-chord-cls']().state_dict()), tmp_path / 'chord' / 'model004999.pt')
    p = RuleGuidedPipeline.from_released(tmp_path / 'epoch_14.ckpt', tmp_path / 'ema.pt',
                                         [tmp_path / 'nd' / 'model009999.pt', tmp_path / 'chord' / 'model004999.pt'],
                                         device='cpu')
    assert sorted(p.classifiers) == ['chord', 'nd'] and p.classifiers['chord'].chord
    assert all(torch.equal(a, b) for a, b in zip(p.dit.state_dict().values(), dit.state_dict().values()))
    assert p.sample(1, steps=2, seed=0, progress=False, frames=128).shape == (1, 3, 128, 128)

def test_real_midi_through_pipeline(pipe, data_dir):
    "A real MIDI file -> roll -> latents -> roll with the pipeline's layout (model untrained: shapes/ranges only)."
    from scg_music.pianoroll import midi_to_roll
    roll = torch.as_tensor(midi_to_roll(data_dir / 'partitura_examples' / 'mozart_k265_var1.mid'), dtype=torch.float32)
    T = roll.shape[-1] // 128 * 128
    x = roll[None, :, :, :T]
    z = pipe.encode(x)
    assert z.shape == (1, 4, T // 8, 16)
    with torch.no_grad(): back = pipe.decode(z)
    assert back.shape == x.shape
    pm = pipe.to_midi(x)[0]
    assert len(pm.instruments[0].notes) > 50

def test_bf16_autocast_path_close(pipe):
    "The autocast path (default on CUDA) exercised on CPU: same seed -> latents close to float32 sampling."
    p16 = RuleGuidedPipeline(pipe.vae, pipe.dit, device='cpu', bf16=True)
    _, z32 = pipe.sample(2, class_label=1, steps=5, seed=4, progress=False, frames=128, return_latents=True)
    r16, z16 = p16.sample(2, class_label=1, steps=5, seed=4, progress=False, frames=128, return_latents=True)
    assert z16.dtype == torch.float32 and r16.dtype == torch.float32
    assert (z16 - z32).abs().max() < 0.05 * z32.abs().max()

# ---------------------------------------------------------------------------------------------------------------------
# pipe(...): the one guided-sampling call

GOAL2 = {'pitch_hist': [2, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0], 'vertical_nd': [2.0, 3.0], 'horizontal_nd': [5.0, 10.0]}

def test_call_scg_batch_class_names_and_save(pipe, tmp_path):
    import json
    out = pipe(2, GOAL2, 'scg', class_label='pop', steps=3, n_candidates=2, seed=0, progress=False, frames=256)
    assert out.rolls.shape == (2, 3, 128, 256) and isinstance(out.rolls, np.ndarray) and out.latents.shape == (2, 4, 32, 16)
    assert list(out.losses) == ['pitch_hist', 'note_density'] and len(out.losses['note_density']) == 2
    assert len(out.values['note_density'][0]) == 4 and len(out.midi) == 2 and out.seconds > 0
    again = pipe(2, GOAL2, 'scg', class_label=2, steps=3, n_candidates=2, seed=0, progress=False, frames=256)
    plain = pipe(2, GOAL2, None, class_label=2, steps=3, seed=0, progress=False, frames=256)
    assert np.array_equal(out.rolls, again.rolls) and not torch.equal(out.latents, plain.latents)
    # the values are those of the full decoded rolls
    from scg_music.rules import get_rule
    assert np.allclose(get_rule('note_density').fn(torch.from_numpy(out.rolls)).numpy(), out.values['note_density'])
    paths = out.save(tmp_path, prefix='s')
    assert sorted(p.name for p in paths) == ['s_0.mid', 's_1.mid', 'ss.json'] and not list(tmp_path.glob('.*tmp'))
    info = json.loads((tmp_path / 'ss.json').read_text())
    assert info['samples'][1]['losses'] == {k: v[1] for k, v in out.losses.items()} and info['settings']['class_label'] == 2
    assert len(pretty_midi.PrettyMIDI(str(tmp_path / 's_0.mid')).instruments[0].notes) == len(out.midi[0].instruments[0].notes)

def test_call_dps_rule_edit_callback_and_targets_file(pipe, data_dir):
    seen = []
    base = pipe(1, GOAL2, 'dps', steps=3, seed=1, progress=False, frames=256)       # no classifiers: differentiable rules
    ed = pipe(1, GOAL2, 'scg', steps=6, n_candidates=2, seed=2, progress=False, frames=256, callback=lambda k, T, x0: seen.append((k, T)),
              edit=dict(latents=base.latents, windows=(2, 2), noise_level=600))
    dz = (ed.latents - base.latents).abs()[0].mean((0, 2))
    assert float(dz[:16].max()) < 1e-5 and float(dz[16:].mean()) > 1e-3 and seen[-1][0] == seen[-1][1] == len(seen)
    midi = data_dir / 'pop909' / '002.mid'
    from scg_music.pipeline import resolve_targets
    t = resolve_targets(midi, n=1)
    assert set(t) == {'pitch_hist', 'note_density', 'chord_progression'} and t['note_density'].shape == (1, 16)

def test_call_errors_are_one_line(pipe):
    from scg_music.pianoroll import BadInputError
    cases = [(dict(guidance='beam'), 'unknown guidance'), (dict(class_label='jazz'), 'unknown class'),
             (dict(targets={'pitch_histogram': [1] * 12}), 'unknown rule'), (dict(targets=None), 'needs rule targets'),
             (dict(guidance='classifier'), 'no guidance classifiers'), (dict(targets={'chord_progression': [1] * 8}), 'needs 2'),
             (dict(edit=dict(latents=torch.zeros(1, 4, 32, 16), windows=(1, 3))), 'edit windows'), (dict(n_candidates=0), '>= 1')]
    for kw, msg in cases:
        args = dict(dict(targets=GOAL2, steps=2, progress=False, frames=256), **kw)
        with pytest.raises(BadInputError, match=msg): pipe(1, **args)
    with pytest.raises(BadInputError, match=r'pipe\(n, targets'): pipe.sample(1, targets=GOAL2, steps=2, progress=False)

def test_to_device_keeps_one_bf16_policy(monkeypatch):
    vae, dit = tiny_models(seed=3)
    p = RuleGuidedPipeline(vae, dit, device='cpu')
    monkeypatch.setenv('SCG_BF16', '1')
    assert p.to('cpu') is p and p.bf16 and p.device.type == 'cpu'
    monkeypatch.setenv('SCG_BF16', '0')
    assert not p.to('cpu').bf16
    assert RuleGuidedPipeline(vae, dit, device='cpu', bf16=True).to('cpu').bf16          # given explicitly: kept


def test_registered_rule_guides_scg_and_dps(pipe):
    "A rule added with one `register_rule` call: SCG scores it, DPS follows its surrogate, no surrogate -> clear error."
    from scg_music.pianoroll import BadInputError
    from scg_music.rules import register_rule, unregister_rule, soft_note_density, note_density
    def busy(rolls): return note_density(rolls, interval=256)[:, :1]          # mean sounding pitches, first 2.56 s
    def soft_busy(rolls): return soft_note_density(rolls, interval=256)[:, :1]
    register_rule('busy_t', busy, 'mse', dim=1, surrogate=soft_busy)
    register_rule('busy_hard_t', busy, 'mse', dim=1)
    try:
        goal = {'busy_t': [6.0]}
        kw = dict(steps=3, frames=256, seed=5, progress=False)
        plain = pipe(1, goal, None, **kw)
        dps = pipe(1, goal, 'dps', scales={'busy_t': 50.0}, **kw)
        scg = pipe(1, goal, 'scg', n_candidates=3, **kw)
        assert not dps.notes and not scg.notes and set(dps.losses) == {'busy_t'}
        assert (dps.latents - plain.latents).abs().max() > 1e-4 and (scg.latents - plain.latents).abs().max() > 1e-4
        assert scg.losses['busy_t'][0] == pytest.approx(float((busy(torch.as_tensor(scg.rolls)) - 6.0) ** 2), rel=1e-5)
        with pytest.raises(BadInputError, match='no guidance classifiers for busy_hard_t'):
            pipe(1, {'busy_hard_t': [6.0]}, 'dps', **kw)
    finally:
        unregister_rule('busy_t'); unregister_rule('busy_hard_t')

def test_decode_applies_the_vaes_roll_postprocess():
    "`pipe.decode` = the VAE's raw decode, then `pipe.postprocess` (the VAE's fitted step), then the threshold."
    from scg_music.vae import RollPostprocess, clear_background
    from scg_music.vae import CPU_DECODE_CHUNKS
    vae, dit = tiny_models()
    with torch.no_grad(): vae.decoder.conv_out.bias.copy_(torch.tensor([-0.6, 0.5, -0.9]))
    vae.postprocess = RollPostprocess([-0.7, 0.9, -0.8], -0.3)
    p = RuleGuidedPipeline(vae, dit, device='cpu', bf16=False)
    assert p.postprocess is vae.postprocess
    z = torch.randn(1, 4, 32, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        raw = vae.decode(z, max_chunks=CPU_DECODE_CHUNKS, channels_last=True)      # as the pipeline decodes on a CPU
        got = p.decode(z, threshold=True)
        assert torch.equal(got, clear_background(vae.postprocess(raw))) and not torch.equal(got, vae.decode(z, threshold=True))
        assert torch.equal(p.decode(z, postprocess=False), raw)
        rolls = p.sample(1, steps=2, seed=0, progress=False)
        p.postprocess = None                                      # raw decoding for research
        assert torch.equal(p.decode(z), raw)
        assert not torch.equal(p.sample(1, steps=2, seed=0, progress=False), rolls)

# --- search strategies behind the selector (issue 14) -----------------------------------------------------------
def test_tree_active1_equals_scg_and_budget(pipe):
    kw = dict(steps=4, seed=11, progress=False, frames=256, class_label=[0, 2])
    ref = pipe(2, GOAL2, 'scg', n_candidates=4, **kw)
    one = pipe(2, GOAL2, 'tree', n_candidates=4, branch=4, active=1, **kw)
    assert np.array_equal(ref.rolls, one.rolls) and torch.equal(ref.latents, one.latents)
    assert 'drawn' not in ref.settings and one.settings['drawn'] == [4, 4, 4]
    tree = pipe(2, GOAL2, 'tree', n_candidates=4, branch=2, active=3, **kw)        # K*b = 6 per sample and guided step
    assert tree.rolls.shape == ref.rolls.shape and tree.latents.shape == ref.latents.shape and len(tree.losses['pitch_hist']) == 2
    assert tree.settings['drawn'] == [6, 6, 6] and (tree.settings['branch'], tree.settings['active']) == (2, 3)
    d = pipe(2, GOAL2, 'tree', n_candidates=8, **kw).settings                    # defaults: active 2, branch 4
    assert (d['active'], d['branch']) == (2, 4)
    assert pipe(1, GOAL2, 'tree', n_candidates=8, branch=2, steps=2, progress=False, frames=256).settings['active'] == 4

def test_adaptive_n_through_pipe(pipe):
    out = pipe(1, GOAL2, 'scg', n_candidates='auto', adaptive_batch=4, steps=3, seed=0, progress=False, frames=256)
    from scg_music.pipeline import AUTO_CANDIDATES
    assert out.settings['adaptive'] and len(out.settings['drawn']) == 2 and all(8 <= d <= AUTO_CANDIDATES for d in out.settings['drawn'])
    cap = pipe(1, GOAL2, 'scg', n_candidates=6, adaptive=True, adaptive_batch=4, steps=3, seed=0, progress=False, frames=256)
    assert all(d in (6,) for d in cap.settings['drawn'])                    # 4, then the last 2 (the budget)

def test_tree_errors_are_one_line(pipe):
    from scg_music.pianoroll import BadInputError
    cases = [(dict(branch=0), 'branch must be'), (dict(active=0), 'active must be'), (dict(active=2.5), 'active must be'),
             (dict(guidance='scg', branch=2), "options of guidance='tree'"), (dict(guidance='trees'), 'unknown guidance'),
             (dict(n_candidates='auto'), "guidance='scg'"), (dict(active=2, edit=dict(latents=torch.zeros(1, 4, 32, 16), windows=(1, 1))), 'active=1')]
    for kw, msg in cases:
        args = dict(dict(targets=GOAL2, guidance='tree', steps=2, progress=False, frames=256), **kw)
        with pytest.raises(BadInputError, match=msg) as e: pipe(1, **args)
        assert '\n' not in str(e.value)


def test_preview_scorer_scores_candidates_and_the_full_decoder_makes_the_output(pipe, tmp_path):
    "scorer='auto' picks the preview decoder when there is one; the returned rolls and losses are the full decoder's."
    from scg_music.preview import PreviewDecoder
    from scg_music.core import BadInputError
    torch.manual_seed(1)
    pv = RuleGuidedPipeline(pipe.vae, pipe.dit, device='cpu', preview=PreviewDecoder(ch=16, blocks=1, hidden=32))
    goal = {'pitch_hist': [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0]}
    kw = dict(steps=3, seed=0, progress=False, frames=256, n_candidates=4)
    auto, full = pv(1, goal, 'scg', **kw), pv(1, goal, 'scg', scorer='full', **kw)
    assert auto.settings['scorer'] == 'preview' and full.settings['scorer'] == 'full'
    assert torch.equal(full.latents, pipe(1, goal, 'scg', **kw).latents)       # 'full' = the pipeline without a preview
    rolls = pv.decode(auto.latents, threshold=True).clamp(-1, 1)
    assert np.array_equal(auto.rolls, rolls.numpy())                            # output decoded by the full decoder
    assert pv(1, goal, 'tree', branch=2, active=2, **kw).settings['scorer'] == 'preview'
    assert pv(1, None, None, steps=2, progress=False, frames=256).settings['scorer'] is None
    with pytest.raises(BadInputError, match='needs a preview decoder'): pipe(1, goal, 'scg', scorer='preview', **kw)
    with pytest.raises(BadInputError, match='scorer must be one of'): pv(1, goal, 'scg', scorer='tiny', **kw)
    with pytest.raises(BadInputError, match="decoder must be 'full' or 'preview'"): pv.decode(auto.latents, decoder='x')
    # from_pretrained loads a preview_decoder beside the models
    for name, m in (('vae', pipe.vae), ('dit', pipe.dit), ('preview_decoder', pv.preview)): save_model(m, tmp_path / name)
    p = RuleGuidedPipeline.from_pretrained(tmp_path, device='cpu')
    assert p.preview is not None and torch.equal(p.decode(auto.latents, decoder='preview'), pv.decode(auto.latents, decoder='preview'))


def test_preview_decoder_decodes_chunks_independently_in_the_vae_layout():
    "Chunk k of a latent strip decodes to frames [128k, 128k+128) of the roll, whatever its neighbours hold."
    from scg_music.preview import PreviewDecoder
    torch.manual_seed(0)
    pv = PreviewDecoder(ch=16, blocks=2, hidden=32).eval()
    z = torch.randn(2, 4, 48, 16)
    with torch.no_grad():
        x = pv(z)
        assert x.shape == (2, 3, 128, 384)
        z2 = z.clone(); z2[:, :, 16:] = torch.randn(2, 4, 32, 16)
        assert torch.equal(pv(z2)[..., :128], x[..., :128])
        assert torch.allclose(pv(z[:, :, 16:32])[..., :], x[..., 128:256])
    with pytest.raises(ValueError, match='multiple of the chunk'): pv(torch.randn(1, 4, 20, 16))
