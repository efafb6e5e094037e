"SCG / classifier guidance / DPS / editing / DiffCollage with tiny random models, on real MIDI from ../shared."
import pytest, torch
from dataclasses import replace
from scg_music import diffusion as D
from scg_music.dit import DIT_CONFIGS
from scg_music.vae import AutoencoderKL, VAE_CONFIGS
from scg_music.rules import extract_rules, load_roll, fit_frames
from scg_music.guidance import (Guide, SCGSelect, ClassifierShift, DPSShift, RuleScore, ClassifierTerm, DPSRuleTerm, classifier_grad, classifier_shift, dps_shift,
                                scg_step, scg_select, candidate_x0, edit_mask, edit_x0_hook, edit_start, soft_note_density,
                                nd_class_shift, guide_on)
from scg_music.collage import chain_eps, circle_eps, collage_width, chunk_targets, long_targets

torch.set_num_threads(1)

@pytest.fixture(scope='module')
def models():
    torch.manual_seed(0)
    dit = DIT_CONFIGS['DiTRotary_T_8']().eval()
    for b in dit.blocks: torch.nn.init.normal_(b.adaLN_modulation[-1].weight, std=0.02)
    torch.nn.init.normal_(dit.final_layer.linear.weight, std=0.02)
    vae = AutoencoderKL(**VAE_CONFIGS['tiny']).eval().requires_grad_(False)
    return dit.requires_grad_(False), vae

def mfn(dit): return lambda x, t, y=None: dit(x, t, y)

class ToyDecoder(torch.nn.Module):
    """A cheap random decoder latents (N,4,H,16) -> rolls (N,3,128,8H) (nearest upsampling + fixed random 1x1 mix + tanh):
    the real VAE decoder costs ~0.3 s per 1.28 s chunk on this shared 2-core CPU, too slow for 10.24 s SCG tests."""
    def __init__(self, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(3, 4, generator=g) * 0.8; self.b = torch.tensor([-0.9, -0.9, -1.2])
    def forward(self, z):
        x = torch.nn.functional.interpolate(z.transpose(-1, -2), scale_factor=8, mode='nearest')   # (N,4,128,8H)
        return torch.tanh(torch.einsum('ck,nkpt->ncpt', self.w, x) + self.b[:, None, None])

toy_decode = ToyDecoder()

@pytest.fixture(scope='module')
def real_roll(data_dir):
    "A real 10.24 s excerpt (POP909 song 001, 20 s in)."
    x = load_roll(data_dir / 'pop909' / '001.mid')[..., 2000:3024].clamp(-1, 1)
    return fit_frames(x, 1024)

@pytest.mark.parametrize('sampler', ['ddpm', 'ddim'])
def test_scg_n1_is_ancestral(models, sampler):
    dit, vae = models
    diff = D.Diffusion.linear().respace('ddim8' if sampler == 'ddim' else '8')
    sc = RuleScore({'pitch_hist': torch.full((2, 12), 1 / 12)}, vae.decode)
    kw = dict(sampler=sampler, eta=1.0, progress=False, model_kwargs={'y': torch.tensor([0, 2])})
    with torch.no_grad():
        a = D.sample(mfn(dit), diff, (2, 4, 16, 16), generator=torch.Generator().manual_seed(5), **kw)
        b = D.sample(mfn(dit), diff, (2, 4, 16, 16), generator=torch.Generator().manual_seed(5), guide=Guide(select=SCGSelect(sc, n=1)), **kw)
    assert torch.allclose(a, b, atol=1e-6)

def _stats(dit, diff, i, B=3, H=16):
    g = torch.Generator().manual_seed(i)
    return D.Step(i, diff.model_t(i, batch=B), torch.randn(B, 4, H, 16, generator=g), None, None, torch.randn(B, 4, H, 16, generator=g),
                  torch.tensor(0.3), diffusion=diff, model_fn=mfn(dit), model_kwargs={'y': torch.tensor([0, 1, 2][:B])})

def test_scg_picks_argmax_per_sample(models):
    dit, _ = models
    diff = D.Diffusion.linear().respace('ddim10')
    s = _stats(dit, diff, 6)
    score = lambda x0, n=1: x0[:, 0].mean((1, 2))          # deterministic
    x = scg_step(s, score, 5, generator=torch.Generator().manual_seed(9))
    z = torch.randn(15, 4, 16, 16, generator=torch.Generator().manual_seed(9))
    cands = torch.cat([s.mean] * 5) + 0.3 * z
    with torch.no_grad(): sc = score(candidate_x0(s, cands)).reshape(5, 3)
    best = sc.argmax(0)
    assert torch.equal(x, cands.reshape(5, 3, 4, 16, 16)[best, torch.arange(3)])
    assert len(set(best.tolist())) > 1 or True

def test_scg_chunked_selection_per_chunk():
    n, B, H = 4, 2, 64
    cands = torch.arange(n * B, dtype=torch.float)[:, None, None, None].expand(n * B, 4, H, 16).clone()
    scores = torch.randn(n * B, 4)                           # 4 chunks of 16 rows
    x, best = scg_select(cands, scores, n, chunk_rows=16)
    want = scores.reshape(n, B, 4).argmax(0)
    assert torch.equal(best, want)
    for b in range(B):
        for k in range(4):
            assert (x[b, :, 16 * k:16 * (k + 1)] == want[b, k] * B + b).all()

def test_x0_timestep_modes_differ(models):
    dit, _ = models
    diff = D.Diffusion.linear().respace('ddim10')
    s = _stats(dit, diff, 5)
    c = torch.randn(6, 4, 16, 16)
    with torch.no_grad():
        a, b = candidate_x0(s, c, 'next'), candidate_x0(s, c, 'current')
        ref = D.predict_x0(diff, c, 4, dit(c, diff.model_t(4, batch=6), torch.tensor([0, 1, 2] * 2)))
    assert torch.allclose(a, ref, atol=1e-5) and not torch.allclose(a, b)

@pytest.mark.parametrize('rule', ['pitch_hist', 'note_density'])
def test_scg_lowers_rule_loss_real_targets(models, real_roll, rule):
    "Rules measure the decoded output, so SCG works even with random models; targets from a real POP909 excerpt."
    dit, vae = models
    tgt = extract_rules(real_roll, [rule], squeeze=False)[rule].expand(4, -1)
    diff = D.Diffusion.linear().respace('ddim8')
    sc = RuleScore({rule: tgt}, toy_decode)
    shape = (4, 4, 128, 16)
    kw = dict(sampler='ddim', eta=1.0, progress=False)
    with torch.no_grad():
        xu = D.sample(mfn(dit), diff, shape, generator=torch.Generator().manual_seed(1), **kw)
        xg = D.sample(mfn(dit), diff, shape, generator=torch.Generator().manual_seed(1), guide=Guide(select=SCGSelect(sc, n=8)), **kw)
        lu = sc.losses(toy_decode(xu))[rule].mean(); lg = sc.losses(toy_decode(xg))[rule].mean()
    print(rule, float(lu), float(lg))
    assert lg < lu

def test_scg_lowers_loss_with_vae_decoder(models, real_roll):
    "The same with the (tiny, random) VAE decoder itself, on 1.28 s latents to keep it fast."
    dit, vae = models
    tgt = extract_rules(real_roll[..., :128], ['pitch_hist'], squeeze=False)['pitch_hist'].expand(3, -1)
    diff = D.Diffusion.linear().respace('ddim5')
    sc = RuleScore({'pitch_hist': tgt}, vae.decode)
    kw = dict(sampler='ddim', eta=1.0, progress=False)
    with torch.no_grad():
        xu = D.sample(mfn(dit), diff, (3, 4, 16, 16), generator=torch.Generator().manual_seed(4), **kw)
        xg = D.sample(mfn(dit), diff, (3, 4, 16, 16), generator=torch.Generator().manual_seed(4), guide=Guide(select=SCGSelect(sc, n=6)), **kw)
        assert sc.losses(vae.decode(xg))['pitch_hist'].mean() < sc.losses(vae.decode(xu))['pitch_hist'].mean()

def test_classifier_guidance_sign_and_ddim(models):
    torch.manual_seed(1)
    clf = DIT_CONFIGS['DiTRotary-T/8-cls'](num_classes=16).eval()
    for b in clf.blocks:
        torch.nn.init.normal_(b.adaLN_modulation[-1].weight, std=0.1); torch.nn.init.normal_(b.adaLN_modulation[-1].bias, std=0.5)
    term = ClassifierTerm(clf, torch.full((2, 16), 2.0), 10.0, 'mse')
    x, t = torch.randn(2, 4, 128, 16), torch.full((2,), 300)
    g = classifier_grad([term], x, t)
    with torch.no_grad():
        assert (term.log_prob(x + 1e-3 * g / g.norm(), t) > term.log_prob(x, t)).all()
        assert (term.log_prob(x - 1e-3 * g / g.norm(), t) < term.log_prob(x, t)).all()
    # DDPM: mean + var * grad ; DDIM: eps - sqrt(1-abar) grad
    full = D.Diffusion.linear()
    eps = torch.randn_like(x); x0 = D.predict_x0(full, x, 300, eps)
    s = D.Step(300, t, x, eps, x0, D.q_posterior(full, x0, x, 300)[0], None, D.extract(full, 'model_variance', 300, x),
               diffusion=full, sampler='ddpm')
    m, _, _ = classifier_shift(s, [term])
    assert torch.allclose(m - s.mean, s.var * g, atol=1e-5)
    assert torch.equal(ClassifierShift([term])(s).mean, m)
    s2 = replace(s, sampler='ddim', eta=0.0)
    m2, x02, e2 = classifier_shift(s2, [term])
    assert torch.allclose(s.eps - e2, D.extract(full, 'sqrt_one_minus_alphas_cumprod', 300, x) * g, atol=1e-5)
    # editing mask: no gradient on kept rows
    mask = 1 - edit_mask(128, 32, 64)
    gm = classifier_grad([term], x, t, mask)
    assert gm[..., :32, :].abs().max() == 0 and gm[..., 32:64, :].abs().max() > 0

def test_chord_classifier_term():
    torch.manual_seed(2)
    clf = DIT_CONFIGS['DiTRotary-T/8-chord-cls']().eval()
    term = ClassifierTerm(clf, torch.randint(0, 8, (2, 8)), 1.0, 'chord')
    lp = term.log_prob(torch.randn(2, 4, 128, 16), torch.full((2,), 10))
    assert lp.shape == (2,) and (lp < 0).all()

def test_dps_rule_step_reduces_loss(models, real_roll):
    "One DPS-rule step with the differentiable surrogate lowers the rule loss of the clean estimate (small step)."
    dit, vae = models
    full = D.Diffusion.linear()
    tgt = extract_rules(real_roll, ['note_density', 'pitch_hist'], squeeze=False)
    terms = [DPSRuleTerm('note_density', tgt['note_density'].expand(2, -1), toy_decode, 1.0),
             DPSRuleTerm('pitch_hist', tgt['pitch_hist'].expand(2, -1), toy_decode, 40.0)]
    i = 200
    x = torch.randn(2, 4, 128, 16, generator=torch.Generator().manual_seed(0))
    eps = mfn(dit)(x, full.model_t(i, batch=2))
    x0 = D.predict_x0(full, x, i, eps)
    s = D.Step(i, full.model_t(i, batch=2), x, eps, x0, D.q_posterior(full, x0, x, i)[0], None, diffusion=full,
               model_fn=mfn(dit), sampler='ddpm')
    new_mean = dps_shift(s, terms, step_size=0.05)
    assert torch.equal(DPSShift(terms, 0.05)(s).mean, new_mean)
    delta = new_mean - s.mean
    assert delta.abs().max() > 0
    def logp(xx):
        with torch.no_grad():
            x0 = D.predict_x0(full, xx, i, mfn(dit)(xx, full.model_t(i, batch=2)))
            return sum(t.log_prob(x0) for t in terms)
    assert (logp(x + delta) > logp(x)).all()

def test_soft_note_density_matches_rule(real_roll):
    from scg_music.rules import note_density
    r = real_roll.clone()
    r[:, 0] = torch.where(r[:, 0] < -0.95, torch.full_like(r[:, 0], -1.0), r[:, 0].clamp(min=-0.5))  # clean roll
    assert torch.allclose(soft_note_density(r), note_density(r), atol=0.05)

def test_edit_keeps_known_region_real_source(models, real_roll):
    dit, vae = models
    diff = D.Diffusion.linear().respace('ddim10')
    z_src = vae.encode(real_roll)
    m = edit_mask(128, 32, 64)
    hook = edit_x0_hook(z_src, m)
    from scg_music.rules import note_density
    tgt = note_density(real_roll[..., 256:512])                 # the 2 edited windows
    tgt = nd_class_shift(tgt, 5.0, 1, 1)
    sc = RuleScore({'note_density': tgt}, toy_decode, rows=(32, 64))
    i0, xs = edit_start(diff, z_src, 500, torch.Generator().manual_seed(0))
    assert int(diff.model_t(i0)) <= 499
    with torch.no_grad():
        out = D.sample(mfn(dit), diff, x_T=xs, start=i0, sampler='ddim', eta=1.0, x0_fn=hook, progress=False,
                       generator=torch.Generator().manual_seed(0), guide=Guide(select=SCGSelect(sc, n=4)))
    keep = torch.cat([torch.arange(0, 32), torch.arange(64, 128)])
    assert torch.allclose(out[..., keep, :], z_src[..., keep, :], atol=1e-4)
    assert (out[..., 32:64, :] - z_src[..., 32:64, :]).abs().mean() > 0.05
    # decoded kept chunks equal the decoded source chunks exactly (the VAE decodes 16-row chunks independently)
    with torch.no_grad(): a, b = vae.decode(out), vae.decode(z_src)
    assert torch.allclose(a[..., :256], b[..., :256], atol=1e-4) and torch.allclose(a[..., 512:], b[..., 512:], atol=1e-4)

def test_nd_class_shift_directions():
    nd = torch.tensor([[3.0] * 8 + [0.6] * 8])
    up, down, same = nd_class_shift(nd, 5.0, 1, 1), nd_class_shift(nd, 5.0, -1, -1), nd_class_shift(nd, 5.0, 0, 0)
    assert (up > same).all() and (down < same).all()
    rnd = nd_class_shift(nd.expand(64, -1), 5.0, None, None, torch.Generator().manual_seed(0))
    assert len(set(rnd[:, 0].tolist())) == 3

def test_collage_with_dit(models):
    "Composite eps of a 2-window chain with the DiT equals the hand-written window/separator sum."
    dit, _ = models
    x, t, y = torch.randn(1, 4, 192, 16), torch.tensor([500]), torch.tensor([1])
    f = lambda a, tt, yy=None: dit(a, tt, yy)
    with torch.no_grad():
        e = chain_eps(f, x, t, y)
        ref = torch.zeros_like(x)
        ref[..., :128, :] += f(x[..., :128, :], t, y); ref[..., 64:, :] += f(x[..., 64:, :], t, y)
        ref[..., 64:128, :] -= f(x[..., 64:128, :], t, y)
    assert torch.allclose(e, ref, atol=1e-5)
    with torch.no_grad(): assert circle_eps(f, x[..., :128, :], t, y).shape == (1, 4, 128, 16)

def test_long_piece_chunked_scg(models, real_roll):
    "SCG on a 2-window DiffCollage chain with per-10.24 s chunk selection runs and lowers the chunk losses."
    dit, vae = models
    from scg_music.collage import collage_model
    tgt = long_targets(extract_rules(real_roll, ['note_density'], squeeze=False), 2)
    H = collage_width('chain', 3)               # 256 rows = 20.48 s
    tgt = {k: v.expand(2, -1) for k, v in tgt.items()}
    sc = RuleScore(tgt, toy_decode, chunk_rows=128)
    diff = D.Diffusion.linear().respace('ddim6')
    mf = collage_model(lambda a, tt, yy=None: dit(a, tt, yy), 'chain')
    kw = dict(sampler='ddim', eta=1.0, progress=False)
    with torch.no_grad():
        xu = D.sample(mf, diff, (2, 4, H, 16), generator=torch.Generator().manual_seed(3), **kw)
        xg = D.sample(mf, diff, (2, 4, H, 16), generator=torch.Generator().manual_seed(3), guide=Guide(select=SCGSelect(sc, n=6, chunk_rows=128)), **kw)
        lu = sc.losses(toy_decode(xu))['note_density'].mean(); lg = sc.losses(toy_decode(xg))['note_density'].mean()
    assert lg < lu

def test_guide_schedule_gates_scg_only(models):
    assert guide_on(749, (750, 0, 1)) and not guide_on(750, (750, 0, 1)) and not guide_on(0, (750, 1, 1))

def test_dps_nn_classifier_at_t0(models):
    "DPS-NN: the classifier sees x0-hat at t = 0; the normalised step raises log p of the target."
    dit, _ = models
    from scg_music.guidance import DPSClassifierTerm
    torch.manual_seed(3)
    clf = DIT_CONFIGS['DiTRotary-T/8-cls'](num_classes=12).eval().requires_grad_(False)
    for b in clf.blocks:
        torch.nn.init.normal_(b.adaLN_modulation[-1].weight, std=0.1); torch.nn.init.normal_(b.adaLN_modulation[-1].bias, std=0.5)
    term = DPSClassifierTerm(clf, torch.full((2, 12), 1 / 12), 1.0, 'mse')
    full = D.Diffusion.linear(); i = 300
    x = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        eps = mfn(dit)(x, full.model_t(i, batch=2)); x0 = D.predict_x0(full, x, i, eps)
        assert torch.allclose(term.log_prob(x0), ClassifierTerm(clf, term.target, 1.0, 'mse').log_prob(x0, torch.zeros(2, dtype=torch.long)))
    s = D.Step(i, full.model_t(i, batch=2), x, eps, x0, D.q_posterior(full, x0, x, i)[0], None, diffusion=full,
               model_fn=mfn(dit), sampler='ddpm')
    delta = dps_shift(s, [term], step_size=1e-2) - s.mean
    def logp(xx):
        with torch.no_grad(): return term.log_prob(D.predict_x0(full, xx, i, mfn(dit)(xx, full.model_t(i, batch=2))))
    assert (logp(x + delta) > logp(x)).all()

# --- search strategies: tree search and adaptive n (issue 14) ---------------------------------------------------
from scg_music.guidance import TreeSelect, tree_step, tree_select, scg_adaptive_step, _noise_cands

def _toy(x0, n=1): return -(x0.mean((1, 2, 3)) - 0.3) ** 2

@pytest.mark.parametrize('sampler', ['ddpm', 'ddim'])
def test_tree_one_branch_is_best_of_n(models, sampler):
    "active=1, branch=n draws and keeps exactly what best of n does (same generator, bitwise)."
    dit, _ = models
    diff = D.Diffusion.linear().respace('ddim6' if sampler == 'ddim' else '6')
    sc = RuleScore({'pitch_hist': torch.full((2, 12), 1 / 12)}, toy_decode)
    kw = dict(sampler=sampler, eta=1.0, progress=False, model_kwargs={'y': torch.tensor([0, 2])})
    run = lambda sel: D.sample(mfn(dit), diff, (2, 4, 16, 16), generator=torch.Generator().manual_seed(7), guide=Guide(select=sel), **kw)
    with torch.no_grad(): a, b = run(SCGSelect(sc, n=5)), run(TreeSelect(sc, branch=5, active=1))
    assert torch.equal(a, b)
    with torch.no_grad(): c = run(TreeSelect(sc, branch=3, active=1))
    assert not torch.equal(a, c)

def test_tree_keeps_the_best_of_K_times_b(models):
    "K=3 branches x b=4 candidates, B=2: the kept states are the 3 best-scoring of each sample's 12; the record counts 12."
    dit, _ = models
    diff = D.Diffusion.linear().respace('ddim6')
    K, b, B = 3, 4, 2
    g = torch.Generator().manual_seed(0)
    x, mean = torch.randn(K * B, 4, 16, 16, generator=g), torch.randn(K * B, 4, 16, 16, generator=g)
    s = D.Step(4, diff.model_t(4, batch=K * B), x, None, None, mean, torch.tensor(0.4), diffusion=diff, model_fn=mfn(dit),
               model_kwargs={'y': torch.tensor([0, 1] * K)}, generator=torch.Generator().manual_seed(9))
    rec = []
    with torch.no_grad():
        out = tree_step(s, _toy, b, K, record=rec)
        cands = _noise_cands(replace(s, generator=torch.Generator().manual_seed(9)), mean, b)
        sc = _toy(candidate_x0(s, cands)).reshape(K * b, B)
        got = _toy(candidate_x0(s, out)).reshape(K, B)
    assert out.shape == (K * B, 4, 16, 16)
    assert torch.allclose(got, sc.sort(0, descending=True).values[:K])
    assert rec[0]['drawn'] == K * b and all(1 <= p <= K for p in rec[0]['parents'])
    # a strong candidate set can be kept several times: every state from candidates of one branch is allowed
    x2, kept = tree_select(cands, sc.reshape(-1), b, K)
    assert kept.shape == (K, B) and torch.equal(x2, out)

def test_tree_best_branch_reduces_to_B():
    sc = lambda z, n=1: -z.mean((1, 2, 3)).abs()               # best: mean closest to 0
    z = torch.stack([torch.full((4, 2, 2), v) for v in (3., -5., 0.5, 2., -0.1, 7.)])   # K=3, B=2 (state k*B + s): -0.1, 2 win
    best = TreeSelect(sc, branch=2, active=3).best(z)
    assert best.shape == (2, 4, 2, 2) and abs(best[0].mean().item() + 0.1) < 1e-6 and best[1].mean().item() == 2.0
    assert TreeSelect(sc, branch=2, active=1).best(z) is z

def test_adaptive_n_stops_on_flat_and_spends_budget_when_improving(models):
    dit, _ = models
    diff = D.Diffusion.linear().respace('ddim6')
    s = _stats(dit, diff, 3, B=2)
    s = replace(s, generator=torch.Generator().manual_seed(1))
    flat = lambda x0, n=1: torch.zeros(x0.shape[0])
    calls = iter(range(1000))
    rising = lambda x0, n=1: torch.full((x0.shape[0],), float(next(calls)))
    r1, r2, r3 = [], [], []
    with torch.no_grad():
        scg_adaptive_step(s, flat, 20, 4, record=r1)
        x = scg_adaptive_step(s, rising, 20, 4, record=r2)
        SCGSelect(_toy, 12, adaptive=True, batch=3, record=r3)(s)
    assert r1[0]['drawn'] == 8 and r2[0]['drawn'] == 20 and 6 <= r3[0]['drawn'] <= 12
    assert x.shape == s.mean.shape

def test_adaptive_n_keeps_the_best_drawn(models):
    "With a budget reached in one batch (n <= batch), adaptive n is best of n on the same draws."
    dit, _ = models
    diff = D.Diffusion.linear().respace('ddim6')
    s = replace(_stats(dit, diff, 3, B=2), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a = scg_adaptive_step(s, _toy, 4, 4)
        b = scg_step(replace(s, generator=torch.Generator().manual_seed(2)), _toy, 4)
    assert torch.equal(a, b)


def _held_chord(pitches, frames=1024):
    "A roll (1,3,128,frames) striking `pitches` together every 64 frames (0.64 s)."
    x = -torch.ones(1, 3, 128, frames)
    for p in pitches:
        x[0, 0, p] = 0.5
        for s in range(0, frames, 64): x[0, 1, p, s] = 1.0; x[0, 0, p, s + 60:s + 64] = -1
    return x

def test_chord_tiebreak_ranks_rolls_tied_on_the_chord_error():
    """Two rolls miss a IV-chord target in every window (chord error 1 each): SCG's score ranks higher the one that
    sounds more of the target triad in its own key (C major: F-A-C), unless tiebreak=0 (the released score).
    The reported losses are the rule's own, and the rolls are not modified."""
    from scg_music.rules import chord_tone_miss
    r = torch.cat([_held_chord([60, 64, 67, 72]), _held_chord([60, 64, 67, 65, 69])])
    before, tgt = r.clone(), torch.full((2, 8), 4)
    miss = chord_tone_miss(r, tgt)
    assert miss[0] < miss[1] and 0 <= miss.min() and miss.max() <= 1, miss
    on, off = RuleScore({'chord_progression': tgt}, lambda z: z), RuleScore({'chord_progression': tgt}, lambda z: z, tiebreak=0.0)
    assert on.losses(r)['chord_progression'].tolist() == [1.0, 1.0]
    s_on, s_off = on.score_rolls(r), off.score_rolls(r)
    assert s_on[0] > s_on[1] and s_off[0] == s_off[1] and torch.allclose(s_on - s_off, -0.1 * miss)
    assert torch.equal(r, before)

def test_tiebreak_in_job_config():
    "`scg.tiebreak` is read from a job's YAML (default 0.1, 0 = as released) and a negative weight is refused by name."
    from scg_music.jobconfig import load_config
    from scg_music.core import BadInputError
    base = dict(target_rules=dict(chord_progression=[1] * 8), guidance=dict(vae=True, nn=False, scg=True, method='no_guidance'),
                scg=dict(num_samples=4), sampling=dict(use_ddim=True, timestep_respacing='ddim10'))
    assert load_config(base).scg.tiebreak == 0.1
    assert load_config(dict(base, scg=dict(num_samples=4, tiebreak=0.0))).scg.tiebreak == 0.0
    with pytest.raises(BadInputError, match='tiebreak'): load_config(dict(base, scg=dict(num_samples=4, tiebreak=-1)))
