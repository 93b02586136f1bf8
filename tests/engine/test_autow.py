"""``neon_theory.autow``: w from the real loss along the step, checked against the exact Gaussian line
f(w) = R_data(θ_r − wΔ), independent gradient and Hessian routes, and the SD over repeats."""

import math

import pytest
import torch
from helpers import F64, mlp_denoiser
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize

from neon_theory.autow import (
    AutoW,
    LineTaylor,
    auto_w,
    cubic_stationary,
    displacement_auto_w,
    line_losses,
    line_taylor,
    quadratic_vertex,
    three_point_auto_w,
)
from neon_theory.gradients import hessian_vector_product, population_gradient
from neon_theory.rng import draw
from toy_models.gaussian import GaussianModel, GaussianTarget, _expected_nll

D = 3
K = 4  # Monte Carlo tolerances are K standard errors


def _case(seed: int = 0, scale: float = 0.2):
    """A base N(0.3·1, 0.6 I) against the real N(0, I) in D = 3, and a seeded direction Δ."""
    target = GaussianTarget(torch.zeros(D, dtype=F64), torch.eye(D, dtype=F64))
    model = GaussianModel(torch.full((D,), 0.3, dtype=F64), 0.6 * torch.eye(D, dtype=F64))
    p = sum(x.numel() for x in model.module.parameters())
    delta = scale * draw(torch.randn, p, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return model, target, delta


def _exact_line(model, target, delta):
    """f(w) = E_real ℓ(θ_r − wΔ) in closed form, as a function of a float64 scalar tensor w."""
    m, theta = model.module, model.theta()
    sizes = [D, D, D * (D - 1) // 2]

    def f(w):
        mu, ld, off = torch.split(theta - w * delta, sizes)
        return _expected_nll(mu, ld, off, m._rows, m._cols, target.mean, target.cov)

    return f


def _exact_derivatives(f) -> list[float]:
    t = torch.zeros((), dtype=F64, requires_grad=True)
    d1 = torch.autograd.grad(f(t), t, create_graph=True)[0]
    d2 = torch.autograd.grad(d1, t, create_graph=True)[0]
    d3 = torch.autograd.grad(d2, t)[0]
    return [float(d.detach()) for d in (d1, d2, d3)]


def _exact_best_w(f) -> float:
    return optimize.minimize_scalar(lambda w: float(f(torch.tensor(w, dtype=F64))), bounds=(-10, 10), method="bounded", options={"xatol": 1e-9}).x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_line_derivatives_match_the_closed_form_within_k_se(seed):
    model, target, delta = _case(seed)
    exact = _exact_derivatives(_exact_line(model, target, delta))
    lt = line_taylor(model, target, delta, 8000, n_batches=20, generator=torch.Generator().manual_seed(100 + seed))
    se = lt.batch_derivatives.std(0) / math.sqrt(lt.batch_derivatives.shape[0])
    assert lt.n == 8000 and lt.batch_derivatives.shape == (20, 3)
    for k in range(3):
        assert abs(float(lt.derivatives[k]) - exact[k]) < K * float(se[k]), (k, float(lt.derivatives[k]), exact[k], float(se[k]))


def test_first_and_second_derivatives_equal_the_gradient_and_hessian_routes_on_the_same_rows():
    """f₁ = −⟨r_d, Δ⟩ and f₂ = ⟨Δ, HΔ⟩ on one tensor of rows, by population_gradient and hessian_vector_product."""
    model, target, delta = _case(3)
    x = target.sample(600, torch.Generator().manual_seed(7))
    f1, f2, _ = line_taylor(model, x, delta, n_batches=6).derivatives.tolist()
    r_d = population_gradient(model, x).mean
    assert f1 == pytest.approx(-float(r_d @ delta), rel=1e-10, abs=1e-12)
    assert f2 == pytest.approx(float(delta @ hessian_vector_product(model, x, delta)), rel=1e-10)


def test_the_noise_of_a_diffusion_loss_is_common_along_w():
    """With loss noise (t, ε) the line is smooth in w: the three-point vertex on a parabola-like line
    agrees with the displacement's at a tiny step, which needs the same noise at every w."""
    model = mlp_denoiser(seed=1)
    x = draw(torch.randn, 400, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    p = sum(q.numel() for q in model.module.parameters())
    delta = 0.05 * draw(torch.randn, p, generator=torch.Generator().manual_seed(3), dtype=F64)
    lt = line_taylor(model, x, delta, n_batches=4, noise_generator=torch.Generator().manual_seed(4))
    h = 1e-3
    batch, weights = line_losses(model, x, delta, (0.0, h, 2 * h), n_batches=4, noise_generator=torch.Generator().manual_seed(4))
    y = (weights[:, None] * batch).sum(0)
    f1_fd = float((-3 * y[0] + 4 * y[1] - y[2]) / (2 * h))
    assert f1_fd == pytest.approx(float(lt.derivatives[0]), rel=1e-2, abs=1e-6)


def test_the_interval_covers_the_exact_best_w_because_of_the_cubic_term():
    """On this line the quadratic's vertex (0.28) misses the exact best w (0.35) by far more than its SE;
    the cubic's stationary point brings the interval over it.  Without the cubic term it would not cover."""
    model, target, delta = _case(0)
    f = _exact_line(model, target, delta)
    best = _exact_best_w(f)
    auto = displacement_auto_w(line_taylor(model, target, delta, 20_000, generator=torch.Generator().manual_seed(11)))
    assert auto.covers(best), (auto, best)
    assert abs(auto.w - best) > K * auto.se  # the model error, not Monte Carlo noise, separates them
    assert abs(auto.w_cubic - best) < abs(auto.w - best) / 3
    quad = _exact_derivatives(f)
    assert auto.w == pytest.approx(-quad[0] / quad[1], abs=K * auto.se)


def test_three_point_lands_near_the_exact_best_w():
    model, target, delta = _case(0)
    best = _exact_best_w(_exact_line(model, target, delta))
    auto = auto_w(model, target, delta, 20_000, method="three-point", seed=5)
    assert auto.method == "three-point" and auto.n == 20_000 and auto.derivatives[2] > 0
    assert abs(auto.w - best) < 0.1 * best  # 0.37 against 0.35: the parabola through 0, h, 2h sees the cubic


def test_the_jackknife_se_of_w_matches_its_sd_over_repeats():
    """The displacement w over 60 seeded repeats of 1,000 rows: SD / mean SE within (0.75, 1.33)
    (a 60-draw SD has a relative SE near 0.09; K = 3 of it)."""
    model, target, delta = _case(1)
    runs = [auto_w(model, target, delta, 1000, n_batches=10, seed=s) for s in range(200, 260)]
    ws = torch.tensor([r.w for r in runs], dtype=F64)
    ratio = float(ws.std()) / float(torch.tensor([r.se for r in runs]).mean())
    assert 0.75 < ratio < 1.33, ratio


@given(f1=st.floats(-5, 5), f2=st.floats(0.01, 10), f3=st.floats(-5, 5))
def test_the_cubic_point_is_a_local_minimum_of_the_cubic(f1, f2, f3):
    w = cubic_stationary(f1, f2, f3)
    if f2 * f2 - 2 * f1 * f3 < 0:
        assert math.isnan(w)
        return
    assert abs(f1 + f2 * w + 0.5 * f3 * w * w) < 1e-7 * (1 + abs(f1) + abs(f2 * w) + abs(f3 * w * w))
    assert f2 + f3 * w >= -1e-9  # the cubic curves upwards there
    if f3 == 0:
        assert w == pytest.approx(quadratic_vertex(f1, f2))


@given(vertex=st.floats(-3, 3), curvature=st.floats(0.1, 10), level=st.floats(-5, 5), h=st.floats(0.05, 2))
def test_three_points_on_a_parabola_give_its_vertex(vertex, curvature, level, h):
    ws = torch.tensor([0.0, h, 2 * h], dtype=F64)
    y = level + 0.5 * curvature * (ws - vertex) ** 2
    noise = torch.tensor([[1e-3], [-1e-3], [0.0]], dtype=F64)  # batches that differ by a constant: the vertex is unmoved
    out = three_point_auto_w(y[None] + noise, torch.full((3,), 1 / 3, dtype=F64), h)
    assert out.w == pytest.approx(vertex, abs=1e-8 * (1 + abs(vertex)))
    assert out.se == pytest.approx(0, abs=1e-6)


def test_a_concave_line_gives_no_w():
    lt = LineTaylor(torch.tensor([[0.1, -1.0, 0.0], [0.2, -0.5, 0.0]], dtype=F64), torch.tensor([0.5, 0.5], dtype=F64), 2)
    out = displacement_auto_w(lt)
    assert math.isnan(out.w) and math.isnan(out.interval[0]) and not out.covers(0.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "brent"}, "method must be"),
    ({"n_batches": 1}, "n_batches"),
    ({"seed": -1}, "seed"),
    ({"method": "three-point", "h": 0.0}, "h must be non-zero"),
])
def test_bad_arguments_name_the_parameter(kwargs, message):
    model, target, delta = _case(0)
    with pytest.raises(ValueError, match=message):
        auto_w(model, target, delta, 100, **kwargs)


def test_a_direction_of_the_wrong_length_is_rejected():
    model, target, delta = _case(0)
    with pytest.raises(ValueError, match="direction"):
        line_taylor(model, target, delta[:-1], 100, generator=torch.Generator().manual_seed(0))


def test_the_result_reads_as_one_line():
    text = str(AutoW(0.25, 0.01, (0.2, 0.3), "displacement", 0.29, (), 100, 10))
    assert "auto w = +0.25" in text and "\n" not in text


class _NoDoubleBackward(torch.autograd.Function):
    """Per-row ½‖x − μ‖² with a hand-written backward that autograd cannot differentiate again."""

    @staticmethod
    def forward(ctx, mu, x):
        ctx.save_for_backward(mu, x)
        return 0.5 * ((x - mu) ** 2).sum(1)

    @staticmethod
    def backward(ctx, g):
        mu, x = ctx.saved_tensors
        return (g[:, None] * (mu - x)).sum(0).detach(), None


def test_a_loss_without_a_double_backward_is_refused_not_read_as_flat():
    """f'' would silently read 0 and the line would look non-convex: a clear error instead."""
    model, target, delta = _case(0)
    model.per_example_loss = lambda x, noise=None: _NoDoubleBackward.apply(model.module.mean, x)
    x = target.sample(40, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="second derivative"):
        line_taylor(model, x, delta, n_batches=2)


def test_weighted_supports_and_bad_loss_shapes_are_refused_in_one_line():
    from neon_theory.gradients import WeightedSupport

    model, target, delta = _case(0)
    x = target.sample(20, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="not a WeightedSupport"):
        auto_w(model, WeightedSupport(x, torch.full((20,), 0.05, dtype=F64)), delta, n_batches=2)
    model.per_example_loss = lambda rows, noise=None: rows.sum()  # a scalar, not one loss per row
    with pytest.raises(ValueError, match="per_example_loss must return shape"):
        line_taylor(model, x, delta, n_batches=2)
    with pytest.raises(ValueError, match="with method='three-point' only"):
        auto_w(_case(0)[0], x, delta, h=0.1)


def test_an_unbounded_interval_covers_nothing():
    out = AutoW(0.2, math.nan, (-math.inf, math.inf), "displacement")
    assert not out.bounded and not out.covers(0.2)


def test_auto_w_is_reproducible_and_the_interval_uses_a_t_quantile_on_few_batches():
    model, target, delta = _case(2)
    a, b = (auto_w(model, target, delta, 600, method="three-point", n_batches=3, seed=9) for _ in range(2))
    assert (a.w, a.se, a.interval) == (b.w, b.se, b.interval)
    half = (a.interval[1] - a.interval[0]) / 2
    assert half == pytest.approx(4.302652729911275 * a.se, rel=1e-9)  # t(0.975, 2 degrees of freedom), not 1.96


def test_the_three_point_probe_bounds_the_interval_where_the_cubic_has_no_stationary_point():
    """f₂² − 2f₁f₃ < 0 (a strongly skewed line, as on the official AR toy's NLL in log σ): the cubic
    has no stationary point, and without another probe of the model error the interval is unbounded.
    The three-point vertex is that probe: the interval then spans it and the vertex, each ± t·SE."""
    rows = torch.tensor([[-1.0, 1.0, -1.2], [-1.1, 1.05, -1.3], [-0.9, 0.95, -1.1], [-1.0, 1.0, -1.2]], dtype=F64)
    lt = LineTaylor(rows, torch.full((4,), 0.25, dtype=F64), 400)
    alone = displacement_auto_w(lt)
    assert math.isnan(alone.w_cubic) and not alone.bounded
    probe = AutoW(1.6, 0.05, (1.45, 1.75), "three-point")
    out = displacement_auto_w(lt, probe)
    t = 3.182446305284263  # t(0.975, 3 degrees of freedom)
    assert out.bounded and out.w == alone.w and out.w_three_point == 1.6
    assert out.interval[1] == pytest.approx(1.6 + t * 0.05, rel=1e-9)
    assert out.interval[0] == pytest.approx(out.w - t * out.se, rel=1e-9)
    assert out.covers(1.6) and not out.covers(1.6 + 1.1 * t * 0.05)


def test_auto_w_spans_the_three_point_vertex_and_covers_the_exact_best_w():
    """auto_w's displacement interval holds its own three-point vertex and, on the skewed Gaussian
    line, the exact best w; the three-point vertex lies nearer the best w than the quadratic's."""
    model, target, delta = _case(0)
    best = _exact_best_w(_exact_line(model, target, delta))
    auto = auto_w(model, target, delta, 20_000, seed=5)
    three = auto_w(model, target, delta, 20_000, method="three-point", seed=5)
    assert auto.w_three_point == three.w  # the same rows, the same h: one three-point fit
    assert auto.interval[0] <= three.w - auto.se <= three.w + auto.se <= auto.interval[1]
    assert auto.covers(best) and abs(three.w - best) < abs(auto.w - best)
