"Diffusion core: schedule constants vs an independent float64 reference, respacing, samplers on known data."
import math
import numpy as np
import pytest
import torch
from scg_music.diffusion import (Diffusion, space_timesteps, q_sample, predict_x0, eps_from_x0, q_posterior,
                                 training_loss, p_mean_variance, p_sample, ddim_step, sample, cfg_model,
                                 ancestral_step, call_model, Step,
                                 ddim_invert, gaussian_eps_model, linear_betas)


def ref_constants(T=1000):
    "Straightforward float64 reference with Python loops (independent of the vectorised implementation)."
    betas = [1e-4 + (0.02 - 1e-4) * k / (T - 1) for k in range(T)]
    abar, prod = [], 1.0
    for b in betas:
        prod *= 1 - b; abar.append(prod)
    out = dict(beta=betas, abar=abar, c1=[], c2=[], pvar=[], large=[])
    for t in range(T):
        ap = abar[t - 1] if t else 1.0
        out['c1'].append(betas[t] * math.sqrt(ap) / (1 - abar[t]))
        out['c2'].append((1 - ap) * math.sqrt(1 - betas[t]) / (1 - abar[t]))
        out['pvar'].append(betas[t] * (1 - ap) / (1 - abar[t]))
    out['large'] = [out['pvar'][1]] + betas[1:]
    return {k: np.array(v) for k, v in out.items()}


@pytest.fixture(scope='module')
def d(): return Diffusion.linear()


def test_constants_match_reference(d):
    r = ref_constants()
    c = d.np
    for mine, ref in [('betas', 'beta'), ('alphas_cumprod', 'abar'), ('posterior_mean_coef1', 'c1'),
                      ('posterior_mean_coef2', 'c2'), ('posterior_variance', 'pvar'), ('model_variance', 'large')]:
        np.testing.assert_allclose(c[mine], r[ref], rtol=1e-10, atol=1e-15, err_msg=mine)
    assert c['betas'].dtype == np.float64 and d.consts['alphas_cumprod'].dtype == torch.float64


def test_appendix_d_constants(d):
    c = d.np
    assert round(math.sqrt(c['betas'][749]), 4) == 0.1226
    assert round(c['alphas_cumprod'][749], 5) == 0.00335
    assert round(c['alphas_cumprod'][400], 4) == 0.1936
    assert round(c['alphas_cumprod'][999], 6) == pytest.approx(4.0e-5, abs=5e-7)


def test_posterior_formulas_float64(d):
    "q_posterior / predict_x0 against the reference formulas on a DExter-shaped tensor (B,1,T,5)."
    r = ref_constants()
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(4, 1, 9, 5, generator=g, dtype=torch.float64)
    xt = torch.randn(4, 1, 9, 5, generator=g, dtype=torch.float64)
    i = torch.tensor([0, 1, 500, 999])
    mean, var, _ = q_posterior(d, x0, xt, i)
    for b, t in enumerate(i.tolist()):
        ref_mean = r['c1'][t] * x0[b].numpy() + r['c2'][t] * xt[b].numpy()
        np.testing.assert_allclose(mean[b].numpy(), ref_mean, rtol=1e-12, atol=1e-12)
        assert float(var[b].flatten()[0]) == pytest.approx(r['pvar'][t], rel=1e-12)
        eps = (xt[b].numpy() - math.sqrt(r['abar'][t]) * x0[b].numpy()) / math.sqrt(1 - r['abar'][t])
        np.testing.assert_allclose(eps_from_x0(d, xt, i, x0)[b].numpy(), eps, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(predict_x0(d, xt, i, eps_from_x0(d, xt, i, x0)).numpy(), x0.numpy(), atol=1e-9)
    # the posterior mean equals the "1/sqrt(alpha) (x - beta/sqrt(1-abar) eps)" form (DExter's sampler)
    eps = eps_from_x0(d, xt, i, x0)
    for b, t in enumerate(i.tolist()):
        alt = (xt[b] - r['beta'][t] / math.sqrt(1 - r['abar'][t]) * eps[b]) / math.sqrt(1 - r['beta'][t])
        np.testing.assert_allclose(mean[b].numpy(), alt.numpy(), atol=1e-9)


def test_respacing_step_lists(d):
    assert space_timesteps(1000, 'ddim25') == list(range(0, 1000, 40))
    assert space_timesteps(1000, 'ddim50') == list(range(0, 1000, 20))
    assert space_timesteps(1000, 'ddim100') == list(range(0, 1000, 10))
    assert space_timesteps(1000, '') == list(range(1000))
    s = space_timesteps(1000, '10')
    assert len(s) == 10 and s[0] == 0 and s[-1] == 999 and s[1] == 111
    s = space_timesteps(100, [5, 3])
    assert s == [0, 12, 24, 37, 49, 50, 74, 99]
    with pytest.raises(ValueError): space_timesteps(1000, 'ddim7777')
    r = d.respace('ddim25')
    assert r.timestep_map.tolist() == list(range(0, 1000, 40))
    np.testing.assert_allclose(r.np['alphas_cumprod'], d.np['alphas_cumprod'][::40], rtol=1e-12)
    # respacing a respaced schedule composes the maps to ORIGINAL timesteps
    rr = r.respace(steps=[0, 5, 24])
    assert rr.timestep_map.tolist() == [0, 200, 960]
    assert r.index_for_timestep(500) == 12 and d.index_for_timestep(499) == 499


def test_model_called_with_original_timesteps(d):
    seen = []
    def f(x, t, **kw):
        seen.append(t.clone()); return torch.zeros_like(x)
    r = d.respace('ddim25')
    sample(f, r, (2, 3), sampler='ddim', eta=1.0, progress=False, generator=torch.Generator().manual_seed(0))
    assert [int(t[0]) for t in seen] == list(range(960, -1, -40))
    assert all(t.shape == (2,) and t.dtype == torch.long for t in seen)
    seen.clear()
    sample(f, r, (2, 3), sampler='ddpm', progress=False, start=10, t_end=3)
    assert [int(t[0]) for t in seen] == [400, 360, 320, 280, 240, 200, 160, 120]


@pytest.mark.parametrize('sampler,spec,eta,tol', [('ddpm', None, 1.0, 0.012), ('ddim', 'ddim250', 0.0, 0.012),
                                                 ('ddim', None, 1.0, 0.015), ('ddim', 'ddim50', 0.0, 0.05)])
def test_sampling_known_gaussian(d, sampler, spec, eta, tol):
    f = gaussian_eps_model(-0.4, 0.6, d)
    dd = d if spec is None else d.respace(spec)
    out = sample(f, dd, (3000, 2, 2), sampler=sampler, eta=eta, progress=False,
                 generator=torch.Generator().manual_seed(3))
    assert abs(out.mean().item() + 0.4) < 0.015
    assert abs(out.std().item() - 0.6) < tol


def test_ddim_eta0_deterministic_and_invertible(d):
    f = gaussian_eps_model(0.2, 0.8, d)
    dd = d.respace('ddim100')
    xT = torch.randn(1000, 3, generator=torch.Generator().manual_seed(5))
    a = sample(f, dd, x_T=xT, sampler='ddim', eta=0.0, progress=False, generator=torch.Generator().manual_seed(1))
    b = sample(f, dd, x_T=xT, sampler='ddim', eta=0.0, progress=False, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    back = ddim_invert(f, dd, a)
    assert (back - xT).abs().mean() < 0.05
    assert torch.corrcoef(torch.stack([back.flatten(), xT.flatten()]))[0, 1] > 0.999
    # DDIM eta=1 differs with the generator
    c = sample(f, dd, x_T=xT, sampler='ddim', eta=1.0, progress=False, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(a, c)


def test_steps_and_last_step_semantics(d):
    f = gaussian_eps_model(0.0, 1.0, d)
    x = torch.randn(5, 4)
    s = p_sample(f, d, x, 0)
    assert s.last and torch.equal(s.sample, s.mean)         # no noise at the final step
    assert torch.allclose(s.mean, s.x0_hat, atol=1e-6)      # abar_prev = 1 at index 0
    s = ddim_step(f, d, x, 500, eta=0.0)
    assert s.noiseless and torch.equal(s.sample, s.mean)
    s = p_sample(f, d, x, 500, noise=torch.ones_like(x))
    assert torch.equal(s.sample, s.mean + s.std)             # the one ancestral step: mean + std z
    # with t_end > 0 the output is the posterior mean at that level (released semantics)
    g = torch.Generator().manual_seed(0)
    out_hist = []
    sample(f, d, x_T=x, start=20, t_end=10, progress=False, generator=g, callback=out_hist.append)
    assert out_hist[-1].last and out_hist[-1].index == 10 and torch.equal(out_hist[-1].sample, out_hist[-1].mean)
    assert len(out_hist) == 11 and not out_hist[0].last
    with pytest.raises(Exception): out_hist[0].mean = out_hist[0].x      # a callback observes; it cannot rewrite the step
    with pytest.raises(ValueError): sample(f, d, x_T=x, start=5, t_end=10, progress=False)


def test_x0_fn_guide_and_grad_guides(d):
    f = gaussian_eps_model(0.0, 1.0, d)
    dd = d.respace('ddim25')
    known = torch.full((64, 6), 1.5)
    m = torch.zeros(64, 6); m[:, :3] = 1
    out = sample(f, dd, (64, 6), sampler='ddpm', x0_fn=lambda x0: m * known + (1 - m) * x0, progress=False,
                 generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out[:, :3], known[:, :3], atol=1e-5)
    # a guide that shifts the mean (classifier-guidance style) and takes the ancestral step
    shift = lambda s: ancestral_step(s, s.mean + s.var * 2.0 * (not s.last))
    base = sample(f, dd, (2000, 2), progress=False, generator=torch.Generator().manual_seed(0))
    shifted = sample(f, dd, (2000, 2), guide=shift, progress=False, generator=torch.Generator().manual_seed(0))
    assert shifted.mean() > base.mean() + 0.5
    same = sample(f, dd, (2000, 2), guide=ancestral_step, progress=False, generator=torch.Generator().manual_seed(0))
    assert torch.equal(same, base)
    # a guide needing gradients (DPS style) re-runs the model on a fresh leaf under enable_grad
    grads = []
    def dps(s):
        with torch.enable_grad():
            x = s.x.detach().requires_grad_(True)
            x0 = predict_x0(s.diffusion, x, s.index, call_model(s.model_fn, s.diffusion, x, s.index))
            g, = torch.autograd.grad((x0 - 1.0).pow(2).sum(), x)
        grads.append(g.abs().sum().item())
        return ancestral_step(s, s.mean - 0.1 * g)
    out = sample(f, d.respace('ddim10'), (8, 2), guide=dps, progress=False)
    assert len(grads) == 10 and all(g > 0 for g in grads) and not out.requires_grad


def test_cfg_model_one_batched_call():
    calls = []
    def model(x, t, y, rule=None):
        calls.append((x.shape[0], y.tolist(), None if rule is None else rule.shape[0]))
        return x * 0 + y.float().reshape(-1, *[1] * (x.ndim - 1))
    f = cfg_model(model, w=4.0, null_label=3)
    out = f(torch.zeros(2, 4, 8, 16), torch.tensor([7, 7]), y=torch.tensor([1, 2]), rule=torch.zeros(2, 12))
    assert calls == [(4, [1, 2, 3, 3], 4)]
    assert torch.allclose(out[0], torch.full((4, 8, 16), 5 * 1 - 4 * 3.0))
    # general null condition (DExter-style: dropped features set to -1)
    g = cfg_model(lambda x, t, c: x * 0 + c.mean(dim=(1, 2)).reshape(-1, 1, 1, 1), w=0.2,
                  null_kwargs=lambda kw: {**kw, 'c': torch.full_like(kw['c'], -1.0)})
    o = g(torch.zeros(3, 1, 10, 5), torch.zeros(3, dtype=torch.long), c=torch.ones(3, 10, 7))
    assert torch.allclose(o, torch.full_like(o, 1.2 * 1 - 0.2 * -1))


def test_training_loss_optimal_model_and_mask(d):
    # the exact eps predictor of N(0, 1) data is eps-hat = sqrt(1-abar) x_t; its loss is the irreducible error
    x0 = torch.randn(4096, 4, generator=torch.Generator().manual_seed(0))
    f = gaussian_eps_model(0.0, 1.0, d)
    opt = training_loss(f, d, x0, generator=torch.Generator().manual_seed(1))
    bad = training_loss(lambda x, t: torch.zeros_like(x), d, x0, generator=torch.Generator().manual_seed(1))
    # E[(eps - E[eps|x_t])^2] = abar_t per element, so the mean loss is the mean of abar over t
    assert abs(opt.item() - d.np['alphas_cumprod'].mean()) < 0.02 and abs(bad.item() - 1.0) < 0.05
    # fixed t and noise are honoured; a mask restricts the mean
    t = torch.full((4,), 10); noise = torch.ones(4, 1, 6, 5)
    def model(x, t): return torch.zeros_like(x)
    m = torch.zeros(4, 1, 6, 1); m[:, :, :2] = 1
    out = training_loss(model, d, torch.zeros(4, 1, 6, 5), t=t, noise=noise, mask=m, return_all=True)
    assert out['loss'].item() == pytest.approx(1.0) and out['t'].tolist() == [10] * 4
    assert training_loss(model, d, torch.zeros(4, 1, 6, 5), t=t, noise=noise * 2, loss_type='l1').item() == pytest.approx(2.0)
    with pytest.raises(ValueError): training_loss(lambda x, t: x[:, :1], d, torch.zeros(2, 3, 4))


def test_fixed_small_and_custom_betas():
    d = Diffusion(linear_betas(1500, rescale=False), var_type='fixed_small')
    assert d.num_timesteps == 1500 and d.np['betas'][-1] == pytest.approx(0.02)
    np.testing.assert_allclose(d.np['model_variance'][1:], d.np['posterior_variance'][1:])
    with pytest.raises(ValueError): Diffusion([0.1, 1.5])
    with pytest.raises(ValueError): Diffusion.linear(var_type='learned')
