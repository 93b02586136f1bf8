"""The variance-reduction routes: randomised QMC, the posterior-target loss, moment-estimated P.

Each route must keep the estimand (checked against an independent Monte Carlo or a closed
form within k·SE, k stated) and must report honest standard errors (SD over repeats against
the mean reported SE, the band of :mod:`neon_theory.calibration`).  Seeds are fixed.
"""

import math
import statistics
from dataclasses import replace

import pytest
import torch
from helpers import F64, mlp_denoiser
from torch import nn

from neon_theory.calibration import se_calibration
from neon_theory.gradients import ModelLaw, WeightedSupport, paired_population_gradients, per_example_gradient_sums, per_sample_gradients
from neon_theory.preconditioners import MomentBlockDiagonal, Walk, adam_minibatch, moment_second_moment
from neon_theory.qmc import normal_from_uniform, sobol_uniforms
from neon_theory.rng import draw, generator
from neon_theory.samplers import Steps
from toy_models._conditional import TimeMLP
from toy_models.diffusion import DiffusionModel, PosteriorTargetDiffusion, Schedule
from toy_models.gmm import GMM, official_gaussian, ring

K_SE = 4.0  # Monte Carlo tolerances: |difference| ≤ 4 combined SEs

def _adam(model, source, **kwargs):
    """adam_minibatch with the Walk's fields given as keywords (the Walk is built inside, so its checks are tested too)."""
    walk = {k: kwargs.pop(k) for k in ("batch_size", "passes", "steps", "shuffle", "blocks") if k in kwargs}
    return adam_minibatch(model, source, Walk(**walk), **kwargs)



def tiny_diffusion(seed: int = 0, hidden: int = 16, T: int = 100) -> DiffusionModel:
    torch.manual_seed(seed)
    return DiffusionModel(TimeMLP(2, hidden=hidden, depth=2), Schedule("cosine", T), grid="own")


# -- Sobol points --------------------------------------------------------------------------------
def test_sobol_uniforms_are_in_the_open_cube_and_each_seed_is_its_own_scramble():
    u = sobol_uniforms(1024, 3, 7)
    assert u.shape == (1024, 3) and u.dtype == F64
    assert float(u.min()) > 0 and float(u.max()) < 1
    assert torch.equal(u, sobol_uniforms(1024, 3, 7))
    assert not torch.equal(u, sobol_uniforms(1024, 3, 8))
    # balance: each of the 16 strata of the first coordinate holds exactly 64 of the 1024 points
    counts = torch.bincount((u[:, 0] * 16).long(), minlength=16)
    assert bool((counts == 64).all())


@pytest.mark.parametrize("kwargs, match", [({"n": 0}, "n"), ({"dim": 0}, "dim"), ({"dim": 30000}, "dim"), ({"seed": -1}, "seed")])
def test_sobol_uniforms_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sobol_uniforms(**{"n": 8, "dim": 2, "seed": 0, **kwargs})


def test_normal_from_uniform_is_the_normal_quantile():
    u = torch.tensor([0.5, 0.975, 0.025], dtype=F64)
    assert torch.allclose(normal_from_uniform(u), torch.tensor([0.0, 1.959964, -1.959964], dtype=F64), atol=1e-6)


# -- sources and models driven by uniforms -----------------------------------------------------------
def test_gmm_from_uniform_has_the_mixture_law():
    gmm = ring(4, radius=3.0, std=0.5)
    x = gmm.sample_from_uniform(sobol_uniforms(2**14, gmm.uniform_dim(), 1))
    assert x.shape == (2**14, 2)
    assert torch.allclose(x.mean(0), gmm.mean(), atol=0.03)
    assert torch.allclose(torch.cov(x.T), gmm.cov(), atol=0.05)
    with pytest.raises(ValueError, match="u"):
        gmm.sample_from_uniform(torch.rand(4, 2, dtype=F64))  # the component column is missing


def test_diffusion_noise_from_uniform_has_the_law_of_draw_noise():
    model = tiny_diffusion()
    t, eps = model.noise_from_uniform(sobol_uniforms(2**13, model.noise_dim, 3))
    counts = torch.bincount(t, minlength=model.schedule.T)
    assert counts.shape == (model.schedule.T,) and int(counts.min()) >= 81 and int(counts.max()) <= 83  # 8192 / 100 per step
    assert abs(float(eps.mean())) < 0.01 and abs(float(eps.var()) - 1) < 0.01


def test_a_deterministic_sampler_from_uniforms_reproduces_the_generator_driven_sampler():
    """u = Φ(z) for the z that ``sample`` draws from its generator: the same samples (up to the Φ⁻¹(Φ(z)) round trip)."""
    from scipy.stats import norm

    model = tiny_diffusion()
    sampler = Steps(5, "ddim", eta=0.0)
    z = draw(torch.randn, 64, 2, generator=generator(0, "z"), dtype=torch.float32)  # what sample() draws first
    u = torch.as_tensor(norm.cdf(z.double().cpu().numpy()))
    assert torch.allclose(model.sample_from_uniform(u, sampler), model.sample(64, sampler, generator(0, "z")), atol=1e-5)
    with pytest.raises(ValueError, match="deterministic"):
        model.sample_uniform_dim(Steps(5, "ddim", eta=1.0))
    with pytest.raises(ValueError, match="x_init"):
        model.sample_x(8, sampler, None, x_init=torch.zeros(8, 3))


def test_a_conditional_models_labels_and_drop_coin_from_uniforms_follow_their_laws():
    torch.manual_seed(0)
    probs = torch.tensor([0.2, 0.3, 0.5], dtype=F64)
    model = DiffusionModel(TimeMLP(2, hidden=4, depth=1, num_classes=3), Schedule("cosine", 10), p_uncond=0.1, class_probs=probs)
    sampler = Steps(2, "ddim", eta=0.0)
    x = model.sample_from_uniform(sobol_uniforms(2**12, model.sample_uniform_dim(sampler), 0), sampler)
    freq = torch.bincount(x[:, -1].round().long(), minlength=3).double() / 2**12
    assert torch.allclose(freq, probs, atol=2 / 2**12)  # Sobol strata: exact up to the last point
    noise = model.noise_from_uniform(sobol_uniforms(2**12, model.noise_dim, 1))
    assert len(noise) == 3 and abs(float(noise[2].double().mean()) - 0.1) < 2 / 2**12


def test_sampling_in_row_chunks_equals_one_call():
    from toy_models._conditional import in_row_chunks

    net = TimeMLP(2, hidden=8, depth=1, num_classes=2)
    x, labels = torch.randn(50, 2), torch.tensor([0, 1, -1, 1, 0] * 10)
    fn = lambda xc, lc: net(xc, torch.full((xc.shape[0], 1), 0.3), lc)  # noqa: E731
    assert torch.allclose(in_row_chunks(fn, x, labels, rows=7), fn(x, labels), atol=1e-6)


# -- per-example squared gradients -----------------------------------------------------------------
class SharedLinear(nn.Module):
    """One Linear applied twice per row: the per-example gradient is a sum over uses (the fast path must step aside)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.lin = nn.Linear(2, 2).double()

    def forward(self, x):
        return self.lin(torch.tanh(self.lin(x)))


class TiedLinears(nn.Module):
    """Two Linear layers sharing one weight: its per-example gradient sums over both uses."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.a, self.b = nn.Linear(2, 2).double(), nn.Linear(2, 2).double()
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


@pytest.mark.parametrize("which", ["mlp-denoiser", "diffusion", "linear-used-twice", "tied-weights", "3-d-input"])
def test_per_example_gradient_sums_equal_the_per_example_loop(which):
    from neon_theory.contracts import ModelAdapter

    n = 24
    if which == "mlp-denoiser":
        model = mlp_denoiser()
    elif which == "diffusion":
        model = tiny_diffusion()
    elif which in ("linear-used-twice", "tied-weights"):
        net = SharedLinear() if which == "linear-used-twice" else TiedLinears()
        model = ModelAdapter(net, lambda m, x, _: (m(x) ** 2).sum(-1), lambda m, n, s, g: None)
    else:  # rows of 3 tokens through one Linear: the per-example gradient sums over tokens
        torch.manual_seed(2)
        model = ModelAdapter(nn.Linear(2, 2).double(), lambda m, x, _: (m(x.view(-1, 3, 2)) ** 2).sum((-1, -2)), lambda m, n, s, g: None)
        n = 8
    x = draw(torch.randn, n, 6 if which == "3-d-input" else 2, generator=generator(0, "x"), dtype=F64)
    noise = model.draw_noise(n, generator(0, "noise"))
    sums = per_example_gradient_sums(model, x, noise)
    g = per_sample_gradients(model, x, noise, method="loop")
    tol = dict(rtol=1e-4, atol=1e-5) if which == "diffusion" else dict(rtol=1e-10, atol=1e-12)  # float32 net vs float64
    assert torch.allclose(sums.sum, g.sum(0), **tol)
    assert torch.allclose(sums.square_sum, (g * g).sum(0), **tol)
    assert sums.n == n


# -- the moment-estimated Adam P --------------------------------------------------------------------------
def test_moment_second_moment_is_the_minibatch_second_moment_by_enumeration():
    """E[g_B²] for B rows drawn with replacement from m fixed gradients, by enumerating every minibatch (m = 4, B = 3)."""
    import itertools

    grads = torch.tensor([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0], [2.0, 1.0]], dtype=F64)
    B = 3
    exact = torch.stack([grads[list(idx)].mean(0) ** 2 for idx in itertools.product(range(4), repeat=B)]).mean(0)
    # blocks that are copies of the whole set: the batch-means variance of r̂ is 0, so nothing is debiased away
    sums, squares, counts = grads.sum(0).repeat(3, 1), (grads**2).sum(0).repeat(3, 1), torch.full((3,), 4.0, dtype=F64)
    assert torch.allclose(moment_second_moment(sums, squares, counts, B), exact)


def test_moment_p_estimates_the_ema_p_and_with_rqmc_has_far_less_noise():
    """Same estimand as Adam's EMA (the mean over repeats agrees within 4 SE per coordinate, on the
    coordinates whose P is well determined), and rqmc's spread over repeats is below the EMA's."""
    model = tiny_diffusion(hidden=8)
    target = official_gaussian()
    B, steps, reps = 256, 16, 12
    ema, qmc = [], []
    for r in range(reps):
        rows = target.sample(B * steps, generator(r, "rows")).float()
        ema.append(adam_minibatch(model, rows, B, generator=generator(r, "perm"), noise_generator=generator(r, "noise")).diag)
        qmc.append(adam_minibatch(model, target, Walk(B, steps=steps), estimator="moments", sampling="rqmc", noise_generator=generator(r, "q")).diag)
    ema, qmc = torch.stack(ema), torch.stack(qmc)
    se = torch.sqrt(ema.var(0) / reps + qmc.var(0) / reps)
    stable = ema.std(0) / ema.mean(0) < 0.2
    assert int(stable.sum()) > 0.8 * ema.shape[1]
    assert bool(((ema.mean(0) - qmc.mean(0)).abs() <= K_SE * se)[stable].all())
    assert float((qmc.std(0) / qmc.mean(0))[stable].median()) < 0.5 * float((ema.std(0) / ema.mean(0))[stable].median())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"estimator": "exact"}, "estimator"),
        ({"sampling": "sobol"}, "sampling"),
        ({"sampling": "rqmc"}, "moments"),  # Adam's EMA needs independent rows
        ({"estimator": "moments", "steps": 4}, "rqmc"),  # a law source needs rqmc under moments
        ({"estimator": "moments", "sampling": "rqmc", "steps": 2, "blocks": 3}, "3 minibatches"),
        ({"estimator": "moments", "sampling": "rqmc", "steps": 8, "blocks": 2}, "blocks"),
    ],
)
def test_adam_minibatch_moments_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _adam(tiny_diffusion(hidden=4), official_gaussian(), batch_size=16, noise_generator=generator(0, "n"), generator=generator(0, "g"), **kwargs)


def test_moment_second_moment_is_unbiased_and_its_debiasing_matters():
    """g_i ~ N(r, σ²) per coordinate, k = 4 blocks of 8 rows, B = 2: E[g_B²] = r² + σ²/B.  Over 20,000
    repeats the estimate's mean is within 4 SE of it; the plain r̂² (no debiasing) is not."""
    import numpy as np

    rng = np.random.default_rng(0)
    r, sigma, B = np.array([0.0, 0.5, 2.0]), np.array([1.0, 2.0, 0.5]), 2
    g = r + sigma * rng.standard_normal((20_000, 4, 8, 3))
    sums, squares = torch.as_tensor(g.sum(2)), torch.as_tensor((g**2).sum(2))
    counts = torch.full((4,), 8.0, dtype=F64)
    est = torch.stack([moment_second_moment(sums[i], squares[i], counts, B) for i in range(20_000)])
    truth = torch.as_tensor(r**2 + sigma**2 / B)
    se = est.std(0) / math.sqrt(20_000)
    assert bool(((est.mean(0) - truth).abs() <= K_SE * se).all())
    plain = (sums.sum(1) / 32) ** 2 * (1 - 1 / B) + squares.sum(1) / 32 / B
    assert bool(((plain.mean(0) - truth).abs() > K_SE * plain.std(0) / math.sqrt(20_000)).any())
    with pytest.raises(ValueError, match="2 blocks"):
        moment_second_moment(sums[0][:1], squares[0][:1], counts[:1], B)
    with pytest.raises(ValueError, match="counts"):
        moment_second_moment(sums[0], squares[0], torch.zeros(4, dtype=F64), B)


def test_moment_block_diagonal_deletes_one_block_as_a_hand_computation_does():
    model = tiny_diffusion(hidden=4)
    P = adam_minibatch(model, official_gaussian(), Walk(64, steps=8, blocks=4), estimator="moments", sampling="rqmc", noise_generator=generator(0, "n"))
    assert isinstance(P, MomentBlockDiagonal) and P.row_edges == (0, 128, 256, 384, 512)
    S, Q, c = (t.cpu().numpy() for t in (P.block_sums, P.block_square_sums, P.block_weights))
    keep = [0, 1, 3]  # delete block 2, by hand in numpy
    n = c[keep].sum()
    r = S[keep].sum(0) / n
    var_r = 3 / 2 * (((c[keep] / n)[:, None] * (S[keep] / c[keep][:, None] - r)) ** 2).sum(0)
    v = ((r**2 - var_r) * (1 - 1 / 64) + Q[keep].sum(0) / n / 64).clip(0)
    assert torch.allclose(P.delete_one()[2].cpu(), torch.as_tensor(1 / (v**0.5 + P.eps)).cpu())


# -- the posterior-target loss ------------------------------------------------------------------------------
def test_vp_noise_posterior_mean_matches_the_noised_mixture_score():
    gmm = ring(3, radius=2.0, std=0.4)
    x = draw(torch.randn, 5, 2, generator=generator(0, "x"), dtype=F64)
    for ab in (1.0, 0.7, 0.05):
        expected = -math.sqrt(1 - ab) * gmm.noised_vp(ab).score(x) if ab < 1 else torch.zeros_like(x)
        got = gmm.vp_noise_posterior_mean(x, torch.full((5,), ab, dtype=F64))
        assert torch.allclose(got, expected, atol=1e-12)
    with pytest.raises(ValueError, match="alpha_bar"):
        gmm.vp_noise_posterior_mean(x, torch.full((5,), 1.5, dtype=F64))


def test_the_posterior_target_loss_has_the_plain_expected_gradient_with_less_noise():
    """Paired (same rows, same noise) difference of the two estimates within 4 SE in every coordinate;
    on a briefly trained model (ε̂ near E[ε | x_t], where the gain matters) the SE is below a third."""
    from neon_theory.neon import fit

    model = tiny_diffusion(hidden=8)
    target = official_gaussian()
    fit(model, target.sample(1000, generator(0, "train")).float(), steps=400, lr=3e-3, generator=generator(0, "fit"))
    real = target.sample(2**15, generator(0, "real")).float()
    est = paired_population_gradients(
        model, {"plain": real, "posterior": real}, losses={"posterior": PosteriorTargetDiffusion(model, target)},
        noise_generator=generator(0, "noise"), n_batches=32, chunk_size=1024,
    )
    diff = est["plain"].batch_means - est["posterior"].batch_means  # paired: same rows, same noise
    se_diff = diff.std(0) / math.sqrt(diff.shape[0])
    assert bool(((est["plain"].mean - est["posterior"].mean).abs() <= K_SE * se_diff + 1e-9).all())
    assert float(est["posterior"].se.norm()) < 0.33 * float(est["plain"].se.norm())


def test_posterior_target_diffusion_rejects_what_it_cannot_handle():
    model = tiny_diffusion()
    with pytest.raises(ValueError, match="GMM"):
        PosteriorTargetDiffusion(model, object())
    with pytest.raises(ValueError, match="dimension"):
        PosteriorTargetDiffusion(model, GMM(torch.ones(1, dtype=F64), torch.zeros(1, 3, dtype=F64), torch.eye(3, dtype=F64)[None]))
    v_model = DiffusionModel(TimeMLP(2, hidden=4, depth=1), Schedule("cosine", 10), prediction="v")
    with pytest.raises(ValueError, match="eps"):
        PosteriorTargetDiffusion(v_model, official_gaussian())
    with pytest.raises(ValueError, match="module"):
        paired_population_gradients(model, {"x": torch.zeros(4, 2)}, losses={"x": tiny_diffusion()}, noise_generator=generator(0, "n"), n_batches=2)
    with pytest.raises(ValueError, match="losses"):
        paired_population_gradients(model, {"x": torch.zeros(4, 2)}, losses={"y": model}, noise_generator=generator(0, "n"), n_batches=2)


# -- rqmc population gradients -------------------------------------------------------------------------------
def test_rqmc_gradients_are_unbiased_have_less_noise_and_honest_standard_errors():
    """R = 100 repeats of r_d on the data law and r_s on a deterministic sampler's law: the rqmc mean
    agrees with a 2^18-row Monte Carlo within 4 SE, its SD over repeats is below a fifth of Monte
    Carlo's at the same n, and SD / mean SE is within the calibration band (k = 4, slack 0.1 for 8 batches)."""
    model = tiny_diffusion(hidden=8)
    target = official_gaussian()
    law = ModelLaw(model, Steps(4, "ddim", eta=0.0))
    n, R = 2**12, 100
    reps = [
        paired_population_gradients(model, {"d": target, "s": law}, n, noise_generator=generator(r, "q"), n_batches=8, sampling="rqmc", chunk_size=1024)
        for r in range(R)
    ]
    def monte_carlo(r, rows, batches):
        return paired_population_gradients(
            model, {"d": target}, rows, generator=generator(r, "data"), noise_generator=generator(r, "n"), n_batches=batches, chunk_size=8192,
        )["d"]

    mc = [monte_carlo(r, n, 8) for r in range(8)]
    big = monte_carlo(99, 2**18, 32)
    q = torch.stack([r["d"].mean for r in reps])
    assert bool(((q.mean(0) - big.mean).abs() <= K_SE * torch.sqrt(big.se**2 + q.var(0) / R) + 1e-9).all())
    mc_sd = torch.stack([m.mean for m in mc]).std(0)
    assert float(q.std(0).norm()) < 0.2 * float(mc_sd.norm())
    for name in ("d", "s"):
        coord = int(torch.stack([r[name].se for r in reps]).mean(0).argmax())  # the noisiest coordinate
        cal = se_calibration([float(r[name].mean[coord]) for r in reps], [float(r[name].se[coord]) for r in reps])
        print(name, cal)
        assert cal.consistent(4.0, 0.1), (name, cal)


def test_rqmc_is_reproducible_and_rejects_what_it_cannot_drive():
    model = tiny_diffusion(hidden=4)
    target = official_gaussian()
    a = paired_population_gradients(model, {"d": target}, 256, noise_generator=generator(0, "q"), n_batches=4, sampling="rqmc")["d"]
    b = paired_population_gradients(model, {"d": target}, 256, noise_generator=generator(0, "q"), n_batches=4, sampling="rqmc")["d"]
    assert torch.equal(a.mean, b.mean)
    with pytest.raises(ValueError, match="sampling"):
        paired_population_gradients(model, {"d": target}, 256, noise_generator=generator(0, "q"), n_batches=4, sampling="sobol")
    with pytest.raises(ValueError, match="uniform_dim"):
        law = type("Law", (), {"sample": lambda self, n, g: None})()
        paired_population_gradients(model, {"d": law}, 256, noise_generator=generator(0, "q"), n_batches=4, sampling="rqmc")
    with pytest.raises(ValueError, match="WeightedSupport"):
        support = WeightedSupport(torch.zeros(2, 2), torch.tensor([0.5, 0.5], dtype=F64))
        paired_population_gradients(model, {"d": support}, noise_generator=generator(0, "q"), sampling="rqmc")
    with pytest.raises(ValueError, match="noise_dim"):
        paired_population_gradients(mlp_denoiser(), {"d": torch.zeros(8, 2, dtype=F64)}, noise_generator=generator(0, "q"), n_batches=2, sampling="rqmc")
    with pytest.raises(ValueError, match="deterministic"):
        stochastic = ModelLaw(model, Steps(4, "ddim", eta=1.0))
        paired_population_gradients(model, {"s": stochastic}, 64, noise_generator=generator(0, "q"), n_batches=2, sampling="rqmc")


# -- the toy's probes -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def probe_repeats():
    """The diffusion toy's P-cosine at ζ = 1.1 on one smoke base: R repeats of each estimator (fresh estimator noise)."""
    from studies.official_diffusion.toy import DiffusionToyConfig, diffusion_base, diffusion_cosine_probe

    cfg = replace(DiffusionToyConfig.preset("smoke"), n_pop=1024, noise_draws=8, grad_batch=512, n_batches=8)
    model = diffusion_base(cfg, 0)
    out = {}
    for est, R in (("plain", 16), ("variance-reduced", 100)):
        c = replace(cfg, cos_estimator=est)
        reports = [diffusion_cosine_probe(model, c, 0, rep=r).report(1.1) for r in range(1, R + 1)]
        out[est] = ([r.cosine for r in reports], [r.cosine_se for r in reports])
    return out


@pytest.mark.slow
def test_the_variance_reduced_probe_estimates_the_plain_probes_cosine(probe_repeats):
    (p, _), (v, _) = probe_repeats["plain"], probe_repeats["variance-reduced"]
    se = math.sqrt(statistics.variance(p) / len(p) + statistics.variance(v) / len(v))
    assert abs(statistics.mean(p) - statistics.mean(v)) <= K_SE * se
    assert statistics.stdev(v) < 0.3 * statistics.stdev(p)


@pytest.mark.slow
def test_the_variance_reduced_probes_cosine_se_is_calibrated(probe_repeats):
    cal = se_calibration(*probe_repeats["variance-reduced"])
    print(cal)
    assert cal.consistent(4.0, 0.1), cal


def test_the_rqmc_fd_metric_is_common_across_calls_and_agrees_with_monte_carlo():
    """The scramble is the evaluation stream's seed (common random numbers across w), and the FD on
    2^14 Sobol points agrees with the mean of four 2^16-draw Monte Carlo FDs within 4 of their SDs."""
    import torch

    from studies.official_diffusion.toy import DiffusionToyConfig, diffusion_base, diffusion_fd_metric

    cfg = replace(DiffusionToyConfig.preset("smoke"), base_steps=200, rqmc_eval=2**14)
    model = diffusion_base(cfg, 0)
    rqmc = diffusion_fd_metric(cfg)
    a, b = rqmc(model, torch.Generator().manual_seed(5)), rqmc(model, torch.Generator().manual_seed(5))
    assert a == b and a != rqmc(model, torch.Generator().manual_seed(6))
    mc = diffusion_fd_metric(replace(cfg, fd_sampling="mc", n_eval=2**16))
    draws = [mc(model, torch.Generator().manual_seed(s)) for s in range(4)]
    assert abs(a - statistics.mean(draws)) <= K_SE * statistics.stdev(draws)


@pytest.mark.slow
def test_the_official_estimator_and_the_variance_reduced_probe_agree_on_the_diffusion_toy():
    """Same estimand: the means over repeats agree within 4 combined SEs (smoke base, ζ = 1.1)."""
    from studies.bench.bench import _official_once
    from studies.official_diffusion.toy import DiffusionToyConfig, diffusion_base, diffusion_cosine_probe, diffusion_sampler

    cfg = replace(DiffusionToyConfig.preset("smoke"), n_pop=1024, noise_draws=8, grad_batch=512, n_batches=8)
    model = diffusion_base(cfg, 0)
    ours = [diffusion_cosine_probe(model, cfg, 0, rep=r).report(1.1).cosine for r in range(1, 9)]
    theirs = [_official_once(model, diffusion_sampler(cfg, 1.1), 1024, 8, 512, generator(0, f"test-official/{r}")) for r in range(16)]
    se = math.sqrt(statistics.variance(ours) / len(ours) + statistics.variance(theirs) / len(theirs))
    assert abs(statistics.mean(ours) - statistics.mean(theirs)) <= K_SE * se


def test_the_ar_toys_rqmc_probe_estimates_the_plain_probes_cosine():
    """The optional rqmc probe of the AR toy (P and r_d from the same quasi-random rows, r_d read off P's
    sums): the means over 10 repeats agree with the plain probe's within 4 combined SEs, and r_d is P's."""
    from studies.official_ar.toy import ARToyConfig, ar_base, ar_cosine_probe

    cfg = ARToyConfig.preset("smoke")
    model = ar_base(cfg, 0)
    probe = ar_cosine_probe(model, replace(cfg, cos_estimator="rqmc"), 0, rep=1)
    assert torch.allclose(probe.real_est.mean, probe.P.block_sums.sum(0) / probe.P.block_weights.sum())
    ours = [ar_cosine_probe(model, replace(cfg, cos_estimator="rqmc"), 0, rep=r).report(0.7).cosine for r in range(1, 11)]
    plain = [ar_cosine_probe(model, cfg, 0, rep=r).report(0.7).cosine for r in range(1, 11)]
    se = math.sqrt(statistics.variance(ours) / 10 + statistics.variance(plain) / 10)
    assert abs(statistics.mean(ours) - statistics.mean(plain)) <= K_SE * se
