"""Parity of our VAE / DiT / classifiers with the released checkpoints (key/shape layouts, loading released formats),
parameter budgets, and exactness of the tokenizer, RoPE and latent layout."""
import argparse, ast, contextlib, json, math, re, sys, types, warnings
from pathlib import Path
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scg_music.vae import AutoencoderKL, VAE_CONFIGS
from scg_music.dit import DIT_CONFIGS, DiTRotary, DiTRotaryClassifier, RotaryEmbedding, Attention, patchify, unpatchify
from scg_music.checkpoints import load_released, save_model, load_model, CheckpointError, model_config
import scg_music

def rope_reference(x, dim, theta=10000.0):
    "Straightforward per-pair loop version of the rotary embedding."
    out = x.clone().double()
    for n in range(x.shape[-2]):
        for j in range(dim // 2):
            a = n * theta ** (-2 * j / dim)
            c, s = math.cos(a), math.sin(a)
            x0, x1 = x[..., n, 2 * j].double(), x[..., n, 2 * j + 1].double()
            out[..., n, 2 * j], out[..., n, 2 * j + 1] = x0 * c - x1 * s, x1 * c + x0 * s
    return out

def saved_keys(shapes):
    "A released layout without the RoPE `freqs` entries (a non-persistent buffer here: recomputed, not saved)."
    return {k: v for k, v in shapes.items() if not k.endswith('rotary_emb.freqs')}

def layouts(shared_dir):
    return json.loads((shared_dir / 'reference' / 'checkpoint_layouts.json').read_text())

def build_from_layout_key(key, device='meta'):
    "The module a layouts-file entry describes, e.g. 'DiTRotary-S/8-cls (input_size=(128,16), in_channels=4, num_classes=12)'."
    name, _, args = key.partition(' (')
    with torch.device(device):
        if name.startswith('AutoencoderKL'):
            return AutoencoderKL(**VAE_CONFIGS[name.split()[1]])
        kw = {k: ast.literal_eval(v) for k, v in re.findall(r'(\w+)=(\([^)]*\)|[^,)]+)', args.rsplit(')', 1)[0])}
        return DIT_CONFIGS[name](**kw)

def test_layouts_match(shared_dir):
    lay = layouts(shared_dir)
    assert len(lay) >= 6
    for key, shapes in lay.items():
        model, shapes = build_from_layout_key(key), saved_keys(shapes)
        ours = {k: list(v.shape) for k, v in model.state_dict().items()}
        missing, extra = set(shapes) - set(ours), set(ours) - set(shapes)
        bad = [k for k in shapes if k in ours and ours[k] != shapes[k]]
        assert not (missing or extra or bad), (key, sorted(missing)[:5], sorted(extra)[:5], bad[:5])
        assert list(ours) == list(shapes), key      # same order too

def nparams(m): return sum(p.numel() for p in m.parameters())

def test_param_counts():
    with torch.device('meta'):
        assert nparams(DIT_CONFIGS['DiTRotary_XL_8']()) + 18 == 673_971_122        # released counts include the 18 / 16 freqs
        assert nparams(DIT_CONFIGS['DiTRotary_B_8']()) + 16 == 129_742_896
        assert round(nparams(DIT_CONFIGS['DiTRotary-S/8-cls'](num_classes=12)) / 1e6, 2) == 32.31
        assert round(nparams(DIT_CONFIGS['DiTRotary-S/8-chord-cls']()) / 1e6, 2) == 32.35
        v = AutoencoderKL(**VAE_CONFIGS['f8-all-onset'])
        assert (nparams(v.encoder), nparams(v.decoder), nparams(v)) == (25_312_904, 37_099_011, 62_412_007)

def test_all_named_configs_build():
    for name, make in DIT_CONFIGS.items():
        with torch.device('meta'):
            m = make(num_classes=16) if name.endswith('-cls') and 'chord' not in name else make()
        assert m.config['name'] == name
    for need in ['DiTRotary-S/8-cls', 'DiTRotary-S/8-chord-cls', 'DiTRotary-XS/8-cls', 'DiTRotary-B/8-cls', 'DiTRotary_T_8',
                 'DiTRotary-T/8-cls', 'DiTRotary-T/8-chord-cls'] + [f'DiTRotary_{s}_{p}' for s in 'S B L XL'.split() for p in (8, 16)]:
        assert need in DIT_CONFIGS
    with pytest.raises(ValueError, match='num_classes'): DIT_CONFIGS['DiTRotary-S/8-cls']()

# ----- tokenizer, RoPE, layout ---------------------------------------------------------------------------------------
def test_patchify_inverse_and_order():
    x = torch.randn(3, 4, 64, 16)
    for p in (8, 16):
        t = patchify(x, p)
        assert torch.equal(unpatchify(t, 16, 4), x)
    t = patchify(x, 8)
    for k in (0, 1, 5, 77):        # token k: time row k//2, pitch half k%2, feature = pitch_offset*4 + channel
        for f in (0, 3, 13, 31):
            assert t[1, k, f] == x[1, f % 4, k // 2, 8 * (k % 2) + f // 4]
    t = patchify(x, 16)
    assert torch.equal(t[2, 9].reshape(16, 4), x[2, :, 9, :].T)

def test_rope_matches_reference_and_freqs():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 30, 72)
    r = RotaryEmbedding(36)
    assert torch.allclose(r.freqs, torch.tensor([10000 ** (-2 * j / 36) for j in range(18)]), rtol=1e-6)
    assert torch.allclose(r(x).double(), rope_reference(x, 36), atol=1e-5)
    assert torch.equal(r(x)[..., 36:], x[..., 36:])
    # bf16 input: angles computed in float32, result close to the float reference
    assert torch.allclose(r(x.bfloat16()).double(), rope_reference(x.bfloat16().float(), 36), atol=0.05)

def test_attention_matches_manual():
    torch.manual_seed(0)
    D, H, N = 64, 4, 10
    att = Attention(D, H, RotaryEmbedding(D // H // 2)).eval()
    x = torch.randn(2, N, D)
    q, k, v = att.qkv(x).reshape(2, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
    q, k = rope_reference(q, 8).float(), rope_reference(k, 8).float()
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // H), -1)
    ref = att.proj((w @ v).transpose(1, 2).reshape(2, N, D))
    assert torch.allclose(att(x), ref, atol=1e-5)

def spec_encode(roll, vae, s):
    "Spec A.1 written literally with split/cat."
    S = roll.shape[-1] // 128
    chunks = torch.split(roll, 128, dim=-1)
    h = vae.quant_conv(vae.encoder(torch.cat(chunks, 0)))
    mu = h[:, :4]
    z = torch.cat(torch.split(mu, roll.shape[0], 0), dim=-1)
    return s * z.transpose(-1, -2)

def spec_decode(z, vae, s):
    z = (z / s).transpose(-1, -2)
    n = z.shape[-1] // 16
    x = vae.decoder(vae.post_quant_conv(torch.cat(torch.split(z, 16, dim=-1), 0)))
    return torch.cat(torch.split(x, z.shape[0], 0), dim=-1)

def test_vae_layout_matches_spec():
    torch.manual_seed(0)
    vae = AutoencoderKL(**dict(VAE_CONFIGS['tiny'], scale_factor=1.2465)).eval()
    roll = torch.rand(2, 3, 128, 384) * 2 - 1
    with torch.no_grad():
        z = vae.encode(roll)
        assert z.shape == (2, 4, 48, 16)
        assert torch.allclose(z, spec_encode(roll, vae, 1.2465), atol=1e-5)
        x = vae.decode(z)
        assert torch.allclose(x, spec_decode(z, vae, 1.2465), atol=1e-5)
        xt = vae.decode(z, threshold=True)
        assert (xt[x <= -0.95] == -1).all() and torch.equal(xt[x > -0.95], x[x > -0.95])
        # chunks are independent: batching many chunks in one call == one chunk at a time
        assert torch.allclose(vae.encode(roll, max_chunks=1), z, atol=1e-5)
    with pytest.raises(ValueError, match='multiple'): vae.encode(roll[..., :300])
    with pytest.raises(ValueError): vae.decode(torch.zeros(1, 4, 40, 16))

def test_vae_loss_released_formula():
    torch.manual_seed(0)
    vae = AutoencoderKL(**VAE_CONFIGS['tiny'])
    x = torch.rand(3, 3, 128, 128) * 2 - 1
    torch.manual_seed(1); loss, logs = vae.loss(x, kl_weight=1e-2)
    torch.manual_seed(1); rec, mean, logvar = vae(x)
    kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).flatten(1).sum(1).mean()
    assert torch.allclose(loss, (x - rec).abs().flatten(1).sum(1).mean() + 1e-2 * kl, rtol=1e-5)
    loss.backward()
    assert vae.encoder.conv_in.weight.grad is not None

def test_dit_bf16_autocast_close():
    torch.manual_seed(0)
    m = DIT_CONFIGS['DiTRotary_T_8']().eval()
    for p in m.parameters():
        if p.requires_grad: torch.nn.init.normal_(p, std=0.05)
    x, t = torch.randn(2, 4, 64, 16), torch.tensor([3, 900])
    with torch.no_grad():
        ref = m(x, t, torch.tensor([0, 2]))
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = m(x, t, torch.tensor([0, 2]))
    assert out.shape == ref.shape
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max() + 0.05

# ----- released formats -------------------------------------------------------------------------------------------
def fake_tensors(shapes, gen, real=True):
    "Random tensors with the layout's shapes; `real=False` stores zero-stride expanded tensors (tiny files)."
    out = {}
    for k, s in shapes.items():
        out[k] = torch.randn(s, generator=gen) if real else torch.randn(1, generator=gen).expand(s)
    return out

def _lay(lay, prefix, contains=''):
    return next(v for k, v in lay.items() if k.startswith(prefix) and contains in k)

def test_load_released_vae_lightning(shared_dir, tmp_path):
    lay = layouts(shared_dir)
    shapes = _lay(lay, 'AutoencoderKL')
    g = torch.Generator().manual_seed(0)
    sd = fake_tensors(shapes, g)
    loss_keys = {'loss.logvar': torch.zeros(()), 'loss.perceptual_loss.scaling_layer.shift': torch.zeros(1, 3, 1, 1),
                 'loss.perceptual_loss.net.slice1.0.weight': torch.randn(64, 3, 3, 3),
                 'loss.discriminator.main.0.weight': torch.randn(64, 3, 4, 4),
                 'loss.discriminator.main.3.num_batches_tracked': torch.tensor(5)}
    with _fake_lightning() as ModelCheckpoint:
        ckpt = {'epoch': 14, 'global_step': 123, 'pytorch-lightning_version': '1.0.8', 'state_dict': {**sd, **loss_keys},
                'optimizer_states': [{'state': {}, 'param_groups': []}], 'lr_schedulers': [],
                'callbacks': {ModelCheckpoint: {'best_model_score': np.float64(0.25), 'best_model_path': 'x.ckpt'}},
                'hyper_parameters': argparse.Namespace(lr=4.5e-6)}     # framework objects: loaded as inert stand-ins
        torch.save(ckpt, tmp_path / 'epoch_14.ckpt')
        flag = tmp_path / 'RAN'                                     # a planted entry that would write this file
        torch.save(dict(ckpt, extra=_Planted(flag)), tmp_path / 'planted.ckpt')
    torch.save({'state_dict': ckpt['state_dict'], 'extra': _Planted(flag)}, tmp_path / 'planted_plain.ckpt')
    with warnings.catch_warnings():
        warnings.simplefilter('error')                              # strict: no trust needed, no warning
        vae = scg_music.load_released(tmp_path / 'epoch_14.ckpt')
    assert isinstance(vae, AutoencoderKL) and vae.scale_factor == 1.2465 and vae.config['name'] == 'f8-all-onset'
    ours = vae.state_dict()
    assert len(ours) == 248 and all(torch.equal(ours[k], sd[k]) for k in sd)
    with torch.no_grad():
        z = vae.encode(torch.zeros(1, 3, 128, 128) - 1)
        assert z.shape == (1, 4, 16, 16) and torch.isfinite(z).all()
    with pytest.raises(CheckpointError, match=r"planted\.ckpt: refusing to unpickle the global 'exec'"):
        load_released(tmp_path / 'planted.ckpt')
    assert not flag.exists()
    with pytest.warns(UserWarning, match='trust_pickle'):          # the explicit opt-in runs it (and says so)
        load_released(tmp_path / 'planted_plain.ckpt', trust_pickle=True)
    assert flag.read_text() == 'ran'

class _Planted:
    "What a hostile checkpoint pickles: a call that runs code when the file is unpickled."
    def __init__(self, path): self.path = str(path)
    def __reduce__(self): return (exec, (f"open({self.path!r}, 'w').write('ran')",))

@contextlib.contextmanager
def _fake_lightning():
    "A class importable as pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint while saving (not installed)."
    names = ['pytorch_lightning', 'pytorch_lightning.callbacks', 'pytorch_lightning.callbacks.model_checkpoint']
    assert not any(n in sys.modules for n in names)
    mods = [types.ModuleType(n) for n in names]
    mods[-1].ModelCheckpoint = type('ModelCheckpoint', (), {'__module__': names[-1]})
    sys.modules.update(zip(names, mods))
    try: yield mods[-1].ModelCheckpoint
    finally:
        for n in names: sys.modules.pop(n, None)

def test_load_released_generator_ema(shared_dir, tmp_path):
    lay = layouts(shared_dir)
    shapes = _lay(lay, 'DiTRotary_XL_8')
    g = torch.Generator().manual_seed(0)
    sd = fake_tensors(shapes, g, real=False)       # 322 keys, zero-stride (2.7 GB if materialised)
    torch.save(sd, tmp_path / 'ema_0.9999_1200000.pt')
    m = load_released(tmp_path / 'ema_0.9999_1200000.pt', kind='dit')
    assert isinstance(m, DiTRotary) and m.config['name'] == 'DiTRotary_XL_8'
    assert m.num_classes == 3 and not m.learn_sigma and m.num_heads == 16 and m.patch_size == 8
    ours = m.state_dict()
    assert set(ours) == set(saved_keys(shapes))
    for k in ('x_embedder.MLP.0.weight', 'y_embedder.embedding_table.weight', 'blocks.27.adaLN_modulation.1.bias'):
        assert torch.equal(ours[k], sd[k])
    # freqs are recomputed, whatever the file holds
    assert torch.allclose(m.blocks[3].attn.rotary_emb.freqs, torch.tensor([10000 ** (-2 * j / 36) for j in range(18)]))
    # B_8 too, forced through its registry name
    sdb = fake_tensors(_lay(lay, 'DiTRotary_B_8'), g, real=False)
    torch.save(sdb, tmp_path / 'b8.pt')
    assert load_released(tmp_path / 'b8.pt', config='DiTRotary_B_8').num_heads == 12

def test_load_released_classifiers(shared_dir, tmp_path):
    lay = layouts(shared_dir)
    g = torch.Generator().manual_seed(0)
    nd = fake_tensors(_lay(lay, 'DiTRotary-S/8-cls', 'num_classes=16'), g)
    torch.save(nd, tmp_path / 'model009999.pt')
    c = load_released(tmp_path / 'model009999.pt', kind='classifier')
    assert isinstance(c, DiTRotaryClassifier) and c.num_classes == 16 and not c.chord and c.config['name'] == 'DiTRotary-S/8-cls'
    assert all(torch.equal(c.state_dict()[k], nd[k]) for k in nd if 'freqs' not in k)
    with torch.no_grad():
        assert c(torch.randn(1, 4, 128, 16), torch.tensor([500])).shape == (1, 16)
    pitch = fake_tensors(_lay(lay, 'DiTRotary-S/8-cls', 'num_classes=12'), g, real=False)
    torch.save(pitch, tmp_path / 'pitch.pt')
    assert load_released(tmp_path / 'pitch.pt').num_classes == 12
    chord = fake_tensors(_lay(lay, 'DiTRotary-S/8-chord-cls'), g, real=False)
    torch.save(chord, tmp_path / 'model004999.pt')
    cc = load_released(tmp_path / 'model004999.pt')
    assert cc.chord and cc.num_classes == 8 and cc.config['name'] == 'DiTRotary-S/8-chord-cls'

def test_load_released_mismatch_errors(shared_dir, tmp_path):
    lay = layouts(shared_dir)
    g = torch.Generator().manual_seed(0)
    sd = fake_tensors(_lay(lay, 'DiTRotary-S/8-cls', 'num_classes=12'), g, real=False)
    bad = dict(sd)
    bad.pop('blocks.4.attn.proj.bias')
    bad['blocks.2.mlp.fc1.weight'] = torch.zeros(1).expand(1000, 384)
    bad['head.extra'] = torch.zeros(3)
    torch.save(bad, tmp_path / 'bad.pt')
    with pytest.raises(CheckpointError) as e: load_released(tmp_path / 'bad.pt')
    msg = str(e.value)
    assert 'missing' in msg and 'blocks.4.attn.proj.bias' in msg
    assert 'unexpected' in msg and 'head.extra' in msg
    assert 'shape' in msg and 'blocks.2.mlp.fc1.weight' in msg
    torch.save(sd, tmp_path / 'cls.pt')
    with pytest.raises(CheckpointError, match='expected a dit'): load_released(tmp_path / 'cls.pt', kind='dit')
    with pytest.raises(CheckpointError, match='does not match'): load_released(tmp_path / 'cls.pt', config='DiTRotary-B/8-cls')
    torch.save({'foo': torch.zeros(2)}, tmp_path / 'junk.pt')
    with pytest.raises(CheckpointError, match='unrecognised'): load_released(tmp_path / 'junk.pt')

# ----- our format ---------------------------------------------------------------------------------------------------
def test_save_load_model_roundtrip(tmp_path):
    torch.manual_seed(0)
    for m in (AutoencoderKL(**dict(VAE_CONFIGS['tiny'], scale_factor=0.8)), DIT_CONFIGS['DiTRotary_T_16'](num_classes=5),
              DIT_CONFIGS['DiTRotary-T/8-chord-cls']()):
        for p in m.parameters():
            if p.requires_grad: torch.nn.init.normal_(p)
        path = save_model(m, tmp_path / 'm', config={'step': 7})
        assert path.name == 'm.safetensors' and (tmp_path / 'm.json').is_file()
        assert model_config(tmp_path / 'm')['step'] == 7
        m2 = load_model(tmp_path / 'm')
        assert type(m2) is type(m) and m2.config == m.config
        a, b = m.state_dict(), m2.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m.json', 'm.safetensors']     # no temp files left
    with pytest.raises(FileNotFoundError): load_model(tmp_path / 'nope')

def _old_decode(vae, z, threshold=False):
    """The decode of the VAE that post-processed inside: calibration per 1.28 s chunk, then (on the whole roll) onset
    snapping, the orphan filter and held velocities, each if set, then the threshold."""
    from scg_music.vae import drop_weak_orphans, snap_onsets, hold_velocity
    x = vae.from_chunks(vae.postprocess.calibrate(vae.decode_chunks(vae.latents_to_chunks(z / vae.scale_factor))), z.shape[0])
    if vae.onset_snap: x = snap_onsets(x, vae.onset_snap)
    if vae.orphan_min is not None: x = drop_weak_orphans(x, vae.orphan_min)
    if vae.velocity_frames: x = hold_velocity(x, vae.velocity_frames)
    return torch.where(x <= -0.95, torch.full_like(x, -1.0), x) if threshold else x

def test_roll_postprocess_is_a_separate_pure_step(tmp_path):
    "The VAE's fitted calibration and orphan filter: data in its config, a pure step outside `decode`, same rolls as before."
    from scg_music.vae import RollPostprocess, clear_background
    torch.manual_seed(0)
    vae = AutoencoderKL(**dict(VAE_CONFIGS['tiny'], out_thresholds=[-0.7, 0.9, -0.8], orphan_min=-0.3)).eval()
    with torch.no_grad(): vae.decoder.conv_out.bias.copy_(torch.tensor([-0.6, 0.5, -0.9]))   # near the fitted thresholds
    pp = vae.postprocess
    assert pp == RollPostprocess([-0.7, 0.9, -0.8], -0.3) == RollPostprocess.from_config(vae.config)
    assert RollPostprocess.from_config(VAE_CONFIGS['tiny']) == RollPostprocess()                   # released: identity
    z = torch.randn(2, 4, 32, 16)
    with torch.no_grad():
        raw = vae.decode(z); raw0 = raw.clone()
        assert torch.equal(raw, vae.from_chunks(vae.decode_chunks(vae.latents_to_chunks(z / vae.scale_factor)), 2))  # decode is raw
        out = pp(raw)
        assert torch.equal(raw, raw0) and not torch.equal(out, raw)                                # pure, and it acts
        assert torch.equal(out, _old_decode(vae, z)) and torch.equal(clear_background(out), _old_decode(vae, z, True))
    x = raw.clone().requires_grad_(True); pp(x).sum().backward()                                    # differentiable
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # the settings stay loadable from (and saved under) the checkpoint's JSON keys, strictly
    save_model(vae, tmp_path / 'v'); v2 = load_model(tmp_path / 'v')
    assert v2.postprocess == pp and model_config(tmp_path / 'v')['out_thresholds'] == [-0.7, 0.9, -0.8]
    v2.orphan_min = None                                                                            # older callers' setters
    assert v2.postprocess == RollPostprocess([-0.7, 0.9, -0.8], None) and v2.config['orphan_min'] is None
    assert torch.equal(vae.calibrate(raw), pp.calibrate(raw)) and vae.ROLL_THRESHOLDS == (-0.95, 0.0, -0.95)

def test_bundled_vae_postprocess_from_its_json():
    from scg_music.core import MODELS_DIR
    from scg_music.vae import RollPostprocess
    if not (MODELS_DIR / 'vae.safetensors').is_file(): pytest.skip('no bundled VAE')
    vae, cfg = load_model(MODELS_DIR / 'vae'), model_config(MODELS_DIR / 'vae')
    assert vae.postprocess == RollPostprocess(cfg['out_thresholds'], cfg['orphan_min'], cfg.get('onset_snap'), cfg.get('velocity_frames'))
    assert vae.postprocess.orphan_min is not None and vae.postprocess == RollPostprocess.from_config(cfg)
    z = torch.randn(1, 4, 32, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(): assert torch.equal(vae.postprocess(vae.decode(z)), _old_decode(vae, z))
