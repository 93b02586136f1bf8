"""toy_models.mixture: the learnable mixture against toy_models.gmm.GMM (an independent density), its
std-temperature sampler against the tempered mixture's moments, its NLL gradient against closed forms
and finite differences, and its refusals."""

import math

import pytest
import torch
from helpers import F64
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from neon_theory.rng import draw, generator
from neon_theory.samplers import ScoreScale, Steps, Temperature
from toy_models.gmm import GMM
from toy_models.mixture import MixtureModel, MixtureParams, std_temperature

K_SE = 5  # Monte Carlo checks: |estimate − exact| ≤ 5 standard errors (a false alarm has odds ~1e-6 per coordinate)

WEIGHTS = torch.tensor([0.2, 0.5, 0.3], dtype=F64)
MEANS = torch.tensor([[0.0, 1.0, -0.5], [2.0, -1.0, 0.5], [-1.5, 0.0, 1.0]], dtype=F64)
COVS = torch.tensor([
    [[1.0, 0.3, 0.1], [0.3, 0.5, -0.2], [0.1, -0.2, 0.7]],
    [[0.4, -0.1, 0.0], [-0.1, 0.8, 0.25], [0.0, 0.25, 0.6]],
    [[0.3, 0.0, 0.05], [0.0, 0.3, 0.0], [0.05, 0.0, 0.9]],
], dtype=F64)


def _model() -> MixtureModel:
    return MixtureModel(WEIGHTS, MEANS, COVS)


def _points(n: int = 40, seed: int = 0) -> torch.Tensor:
    return 1.5 * draw(torch.randn, n, 3, generator=generator(seed, "x"), dtype=F64)


def _within_k_se(x: torch.Tensor, law: GMM) -> bool:
    """Whether the sample mean and covariance of x match the law's, each entry within K_SE standard errors."""
    n = x.shape[0]
    mean, cov = law.mean(), law.cov()
    mean_ok = bool(((x.mean(0) - mean).abs() <= K_SE * torch.sqrt(torch.diagonal(cov) / n)).all())
    c = x - mean  # centred at the exact mean: E[c cᵀ] = Σ, and each product's SE is its std / √n
    prods = c[:, :, None] * c[:, None, :]
    return mean_ok and bool(((prods.mean(0) - cov).abs() <= K_SE * prods.std(0) / math.sqrt(n)).all())


# -- the density and the parametrisation -------------------------------------------------------------


def test_log_prob_equals_the_gmm_log_prob():
    x = _points()
    assert torch.allclose(_model().log_prob(x), GMM(WEIGHTS, MEANS, COVS).log_prob(x), rtol=0, atol=1e-10)
    assert torch.allclose(_model().per_example_loss(x, None), -GMM(WEIGHTS, MEANS, COVS).log_prob(x), rtol=0, atol=1e-10)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3), st.integers(1, 3))
def test_the_model_round_trips_random_mixtures(seed, K, D):
    g = generator(seed, "mixture")
    w = torch.softmax(draw(torch.randn, K, generator=g, dtype=F64), 0)
    means = draw(torch.randn, K, D, generator=g, dtype=F64)
    A = draw(torch.randn, K, D, D, generator=g, dtype=F64)
    covs = A @ A.transpose(1, 2) + 0.2 * torch.eye(D, dtype=F64)
    model = MixtureModel(w, means, covs)
    back = model.gmm()
    assert torch.allclose(back.weights, w, rtol=0, atol=1e-12)
    assert torch.allclose(back.means, means, rtol=0, atol=1e-14)
    assert torch.allclose(back.covs, covs, rtol=0, atol=1e-10)
    L = model.module.cholesky()
    assert torch.equal(L, torch.tril(L)) and bool((torch.diagonal(L, dim1=1, dim2=2) > 0).all())
    x = draw(torch.randn, 10, D, generator=g, dtype=F64)
    assert torch.allclose(model.log_prob(x), GMM(w, means, covs).log_prob(x), rtol=0, atol=1e-10)
    assert model.dim == D and model.n_components == K


@pytest.mark.parametrize("tau", [0.3, 1.0, 2.5])
def test_gmm_at_tau_scales_every_covariance_by_tau_squared_and_keeps_weights_and_means(tau):
    law = _model().gmm(tau)
    assert torch.allclose(law.covs, tau**2 * COVS, rtol=0, atol=1e-12)
    assert torch.allclose(law.weights, WEIGHTS, rtol=0, atol=1e-14) and torch.allclose(law.means, MEANS, rtol=0, atol=0)
    via_sampler = _model().sampler_law(Temperature(tau, "std"))
    assert torch.allclose(via_sampler.covs, law.covs, rtol=0, atol=0)


def test_the_nll_gradient_matches_central_finite_differences():
    model = _model()
    x = _points(15, 1)
    params = dict(model.module.named_parameters())
    model.module.zero_grad()
    model.per_example_loss(x, None).sum().backward()
    h = 1e-6
    for name, p in params.items():
        numeric = torch.zeros_like(p)
        flat = p.data.view(-1)
        for i in range(flat.numel()):
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + h
                up = float(model.per_example_loss(x, None).sum())
                flat[i] = old - h
                down = float(model.per_example_loss(x, None).sum())
                flat[i] = old
            numeric.view(-1)[i] = (up - down) / (2 * h)
        assert torch.allclose(p.grad, numeric, rtol=1e-6, atol=1e-6), name  # central differences: O(h²) + round-off/h


def test_the_nll_gradient_in_means_and_logits_has_the_closed_form():
    # −log p: ∂/∂μ_k = −r_k Σ_k⁻¹ (x − μ_k) and ∂/∂logit_k = π_k − r_k, with r the responsibilities
    model, law = _model(), GMM(WEIGHTS, MEANS, COVS)
    x = _points(20, 2)
    model.per_example_loss(x, None).sum().backward()
    r = law.responsibilities(x)  # (n, K)
    solved = torch.linalg.solve(COVS[None], (x[:, None, :] - MEANS[None])[..., None])[..., 0]  # (n, K, D)
    assert torch.allclose(model.module.means.grad, -(r[..., None] * solved).sum(0), rtol=1e-10, atol=1e-10)
    assert torch.allclose(model.module.logits.grad, (WEIGHTS[None] - r).sum(0), rtol=1e-10, atol=1e-10)


def test_the_mean_score_at_the_true_parameters_is_zero_within_k_se():
    # E_p[∇_θ log p_θ(x)] = 0 at the law's own θ: a check that the density and its parametrisation agree
    model = _model()
    x = model.sample(8000, None, generator(3, "s"))
    chunks = []
    for xc in x.split(400):  # 20 chunk means: their spread gives the SE of the overall mean
        model.module.zero_grad()
        model.per_example_loss(xc, None).mean().backward()
        chunks.append(torch.cat([p.grad.reshape(-1) for p in model.module.parameters()]))
    g = torch.stack(chunks)
    se = g.std(0) / math.sqrt(g.shape[0])
    assert bool((g.mean(0).abs() <= K_SE * se).all())


# -- the std-temperature sampler -----------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.5, 1.6])
def test_std_temperature_samples_have_the_tempered_mixtures_moments(tau):
    model = _model()
    x = model.sample(40_000, Temperature(tau, "std"), generator(4, "s"))
    assert x.shape == (40_000, 3) and x.dtype == F64
    tempered = GMM(WEIGHTS, MEANS, tau**2 * COVS)  # built here, not by the model
    assert _within_k_se(x, tempered)
    assert not _within_k_se(x, GMM(WEIGHTS, MEANS, COVS))  # the check can tell: the untempered law fails it
    assert not _within_k_se(x, GMM(WEIGHTS, MEANS, tau * COVS))  # and so does std × √τ (covariances × τ)


def test_sample_from_uniform_is_the_quantile_map_of_the_tempered_mixture():
    tau = 0.7
    model = _model()
    sampler = Temperature(tau, "std")
    assert model.sample_uniform_dim(sampler) == 4 and model.sample_uniform_dim(None) == 4  # D + 1 for the component
    u = draw(torch.rand, 500, 4, generator=generator(5, "u"), dtype=F64)
    x = model.sample_from_uniform(u, sampler)
    # re-derived with scipy: component k = the quantile of u[:, -1] under the weights, x = μ_k + τ L_k Φ⁻¹(u[:, :D])
    cum = torch.cumsum(WEIGHTS, 0)
    k = (u[:, -1:] > cum[None]).sum(1)
    z = torch.as_tensor(stats.norm.ppf(u[:, :3].cpu().numpy()), dtype=F64)
    L = torch.linalg.cholesky(COVS)
    expected = MEANS[k] + tau * (L[k] @ z[..., None])[..., 0]
    assert torch.allclose(x, expected, rtol=0, atol=1e-9)


def test_sample_from_uniform_has_the_law_of_sample():
    tau = 1.3
    model = _model()
    u = draw(torch.rand, 40_000, 4, generator=generator(6, "u"), dtype=F64)
    x = model.sample_from_uniform(u, Temperature(tau, "std"))
    assert _within_k_se(x, GMM(WEIGHTS, MEANS, tau**2 * COVS))
    assert _within_k_se(model.sample(40_000, Temperature(tau, "std"), generator(6, "s")), GMM(WEIGHTS, MEANS, tau**2 * COVS))


def test_one_component_uses_d_uniforms():
    model = MixtureModel(torch.ones(1, dtype=F64), torch.tensor([[1.0, -2.0]], dtype=F64), torch.tensor([[[2.0, 0.5], [0.5, 1.0]]], dtype=F64))
    assert model.sample_uniform_dim(None) == 2
    u = torch.tensor([[0.5, 0.5], [0.975, 0.5]], dtype=F64)
    x = model.sample_from_uniform(u, Temperature(2.0, "std"))
    assert torch.allclose(x[0], torch.tensor([1.0, -2.0], dtype=F64), rtol=0, atol=1e-12)  # Φ⁻¹(½) = 0: the mean
    # Φ⁻¹(0.975) ≈ 1.96 along L's first column (√2, 0.5/√2), times τ = 2
    step = 2 * stats.norm.ppf(0.975) * torch.tensor([math.sqrt(2.0), 0.5 / math.sqrt(2.0)], dtype=F64)
    assert torch.allclose(x[1] - x[0], step, rtol=0, atol=1e-9)


def test_std_temperature_reads_tau_and_refuses_other_samplers_naming_the_sampler():
    assert std_temperature(None) == 1.0 and std_temperature(Temperature(0.4, "std")) == 0.4
    model = _model()
    u = draw(torch.rand, 4, 4, generator=generator(0, "u"), dtype=F64)
    for bad in (Temperature(0.5), Temperature(0.5, "density"), ScoreScale(1.5), Steps(10, "ddim")):
        with pytest.raises(ValueError, match="sampler"):
            std_temperature(bad)
        with pytest.raises(ValueError, match="sampler"):
            model.sample(5, bad, generator(0, "s"))
        with pytest.raises(ValueError, match="sampler"):
            model.sample_uniform_dim(bad)
        with pytest.raises(ValueError, match="sampler"):
            model.sample_from_uniform(u, bad)


def test_bad_mixtures_are_refused_naming_the_parameter():
    with pytest.raises(ValueError, match="weights"):
        MixtureModel(torch.tensor([0.5, 0.6], dtype=F64), MEANS[:2], COVS[:2])
    with pytest.raises(ValueError, match="covs"):
        MixtureModel(WEIGHTS, MEANS, -COVS)
    with pytest.raises(ValueError, match="tau"):
        _model().gmm(0.0)


# -- the starting point ------------------------------------------------------------------------------


def test_initial_places_means_at_distinct_data_rows_with_equal_weights_and_isotropic_covs():
    data = draw(torch.randn, 30, 2, generator=generator(7, "data"), dtype=F64)
    model = MixtureModel.initial(data, 5, generator(7, "init"), init_std=0.4)
    law = model.gmm()
    match = (law.means[:, None, :] == data[None]).all(-1)  # (K, n): which rows each mean is
    assert bool((match.sum(1) == 1).all())  # every mean is one data row (the rows are distinct)
    rows = match.float().argmax(1)
    assert len(set(rows.tolist())) == 5  # at distinct rows
    assert torch.allclose(law.weights, torch.full((5,), 0.2, dtype=F64), rtol=0, atol=1e-14)
    assert torch.allclose(law.covs, 0.16 * torch.eye(2, dtype=F64).expand(5, 2, 2), rtol=0, atol=1e-14)
    again = MixtureModel.initial(data, 5, generator(7, "init"), init_std=0.4).gmm()
    assert torch.equal(again.means, law.means)  # a function of the generator
    others = [MixtureModel.initial(data, 5, generator(s, "init"), init_std=0.4).gmm().means for s in range(8, 12)]
    assert any(not torch.equal(m, law.means) for m in others)  # drawn on the generator, not the first rows
    assert not all(torch.equal(m, data[:5]) for m in [law.means, *others])
    every = MixtureModel.initial(data, 30, generator(8, "init")).gmm()  # K = n: a permutation of the rows
    assert torch.equal(every.means[torch.argsort(every.means[:, 0])], data[torch.argsort(data[:, 0])])


def test_initial_refuses_bad_sizes_naming_the_parameter():
    data = draw(torch.randn, 4, 2, generator=generator(0, "data"), dtype=F64)
    with pytest.raises(ValueError, match="n_components"):
        MixtureModel.initial(data, 5, generator(0, "init"))
    with pytest.raises(ValueError, match="n_components"):
        MixtureModel.initial(data, 0, generator(0, "init"))
    with pytest.raises(ValueError, match="init_std"):
        MixtureModel.initial(data, 2, generator(0, "init"), init_std=0.0)


def test_mixture_params_is_the_module_holding_theta():
    model = _model()
    assert isinstance(model.module, MixtureParams)
    assert {n for n, _ in model.module.named_parameters()} == {"logits", "means", "log_diag", "offdiag"}
    assert model.module.offdiag.shape == (3, 3) and model.draw_noise(4, generator(0, "n")) is None
