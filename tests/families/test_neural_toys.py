"""The neural toy families on the engine's contract: training, sampling, samplers, the Neon loop."""

import math

import numpy as np
import pytest
import torch
from helpers import F64, hand_sampler_law
from hypothesis import given
from hypothesis import strategies as st

from neon_theory.contracts import GenerativeModel
from neon_theory.gradients import ModelLaw, WeightedSupport, paired_population_gradients, per_sample_gradients, population_gradient
from neon_theory.metrics import frechet_distance_from_samples, sample_moments
from neon_theory.neon import FineTuning, fit, merge, neon_loop
from neon_theory.probe import ProbeSizes
from neon_theory.rng import generator
from neon_theory.samplers import Chain, Guidance, ScoreScale, Steps, Temperature, TopK, TopP
from toy_models._conditional import TimeMLP
from toy_models.autoregressive import ARGaussianModel
from toy_models.diffusion import DiffusionModel, ExactScoreDiffusion, Schedule
from toy_models.flow import FlowModel
from toy_models.gmm import official_gaussian, two_class
from toy_models.tokens import MLPAR, MarkovChainTarget, TabularAR, all_sequences

K_SE = 6
TARGET = official_gaussian()


def real_data(n: int, seed: int = 0) -> torch.Tensor:
    return TARGET.sample(n, generator(seed, "real")).float()


@pytest.fixture(scope="module")
def diffusion():
    torch.manual_seed(0)
    model = DiffusionModel(TimeMLP(2), grid="own")
    res = fit(model, real_data(1000), steps=600, lr=2e-3, generator=generator(0, "fit"))
    return model, res


@pytest.fixture(scope="module")
def flow():
    torch.manual_seed(0)
    model = FlowModel(TimeMLP(2, hidden=64, depth=3))
    res = fit(model, real_data(1000), steps=600, lr=2e-3, generator=generator(0, "fit"))
    return model, res


@pytest.fixture(scope="module")
def autoregressive():
    torch.manual_seed(0)
    model = ARGaussianModel()
    res = fit(model, real_data(1000), steps=600, lr=5e-3, generator=generator(0, "fit"))
    return model, res


FAMILIES = ["diffusion", "flow", "autoregressive"]
SAMPLERS = {
    "diffusion": Steps(100, "ddim", eta=1.0),
    "flow": Steps(50, "heun"),
    "autoregressive": None,
}


@pytest.mark.parametrize("family", FAMILIES)
def test_training_lowers_the_loss(family, request):
    _, res = request.getfixturevalue(family)
    assert float(res.losses[-50:].mean()) < float(res.losses[:10].mean()) - 0.1


@pytest.mark.parametrize("family", FAMILIES)
def test_trained_sample_moments_match_within_k_se_of_the_training_set(family, request):
    """The model is asked to be as close to the truth as its 1000 training points are, up to 6 SE."""
    model, _ = request.getfixturevalue(family)
    assert isinstance(model, GenerativeModel)
    x = model.sample(20_000, SAMPLERS[family], generator(1, "eval")).double()
    mean, cov = sample_moments(x)
    n_train = 1000
    se_mean = torch.sqrt(torch.diagonal(TARGET.cov()) / n_train)
    se_var = torch.diagonal(TARGET.cov()) * math.sqrt(2 / n_train)
    assert bool(((mean - TARGET.mean()).abs() <= K_SE * se_mean).all()), mean
    assert bool(((torch.diagonal(cov) - torch.diagonal(TARGET.cov())).abs() <= K_SE * se_var).all()), cov


@pytest.mark.parametrize("family", FAMILIES)
def test_per_sample_gradients_and_common_random_numbers_work_on_every_family(family, request):
    model, _ = request.getfixturevalue(family)
    x = real_data(64, seed=3)
    noise = model.draw_noise(64, generator(0, "n"))
    g = per_sample_gradients(model, x, noise)
    assert g.shape[0] == 64 and bool(torch.isfinite(g).all())
    est = paired_population_gradients(
        model, {"d": x, "s": x.clone()}, noise_generator=generator(0, "n"), n_batches=4
    )
    assert torch.equal(est["d"].mean, est["s"].mean)


@pytest.mark.parametrize("family", FAMILIES)
def test_merge_round_trips_real_state_dicts(family, request):
    model, _ = request.getfixturevalue(family)
    base = model.module.state_dict()
    other = {k: v + 0.01 for k, v in base.items()}
    there = merge(base, other, 0.7)
    back = merge(there, base, -1.0)  # w = −1 returns the "other" argument: the base
    for k in base:
        assert torch.allclose(back[k], base[k], rtol=0, atol=1e-6)  # float32 round trip of O(1) weights
    model.module.load_state_dict(merge(base, other, 0.0))
    for k, v in model.module.state_dict().items():
        assert torch.equal(v, base[k])


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_full_neon_loop_runs_on_every_family(family, request):
    model, _ = request.getfixturevalue(family)
    sampler = {"diffusion": Chain((Steps(20, "ddim"), ScoreScale(1.1))), "flow": Steps(10, "euler"), "autoregressive": Temperature(0.7, "std")}[family]

    def metric(m, g):
        return frechet_distance_from_samples(m.sample(4000, SAMPLERS[family], g).double(), TARGET.mean(), TARGET.cov())

    run = neon_loop(
        model, TARGET, sampler, metric=metric, n_synthetic=512, fine_tuning=FineTuning(10, 1e-4), seed=0,
        sizes=ProbeSizes(n_pop=2000, n_batches=10), ws=[-1.0, 0.0, 1.0], bracket=(-1.0, 1.0),
    )
    assert run.synthetic.shape[0] == 512
    assert run.sweep.values.shape == (3,) and math.isfinite(run.best.w)
    rep = run.alignment
    # the cosine is s_plugin / (‖r̂_d‖_P ‖r̂_s‖_P), and Monte Carlo estimates are never exactly (anti)parallel
    assert rep.cosine == pytest.approx(rep.s_plugin / (rep.norm_d * rep.norm_s), rel=1e-12, abs=1e-15)
    assert abs(rep.cosine) < 1 and rep.s_se > 0 and rep.cosine_se > 0
    # w = 0 in the sweep is the base model evaluated with the same noise as the Brent base value: identical
    assert run.sweep.values[1] == pytest.approx(run.best.base_value, rel=0, abs=0)


# ---- diffusion samplers with the exact score ---------------------------------------------


def test_schedule_conventions_and_inverse():
    s = Schedule("cosine", 1000)
    assert float(s.alpha_bar[0]) == 1.0 and bool((s.alpha_bar[1:] < s.alpha_bar[:-1]).all())
    u = torch.tensor([0.5, 3.3, 500.7, 998.0], dtype=F64)
    assert torch.allclose(s.index_of(s.at(u)), u, rtol=0, atol=1e-8)  # interpolated inverse
    lin = Schedule("linear", 100)
    assert float(lin.alpha_bar[0]) == pytest.approx(1 - 1e-4, rel=0, abs=1e-16)  # ᾱ₁ = 1 − β₁, float64
    with pytest.raises(ValueError, match="kind"):
        Schedule("sigmoid")
    with pytest.raises(ValueError, match="T"):
        Schedule("cosine", 1)


def test_neutral_diffusion_specs_change_nothing():
    exact = ExactScoreDiffusion(two_class(), grid="own")
    labels = torch.arange(200) % 2
    a = exact.sample(200, Steps(20, "ddim"), generator(0), labels=labels)
    b = exact.sample(200, Chain((Steps(20, "ddim"), ScoreScale(1.0), Guidance(1.0))), generator(0), labels=labels)
    assert torch.allclose(a, b, rtol=0, atol=1e-12)


def test_score_scale_placement_matters_for_ddim_only():
    exact = ExactScoreDiffusion(TARGET, grid="own")
    x0 = exact.sample(500, Chain((Steps(20, "ddim"), ScoreScale(1.1, "x0"))), generator(0))
    up = exact.sample(500, Chain((Steps(20, "ddim"), ScoreScale(1.1, "update"))), generator(0))
    assert float((x0 - up).abs().mean()) > 0.1  # placement changes DDIM samples by O(1), not round-off
    ode_x0 = exact.sample(500, Chain((Steps(20, "euler"), ScoreScale(1.1, "x0"))), generator(0))
    ode_up = exact.sample(500, Chain((Steps(20, "euler"), ScoreScale(1.1, "update"))), generator(0))
    assert torch.equal(ode_x0, ode_up)  # for an ODE solver the two placements are the same computation


@pytest.mark.parametrize("zeta, sharper", [(1.1, True), (0.9, False)])
def test_score_scale_above_one_sharpens(zeta, sharper):
    exact = ExactScoreDiffusion(TARGET, grid="own")
    base = torch.trace(torch.cov(exact.sample(20_000, Steps(20, "ddim"), generator(0)).T))
    scaled = torch.trace(torch.cov(exact.sample(20_000, Chain((Steps(20, "ddim"), ScoreScale(zeta))), generator(0)).T))
    assert bool(scaled < base) is sharper


@pytest.mark.slow
def test_many_step_samplers_recover_the_target():
    exact = ExactScoreDiffusion(TARGET)
    for spec in (Steps(200, "ddim", eta=1.0), Steps(60, "heun")):
        x = exact.sample(40_000, spec, generator(2))
        assert frechet_distance_from_samples(x, TARGET.mean(), TARGET.cov()) < 0.01


def test_guidance_above_one_separates_the_classes_more():
    exact = ExactScoreDiffusion(two_class(), grid="own")
    labels = torch.arange(20_000) % 2
    sign = 2.0 * labels - 1
    spread = {}
    for gamma in (1.0, 3.0):
        x = exact.sample(20_000, Chain((Steps(50, "ddim"), Guidance(gamma))), generator(3), labels=labels)
        spread[gamma] = float((sign * x[:, 0]).mean())
    assert spread[3.0] > spread[1.0] + 0.1


def test_diffusion_and_flow_validate_samplers():
    model = DiffusionModel(TimeMLP(2))
    with pytest.raises(ValueError, match="Temperature"):
        model.sample(10, Temperature(0.5), generator(0))
    with pytest.raises(ValueError, match="Guidance"):
        model.sample(10, Guidance(2.0), generator(0))
    with pytest.raises(ValueError, match="grid"):
        DiffusionModel(TimeMLP(2), grid="log")
    with pytest.raises(ValueError, match="TimeMLP"):
        DiffusionModel(torch.nn.Linear(2, 2))
    fm = FlowModel(TimeMLP(2))
    with pytest.raises(ValueError, match="solver"):
        fm.sample(10, Steps(5, "ddim"), generator(0))
    with pytest.raises(ValueError, match="x"):
        model.per_example_loss(torch.zeros(3, 5), model.draw_noise(3, generator(0)))


def test_conditional_flow_guidance_at_one_equals_conditional_sampling():
    torch.manual_seed(0)
    fm = FlowModel(TimeMLP(2, num_classes=2))
    a = fm.sample(100, Steps(5, "midpoint"), generator(0))
    b = fm.sample(100, Chain((Steps(5, "midpoint"), Guidance(1.0))), generator(0))
    assert a.shape == (100, 3) and torch.allclose(a, b, rtol=0, atol=1e-6)  # float32 network
    x = two_class().sample_with_labels(64, generator(1))
    data = torch.cat([x[0], x[1][:, None].double()], -1).float()
    assert fm.per_example_loss(data, fm.draw_noise(64, generator(2))).shape == (64,)


# ---- continuous AR ----------------------------------------------------------------------


def test_ar_loss_is_the_exact_gaussian_nll():
    model = ARGaussianModel()
    x = real_data(50)
    mu1, ls1, mu2, ls2 = model.module.conditionals(x[:, 0])
    ref = -(torch.distributions.Normal(mu1, ls1.exp()).log_prob(x[:, 0]) + torch.distributions.Normal(mu2, ls2.exp()).log_prob(x[:, 1]))
    assert torch.allclose(model.per_example_loss(x), ref, rtol=0, atol=1e-5)  # float32 NLL of O(1)


@given(st.floats(0.3, 2.0))
def test_ar_temperature_conventions_agree(tau):
    model = ARGaussianModel()
    a = model.sample(100, Temperature(tau, "std"), generator(0))
    b = model.sample(100, Temperature(tau**2, "density"), generator(0))
    assert torch.allclose(a, b, rtol=0, atol=1e-5)  # float32: τ·σ vs √(τ²)·σ


def test_ar_std_temperature_scales_the_first_coordinate_within_k_se(autoregressive):
    model, _ = autoregressive
    n, tau = 50_000, 0.6
    x1 = model.sample(n, Temperature(tau, "std"), generator(4))[:, 0].double()
    sigma1 = float(model.module.log_std1.detach().exp())
    se = tau * sigma1 * math.sqrt(2 / n)
    assert abs(float(x1.std()) - tau * sigma1) <= K_SE * se


def test_ar_neutral_sampler_synthetic_gradient_is_zero_within_k_se(autoregressive):
    model, _ = autoregressive
    est = population_gradient(model, ModelLaw(model, None), 40_000, generator=generator(5), n_batches=20)
    assert bool((est.mean.abs() <= K_SE * est.se + 1e-9).all())


# ---- discrete tokens: enumeration ---------------------------------------------------------


@pytest.fixture(scope="module")
def chain():
    return MarkovChainTarget.random(3, 3, generator(0, "chain"))


def test_tabular_truth_is_in_the_family(chain):
    star = TabularAR.from_log_prob(chain.log_prob, 3, 3)
    seqs = all_sequences(3, 3)
    assert torch.allclose(star.log_prob(seqs), chain.log_prob(seqs), rtol=0, atol=1e-12)
    assert float(population_gradient(star, chain.support()).mean.abs().max()) < 1e-12
    assert float(chain.support().weights.sum()) == pytest.approx(1.0, rel=0, abs=1e-14)


@pytest.mark.parametrize("make", [lambda: TabularAR(3, 3), lambda: MLPAR(3, 3, hidden=8)])
def test_token_neutral_samplers_are_exactly_neutral(make):
    torch.manual_seed(0)
    model = make()
    for spec in (None, Temperature(1.0), TopK(3), TopP(1.0)):
        assert float(population_gradient(model, model.support(spec)).mean.abs().max()) < 1e-12
    assert torch.allclose(model.support(TopK(3)).weights, model.support(None).weights, rtol=0, atol=1e-15)


@pytest.mark.parametrize("spec", [Temperature(0.6), TopK(2), TopP(0.7), Chain((Temperature(1.4), TopK(2)))])
def test_token_enumeration_agrees_with_monte_carlo(chain, spec):
    torch.manual_seed(1)
    model = MLPAR(3, 3, hidden=8)
    est = paired_population_gradients(
        model, {"d": chain, "s": ModelLaw(model, spec)}, 20_000, generator=generator(6, "tok"), n_batches=20
    )
    exact_d = population_gradient(model, chain.support()).mean
    # the truncated sampling law by hand (numpy sorting, not categorical_logits): q(x) = Π_i q_i(x_i | x_<i)
    seqs = all_sequences(3, 3)
    with torch.no_grad():
        step_p = torch.softmax(model.all_logits(seqs).double(), -1).cpu().numpy()
    q_hand = np.array([
        np.prod([hand_sampler_law(step_p[j, i], spec)[int(seqs[j, i])] for i in range(3)]) for j in range(seqs.shape[0])
    ])
    assert bool((q_hand == 0).any()) == (not isinstance(spec, Temperature))  # top-k / top-p remove sequences
    torch.testing.assert_close(model.support(spec).weights, torch.as_tensor(q_hand), rtol=0, atol=1e-12)
    exact_s = population_gradient(model, WeightedSupport(seqs, torch.as_tensor(q_hand / q_hand.sum()))).mean
    assert bool(((est["d"].mean - exact_d).abs() <= K_SE * est["d"].se + 1e-12).all())
    assert bool(((est["s"].mean - exact_s).abs() <= K_SE * est["s"].se + 1e-12).all())


def test_token_model_training_lowers_the_loss(chain):
    torch.manual_seed(2)
    model = MLPAR(3, 3, hidden=16)
    data = chain.sample(2000, generator(7))
    res = fit(model, data, steps=200, lr=1e-2, generator=generator(8))
    assert float(res.losses[-20:].mean()) < float(res.losses[:20].mean()) - 0.1


# ---- sampler bias vs step count (exact score) --------------------------------------------

from toy_models.diffusion import bias_order, solver_bias  # noqa: E402


@pytest.mark.slow
def test_first_order_solvers_shrink_the_law_with_bias_of_order_h():
    exact = ExactScoreDiffusion(TARGET)
    specs = {"ddim": lambda k: Steps(k, "ddim", eta=0.0), "heun": lambda k: Steps(k, "heun")}
    table = solver_bias(exact, specs, [5, 10, 20, 40], n=60_000, seed=0)
    ddim = table[table.solver == "ddim"]
    assert bool((ddim.trace_shift < -K_SE * ddim.trace_se).all())  # mode-seeking at every step count
    assert 0.7 < bias_order(table, "ddim") < 1.3  # O(h)
    heun = table[(table.solver == "heun") & (table.steps <= 20)]
    # Heun is second order and, on this target and on _ode's EDM ρ = 7 σ-grid from σ_max ≈ 642 (the cosine
    # schedule, T = 1000), *diversity*-seeking at few steps; on a uniform-in-t grid it diverges instead
    assert bool((heun.trace_shift > K_SE * heun.trace_se).all())
    assert bias_order(table[table.steps <= 20], "heun") > 1.5


@pytest.mark.slow
def test_guided_sampler_bias_shrinks_with_steps():
    exact = ExactScoreDiffusion(two_class())
    labels = torch.arange(20_000) % 2
    guided = lambda k: Chain((Steps(k, "ddim", eta=0.0), Guidance(3.0)))  # noqa: E731
    # reference: a long second-order run with the same noise stream
    x_ref = exact.sample(20_000, Chain((Steps(100, "heun"), Guidance(3.0))), generator(1, "solver-bias"), labels=labels)
    table = solver_bias(exact, {"ddim": guided}, [5, 10, 20], n=20_000, seed=1, reference=sample_moments(x_ref), labels=labels)
    shifts = table.trace_shift.abs().to_numpy()
    assert shifts[0] > shifts[1] > shifts[2]
    assert bias_order(table, "ddim") > 0.7  # at least first order (pre-asymptotic slope ≈ 1.5 here)


def test_exact_token_theory_near_the_truth(chain):
    """Tabular family, natural gradient at θ*: m = M = 1, and the (first-order) sufficient condition holds with s < 0."""
    from neon_theory.gradients import population_hessian
    from neon_theory.preconditioners import exact_inverse
    from toy_models.tokens import exact_token_alignment

    star = TabularAR.from_log_prob(chain.log_prob, 3, 3)
    model = TabularAR(3, 3)
    with torch.no_grad():  # slightly too sharp: logits scaled up by 3%
        model.module.logits_free.copy_(1.03 * star.module.logits_free)
    P = exact_inverse(population_hessian(star, chain.support()))
    rep = exact_token_alignment(chain, model, Temperature(0.7), P)
    th = rep.theory
    assert th.m == pytest.approx(1, abs=1e-8) and th.M == pytest.approx(1, abs=1e-8)
    assert rep.exact and rep.s_se == 0
    assert th.sufficient_condition_first_order and th.sufficient_condition_printed  # K = I: the two agree
    assert th.s_first_order < 0 and rep.s < 0
    assert th.s_first_order <= th.bound_corrected_first_order + 1e-12
    # the token analogue of the over-dispersed counterexample: too-diffuse logits, sharpening sampler
    with torch.no_grad():
        model.module.logits_free.copy_(0.97 * star.module.logits_free)
    diffuse = exact_token_alignment(chain, model, Temperature(0.7), P)
    assert diffuse.s > 0 and diffuse.theory.cos_phi > 0
    with pytest.raises(ValueError, match="TabularAR"):
        exact_token_alignment(chain, MLPAR(3, 3), None, P)


@pytest.mark.parametrize("family", ["gaussian", "tokens"])
def test_full_neon_loop_on_the_exact_families(family, chain):
    from neon_theory.alignment import alignment
    from neon_theory.preconditioners import identity
    from toy_models.gaussian import GaussianModel, GaussianTarget, exact_alignment, population_nll
    from toy_models.tokens import exact_kl

    if family == "gaussian":
        target = GaussianTarget(torch.zeros(2, dtype=F64), TARGET.cov())
        model = GaussianModel(torch.zeros(2, dtype=F64), 0.8 * TARGET.cov())
        metric, sampler, real = (lambda m, g: population_nll(target, m)), Temperature(0.7), target
    else:
        torch.manual_seed(3)
        model = MLPAR(3, 3, hidden=8)
        fit(model, chain.sample(500, generator(9)), steps=100, lr=1e-2, generator=generator(10))
        metric, sampler, real = (lambda m, g: exact_kl(chain, m)), TopK(2), chain
    run = neon_loop(model, real, sampler, metric=metric, n_synthetic=2000, fine_tuning=FineTuning(20, 1e-2, "sgd"), seed=1,
                    sizes=ProbeSizes(n_pop=4000, n_batches=10), ws=[-0.5, 0.0, 0.5], bracket=(-2.0, 2.0))
    assert run.sweep.values[1] == pytest.approx(run.best.base_value, rel=0, abs=0)  # same w = 0, same noise
    assert run.best.value <= run.best.base_value + 1e-12
    # the estimated cosine is within K_SE jackknife SEs of the exact one (P = I, at the unchanged θ_r)
    if family == "gaussian":
        exact = exact_alignment(target, model, sampler, identity())
    else:
        exact = alignment(population_gradient(model, chain.support()), population_gradient(model, model.support(sampler)), identity())
    rep = run.alignment
    assert abs(rep.cosine - exact.cosine) <= K_SE * rep.cosine_se, (rep.cosine, exact.cosine, rep.cosine_se)
    assert abs(rep.s - exact.s) <= K_SE * rep.s_se, (rep.s, exact.s, rep.s_se)
