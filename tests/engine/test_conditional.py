"""The exact (conditional, quadrature) P-cosine against independent re-derivations.

The reference for r and E[g²] is a different computation: the model's *own* NLL, per-example
gradients by torch.func, averaged over a tensor-product rule (the family's x₁ quadrature times
an 8-point Gauss–Hermite rule in x₂ | x₁, exact for the degree-4 polynomials in x₂ that g and g²
are).  It shares no algebra with the closed forms under test (the conditional loss and the
Cholesky pseudo-losses).
"""

import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neon_theory.conditional import conditional_second_moment, exact_conditional_probe
from neon_theory.gradients import WeightedSupport, per_sample_gradients, population_gradient
from neon_theory.probe import Streams
from neon_theory.rng import generator
from neon_theory.samplers import Temperature
from toy_models.autoregressive import ARConditionalLoss, ARGaussianModel, ARGaussianNet, model_rows, quadrature, target_rows, x1_kinks
from toy_models.gmm import official_gaussian

B = 1024


@pytest.fixture(scope="module")
def model64():
    """A smoke-size AR base, trained, in float64 (so round-off is far below the tolerances)."""
    from studies.official_ar.toy import ARToyConfig, ar_base

    return ARGaussianModel(copy.deepcopy(ar_base(ARToyConfig.preset("smoke"), 3).module).double())


def _laws(model):
    target = official_gaussian()
    return {
        "real": target_rows(target.mean().double(), target.cov().double()),
        "tau=0.5": model_rows(model, Temperature(0.5, "std")),
        "tau=1.6": model_rows(model, Temperature(1.6, "std")),
    }


def _reference_moments(model, support: WeightedSupport):
    """Σ w g and Σ w g² over the support × Gauss–Hermite nodes in x₂, from the plain NLL's per-example gradients."""
    t, h = (torch.as_tensor(v, device=support.points.device) for v in np.polynomial.hermite_e.hermegauss(8))
    x1, m, c = support.points.unbind(-1)
    x2 = m[:, None] + c[:, None] * t
    rows = torch.stack([x1[:, None].expand_as(x2), x2], -1).reshape(-1, 2)
    w = (support.weights[:, None] * h / math.sqrt(2 * math.pi)).reshape(-1)
    g = per_sample_gradients(model, rows)
    return (w[:, None] * g).sum(0), (w[:, None] * g * g).sum(0)


@pytest.mark.parametrize("law", ["real", "tau=0.5", "tau=1.6"])
def test_conditional_moments_equal_the_plain_loss_integrated_over_x2(model64, law):
    support = quadrature(_laws(model64)[law], model64.module)
    P, r = conditional_second_moment(ARConditionalLoss(model64), support, batch_size=B)
    ref_r, ref_m2 = _reference_moments(model64, support)
    assert r.exact and torch.allclose(r.mean, ref_r, rtol=1e-9, atol=1e-12 * float(ref_r.abs().max()))
    v_ref = ref_r * ref_r * (1 - 1 / B) + ref_m2 / B  # Adam's E[g_B²] for B i.i.d. rows
    assert torch.allclose(P.diag, 1 / (v_ref.sqrt() + 1e-8), rtol=1e-8)


def _monte_carlo(model, law, seed: int):
    from neon_theory.gradients import ModelLaw

    source = official_gaussian() if law == "real" else ModelLaw(model, Temperature(float(law.split("=")[1]), "std"))
    return population_gradient(model, source, 2**18, generator=generator(seed, f"mc-check/{law}"), n_batches=64)


@pytest.mark.parametrize("law", ["real", "tau=0.5", "tau=1.6"])
def test_the_exact_gradients_are_within_4_5_se_of_monte_carlo_gradients_on_fresh_draws(model64, law):
    """r_d and r_s (not heavy-tailed, unlike E[g²]) against 2¹⁸ fresh rows of the target, or of the
    model's own sampler at τ (ARGaussianModel.sample: independent of model_rows, so a wrong power of
    τ in the outer-row law shows here).  k = 4.5 over every coordinate active in at least half of
    the 64 batches (a coordinate seen in one batch has no meaningful batch-means SE)."""
    support = quadrature(_laws(model64)[law], model64.module)
    _, r = conditional_second_moment(ARConditionalLoss(model64), support, batch_size=B)
    mc = _monte_carlo(model64, law, 11)
    seen = (mc.batch_means != 0).sum(0) >= mc.n_batches // 2
    z = (r.mean - mc.mean)[seen] / mc.se[seen]
    assert int(seen.sum()) > 100
    assert float(z.abs().max()) < 4.5
    assert 0.5 < float(z.pow(2).mean().sqrt()) < 1.5  # the SE is the scale of the differences, not a loose bound


def test_the_quadrature_has_converged(model64):
    """Twice the nodes move the cosine by < 1e-10 in float64 (that the kinks are where the rule
    splits is tested below, and by the Monte Carlo checks above, which fail without them)."""
    from studies.official_ar.toy import ARToyConfig

    laws = _laws(model64)
    sizes = ARToyConfig.preset("smoke")

    def cosine(nodes, **kw):
        real = quadrature(laws["real"], model64.module, nodes=nodes, **kw)
        probe = exact_conditional_probe(
            ARConditionalLoss(model64), real, lambda tau: quadrature(model_rows(model64, Temperature(tau, "std")), model64.module, nodes=nodes, **kw),
            sizes, Streams(0), name="tau",
        )
        return [probe.report(t) for t in (0.5, 1.6)]

    fine, finer = cosine(16), cosine(32)
    assert all(a.exact and a.cosine_se == 0 for a in fine)
    assert max(abs(a.cosine - b.cosine) for a, b in zip(fine, finer)) < 1e-10
    assert max(abs(a.s - b.s) for a, b in zip(fine, finer)) < 1e-10 * max(abs(a.s) for a in fine)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), hidden=st.integers(2, 24))
def test_between_two_kinks_the_head_is_linear_in_x1(seed, hidden):
    """x1_kinks finds every point where μ₂ or log σ₂ (clamped) bends: at the midpoint of two
    consecutive kinks each output is the mean of its values at the ends (a kink can be harmless:
    a unit whose every downstream unit is off there bends nothing; extra breaks cost nodes only)."""
    torch.manual_seed(seed)
    net = ARGaussianNet(hidden=hidden, min_log_std=-0.5, max_log_std=0.5).double()  # a narrow clamp, so it binds
    kinks = x1_kinks(net, -8.0, 8.0)
    points = torch.cat([torch.tensor([-8.0], dtype=torch.float64), kinks, torch.tensor([8.0], dtype=torch.float64)])

    def head(x):
        _, _, mu2, ls2 = net.conditionals(x)
        return torch.stack([mu2, ls2], -1).detach()

    a, b = points[:-1], points[1:]
    for q in (0.25, 0.5, 0.75):
        assert torch.allclose(head(a + q * (b - a)), (1 - q) * head(a) + q * head(b), atol=1e-9)
    bent = (head(points[1:-1] + 1e-3) + head(points[1:-1] - 1e-3)) / 2 - head(points[1:-1])
    assert kinks.numel() == 0 or float(bent.abs().max()) > 1e-12  # some kink bends something: the check above is not vacuous


def test_conditional_second_moment_rejects_what_it_cannot_use(model64):
    support = quadrature(_laws(model64)["real"], model64.module, nodes=2, panel=4.0)
    with pytest.raises(ValueError, match="ConditionalLoss"):
        conditional_second_moment(model64, support, batch_size=B)  # the plain model has no variance_losses
    with pytest.raises(ValueError, match="WeightedSupport"):
        conditional_second_moment(ARConditionalLoss(model64), support.points, batch_size=B)
    with pytest.raises(ValueError, match="batch_size"):
        conditional_second_moment(ARConditionalLoss(model64), support, batch_size=0)
    with pytest.raises(ValueError, match="nodes"):
        quadrature(_laws(model64)["real"], model64.module, nodes=1)


def test_the_ar_toy_probe_defaults_to_the_exact_cosine_and_repeats_do_not_change_it():
    from studies.official_ar.toy import ARToyConfig, ar_base, ar_cosine_probe

    cfg = ARToyConfig.preset("smoke")
    model = ar_base(cfg, 1)
    rows = [ar_cosine_probe(model, cfg, 1, rep).rows_at((0.7, 1.0, 1.3)) for rep in (0, 2)]
    assert rows[0] == rows[1]
    assert all(r["cosine_se"] == 0 and r["s_se"] == 0 for r in rows[0])
    # at τ = 1 the synthetic law is the model's own: E_θ[∇ log p_θ] = 0, so s is 0 up to round-off
    assert abs(rows[0][1]["s"]) < 1e-6 * max(abs(rows[0][0]["s"]), abs(rows[0][2]["s"]))
    assert rows[0][0]["s"] * rows[0][2]["s"] < 0  # opposite sides of τ = 1: opposite signs on this base
    plain = replace(cfg, cos_estimator="plain")
    assert ar_cosine_probe(model, plain, 1).rows_at((0.7,))[0]["cosine_se"] > 0
