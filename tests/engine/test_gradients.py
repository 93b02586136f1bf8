"""The generic gradient engine on models it knows nothing about (an MLP adapter, the categorical family)."""

import pytest
import torch
from helpers import F64, hand_sampler_law, mlp_denoiser
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from neon_theory.contracts import GenerativeModel, ModelAdapter, check_model
from neon_theory.gradients import (
    GradientEstimate,
    ModelLaw,
    WeightedSupport,
    gradient_second_moment,
    hessian_vector_product,
    paired_population_gradients,
    per_sample_gradients,
    population_gradient,
    population_hessian,
)
from neon_theory.rng import draw, generator
from neon_theory.samplers import Chain, Temperature, TopK, TopP
from toy_models.categorical import CategoricalModel, CategoricalTarget

K_SE = 6


def test_adapter_satisfies_the_protocol():
    model = mlp_denoiser()
    assert isinstance(model, GenerativeModel)
    with pytest.raises(ValueError, match="module"):
        ModelAdapter(object(), loss_fn=lambda *a: None, sample_fn=lambda *a: None)
    with pytest.raises(ValueError, match="lacks"):
        check_model(object())


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
@pytest.mark.parametrize("n_batches", [2, 5, 13])
def test_chunking_and_batching_do_not_change_a_finite_set_gradient(chunk_size, n_batches):
    p_model = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64)
    model = CategoricalModel(p_model)
    x = CategoricalTarget(torch.tensor([0.25, 0.25, 0.25, 0.25], dtype=F64)).sample(200, generator(0, "x"))
    est = population_gradient(model, x, chunk_size=chunk_size, n_batches=n_batches)
    freq = torch.bincount(x, minlength=4).double() / 200
    assert torch.allclose(est.mean, (p_model - freq)[:-1], rtol=0, atol=1e-12)  # float64-exact


def test_noise_model_gradient_equals_direct_autograd_with_the_same_noise():
    model = mlp_denoiser()
    x = draw(torch.randn, 200, 2, generator=generator(0, "x"), dtype=F64)
    est = population_gradient(model, x, chunk_size=100, n_batches=2, noise_generator=generator(1, "noise"))
    g = generator(1, "noise")  # the same stream, consumed chunk by chunk in the same order
    loss = torch.cat([model.per_example_loss(x[i : i + 100], model.draw_noise(100, g)) for i in (0, 100)]).mean()
    direct = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(model.module.parameters()))])
    assert torch.allclose(est.mean, direct.double(), rtol=0, atol=1e-12)  # float64-exact


def test_per_sample_gradients_vmap_equals_loop_and_averages_to_the_population_gradient():
    model = mlp_denoiser()
    x = draw(torch.randn, 33, 2, generator=generator(0, "x"), dtype=F64)
    noise = model.draw_noise(33, generator(2, "n"))
    g_vmap = per_sample_gradients(model, x, noise)
    g_loop = per_sample_gradients(model, x, noise, method="loop")
    assert g_vmap.shape == (33, sum(p.numel() for p in model.module.parameters()))
    assert torch.allclose(g_vmap, g_loop, rtol=0, atol=1e-12)  # float64-exact
    mean_loss = model.per_example_loss(x, noise).mean()
    direct = torch.cat([g.reshape(-1) for g in torch.autograd.grad(mean_loss, list(model.module.parameters()))])
    assert torch.allclose(g_vmap.mean(0), direct.double(), rtol=0, atol=1e-12)  # float64-exact


def test_common_random_numbers_make_identical_sources_give_identical_estimates():
    """Same data and same noise for both sources ⇒ r_d − r_s is exactly 0; independent noise ⇒ it is not."""
    model = mlp_denoiser()
    x = draw(torch.randn, 256, 2, generator=generator(0, "x"), dtype=F64)
    est = paired_population_gradients(model, {"a": x, "b": x.clone()}, noise_generator=generator(3, "n"), n_batches=8)
    assert torch.equal(est["a"].mean, est["b"].mean)
    a = population_gradient(model, x, noise_generator=generator(3, "n"), n_batches=8)
    b = population_gradient(model, x, noise_generator=generator(4, "n"), n_batches=8)
    # independent noise: the estimates differ by far more than float64 round-off
    assert float((a.mean - b.mean).abs().max()) > 1e-3


def test_streaming_is_reproducible_and_independent_of_chunk_size_for_the_se_batches():
    model = mlp_denoiser()
    src = ModelLaw(model, None)

    def kw():
        return dict(generator=generator(5, "d"), noise_generator=generator(5, "n"), n_batches=10)

    a = population_gradient(model, src, 1000, chunk_size=100, **kw())
    b = population_gradient(model, src, 1000, chunk_size=100, **kw())
    assert torch.equal(a.mean, b.mean) and torch.equal(a.se, b.se)
    c = population_gradient(model, src, 1000, chunk_size=37, **kw())  # chunks straddle no batch edge
    for est in (a, c):  # the SE batches are the same 10 batches of 100 whatever the chunk size
        assert est.batch_means.shape == (10, a.mean.shape[0])
        torch.testing.assert_close(est.batch_weights, torch.full((10,), 0.1, dtype=F64), rtol=0, atol=1e-15)
    # another chunk size redraws the data and noise in other blocks: a different, equally valid estimate
    assert bool(((a.mean - c.mean).abs() <= K_SE * torch.sqrt(a.se**2 + c.se**2)).all())
    # on a fixed finite set with a noise-free loss the batch means themselves do not depend on the chunk size
    cat = CategoricalModel(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64))
    x = CategoricalTarget(torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=F64)).sample(1000, generator(6, "x"))
    e100 = population_gradient(cat, x, chunk_size=100, n_batches=10)
    e37 = population_gradient(cat, x, chunk_size=37, n_batches=10)
    torch.testing.assert_close(e37.batch_means, e100.batch_means, rtol=0, atol=1e-15)
    torch.testing.assert_close(e37.se, e100.se, rtol=0, atol=1e-15)
    assert float(e100.se.min()) > 0


def test_batch_means_standard_error_is_calibrated():
    """Over 60 independent replications the estimate falls within 3·SE of the truth about 99.7% of the time."""
    target = CategoricalTarget(torch.tensor([0.5, 0.3, 0.2], dtype=F64))
    model = CategoricalModel(torch.tensor([0.4, 0.4, 0.2], dtype=F64))
    exact = population_gradient(model, target.support()).mean
    z = []
    for rep in range(60):
        est = population_gradient(model, target, 2000, generator=generator(rep, "calib"), n_batches=20, chunk_size=500)
        z.append(((est.mean - exact) / est.se).abs().max().item())
    z = torch.tensor(z)
    assert float((z <= 3.5).double().mean()) >= 0.9  # batch-means SE with 20 batches: t(19)-ish tails
    assert float(z.median()) > 0.3  # not wildly over-estimated either


# ---- categorical family: exact enumeration ----------------------------------------------------

probs_strategy = st.lists(st.floats(0.02, 1.0), min_size=2, max_size=8).map(
    lambda w: torch.tensor(w, dtype=F64) / sum(w)
)


@given(probs_strategy)
def test_neutral_samplers_give_zero_synthetic_gradient_exactly(probs):
    """E_{p_θ}[∇(−log p_θ)] = 0: the score has mean zero under the model's own law."""
    model = CategoricalModel(probs)
    V = model.vocab_size
    for spec in (None, Temperature(1.0), TopK(V), TopP(1.0), Chain((Temperature(1.0), TopK(V)))):
        r_s = population_gradient(model, model.support(spec)).mean
        assert float(r_s.abs().max()) < 1e-12


@given(probs_strategy, probs_strategy)
def test_categorical_enumeration_matches_closed_form(p_model, p_data):
    V = min(p_model.shape[0], p_data.shape[0])
    p_model, p_data = p_model[:V] / p_model[:V].sum(), p_data[:V] / p_data[:V].sum()
    model = CategoricalModel(p_model)
    r = population_gradient(model, CategoricalTarget(p_data).support())
    # ∂/∂logit_j E_data[−log softmax] = p_model[j] − p_data[j] for the V−1 free logits
    assert torch.allclose(r.mean, (p_model - p_data)[:-1], rtol=0, atol=1e-12)  # float64-exact
    assert r.exact and float(r.se.abs().max()) == 0


def test_categorical_monte_carlo_within_k_se_of_enumeration():
    target = CategoricalTarget(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64))
    p_model = [0.12, 0.18, 0.3, 0.4]  # no ties, so top-3 really drops a token
    model = CategoricalModel(torch.tensor(p_model, dtype=F64))
    sampler = Chain((Temperature(0.7), TopK(3)))
    est = paired_population_gradients(
        model, {"d": target, "s": ModelLaw(model, sampler)}, 30_000, generator=generator(0, "cat"), n_batches=30
    )
    # the synthetic law by hand (numpy), independent of categorical_logits: p^(1/0.7), drop the smallest
    q_hand = torch.as_tensor(hand_sampler_law(p_model, sampler))  # on the default device, like the support
    assert float(q_hand[0]) == 0 and bool((q_hand[1:] > 0).all())
    q_support = WeightedSupport(torch.arange(4), q_hand)
    for key, src in (("d", target.support()), ("s", q_support)):
        exact = population_gradient(model, src).mean
        assert bool(((est[key].mean - exact).abs() <= K_SE * est[key].se).all())


def test_second_moment_and_fisher_identity_on_the_categorical_family():
    """E_{p_θ}[g gᵀ] (true Fisher) equals the Hessian of the NLL under p_θ, exactly by enumeration."""
    model = CategoricalModel(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64))
    F = gradient_second_moment(model, model.support(), diagonal=False)
    H = population_hessian(model, model.support())
    assert torch.allclose(F.value, H, rtol=0, atol=1e-12)  # float64-exact
    diag = gradient_second_moment(model, model.support(), diagonal=True)
    assert torch.allclose(diag.value, torch.diagonal(F.value), rtol=0, atol=1e-14)
    v = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    assert torch.allclose(hessian_vector_product(model, model.support(), v), H @ v, rtol=0, atol=1e-12)


class _Centre(nn.Module):
    def __init__(self, theta):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(theta, dtype=F64))


def test_population_gradient_of_a_million_large_offset_rows_is_float64_exact():
    """ℓ_θ(x) = ½‖x − θ‖², so E[∇ℓ] = θ − mean(x).  The rows sit at ±1e4 with small fractional
    parts: float32 accumulation (ulp 1e-3 at 1e4, ~30 on a batch sum) would be off by ~1e-3;
    float64 streaming must match the exactly rounded mean (math.fsum) to 1e-9 (1e-13 relative)."""
    import math

    n = 1_048_576  # 2^20 rows, 256 chunks of 4096, 32 batches
    i = torch.arange(n, dtype=F64)
    frac = torch.remainder(i * 7919.0, 10007.0) / 10007.0  # in [0, 1), not dyadic
    x = torch.stack([1e4 + frac, -2.5e4 + frac**2], dim=1)
    theta = [0.25, -3.0]
    model = ModelAdapter(
        _Centre(theta),
        loss_fn=lambda m, x, _: 0.5 * ((x - m.theta) ** 2).sum(-1),
        sample_fn=lambda m, n, s, g: draw(torch.randn, n, 2, generator=g, dtype=F64),
    )
    est = population_gradient(model, x)
    exact = torch.tensor([t - math.fsum(col) / n for t, col in zip(theta, x.T.tolist())], dtype=F64)
    assert est.mean.dtype == F64 and est.n == n
    torch.testing.assert_close(est.mean, exact, rtol=0, atol=1e-9)
    # each batch mean too (32 contiguous batches of 32768 rows)
    for b in (0, 17, 31):
        rows = x[b * 32768 : (b + 1) * 32768]
        exact_b = torch.tensor([t - math.fsum(col) / rows.shape[0] for t, col in zip(theta, rows.T.tolist())], dtype=F64)
        torch.testing.assert_close(est.batch_means[b], exact_b, rtol=0, atol=1e-9)


def test_gradient_estimate_from_exact():
    g = GradientEstimate.from_exact(torch.tensor([1.0, 2.0]))
    assert g.exact and g.n_batches == 1 and float(g.se.sum()) == 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m, x: population_gradient(m, x, n_batches=1), "n_batches"),
        (lambda m, x: population_gradient(m, x, n_batches=500), "n_batches"),
        (lambda m, x: population_gradient(m, x, chunk_size=0), "chunk_size"),
        (lambda m, x: population_gradient(m, x, n=10_000), "n"),
        (lambda m, x: population_gradient(m, ModelLaw(m)), "n"),
        (lambda m, x: population_gradient(m, ModelLaw(m), 100), "generator"),
        (lambda m, x: population_gradient(m, "data", 100), "source"),
        (lambda m, x: paired_population_gradients(m, {"a": x, "b": x[:50]}), "same n"),
        (lambda m, x: paired_population_gradients(m, {}), "sources"),
        (lambda m, x: per_sample_gradients(m, x, method="magic"), "method"),
        (lambda m, x: WeightedSupport(x, torch.ones(x.shape[0])), "sum to 1"),
        (lambda m, x: population_gradient(nn.Linear(2, 2), x), "GenerativeModel"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, match):
    model = CategoricalModel(torch.tensor([0.5, 0.5], dtype=F64))
    x = torch.zeros(100, dtype=torch.long)
    with pytest.raises(ValueError, match=match):
        call(model, x)


def test_noise_models_require_a_noise_generator():
    model = mlp_denoiser()
    with pytest.raises(ValueError, match="noise_generator"):
        population_gradient(model, torch.zeros(10, 2, dtype=F64), n_batches=2)
