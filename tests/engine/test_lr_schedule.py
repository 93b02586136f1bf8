"""self_train's learning-rate schedules (constant | ramp) and summed_lr as the budget, against closed forms:
the triangle's factors and their sum, SGD and Adam on a loss linear in θ (a constant gradient, so every
step's displacement is known exactly), and brent_minimize on parabolas."""

import math

import numpy as np
import pytest
import torch
from helpers import F64
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from neon_theory.batched import self_train_many
from neon_theory.neon import LR_SCHEDULES, FineTuning, brent_best_w, brent_minimize, lr_factors, self_train, summed_lr
from neon_theory.params import parameter_vector, state_vector
from neon_theory.rng import draw, generator

D = 3


class LinearLoss:
    """ℓ_θ(x) = x·θ on the GenerativeModel contract: the full-batch gradient is the constant mean(x), whatever θ."""

    def __init__(self, theta0):
        self.module = nn.Module()
        self.module.theta = nn.Parameter(torch.as_tensor(theta0, dtype=F64).clone())

    def draw_noise(self, n, generator):
        return None

    def per_example_loss(self, x, noise=None):
        return x @ self.module.theta

    def sample(self, n, sampler, generator):
        return draw(torch.randn, n, D, generator=generator, dtype=F64)


def _case(seed: int = 0):
    model = LinearLoss([0.2, -0.4, 1.0])
    data = draw(torch.randn, 16, D, generator=generator(seed, "data"), dtype=F64) + torch.tensor([0.5, -1.0, 0.1], dtype=F64)
    return model, data, data.mean(0)  # g = ∇ mean_i x_i·θ = mean(x)


def _ramp_sum(steps: int) -> float:
    """Σ_t (1 − |2t − (s+1)|/(s+1)) in closed form: (s+1)/2 for odd s, s(s+2)/(2(s+1)) for even s."""
    return (steps + 1) / 2 if steps % 2 else steps * (steps + 2) / (2 * (steps + 1))


# -- the factors ------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 200))
def test_ramp_factors_are_a_symmetric_positive_triangle_with_the_closed_form_sum(steps):
    f = lr_factors(steps, "ramp")
    assert f.shape == (steps,)
    assert np.allclose(f, f[::-1], rtol=0, atol=1e-15)  # symmetric about mid-budget
    assert (f > 0).all() and f.max() <= 1.0
    # the peak is 1 at the middle step for odd budgets, 1 − 1/(s+1) at the two middle steps for even ones
    assert f.max() == pytest.approx(1.0 if steps % 2 else 1 - 1 / (steps + 1), abs=1e-15)
    assert f.sum() == pytest.approx(_ramp_sum(steps), rel=1e-12)
    assert steps / 2 <= f.sum() <= steps / 2 + 0.5 + 1e-12  # "about steps / 2": (s+1)/2 odd, s/2 + s/(2(s+1)) even
    if steps >= 3:  # linear warm-up: equal increments of 2/(s+1) up to the middle
        half = f[: (steps + 1) // 2]
        assert np.allclose(np.diff(half), 2 / (steps + 1), rtol=0, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 100), st.floats(1e-4, 10.0))
def test_summed_lr_is_lr_times_the_factor_sum(steps, lr):
    assert summed_lr(lr, steps) == pytest.approx(lr * steps, rel=1e-12)
    assert summed_lr(lr, steps, "constant") == pytest.approx(lr * steps, rel=1e-12)
    assert summed_lr(lr, steps, "ramp") == pytest.approx(lr * _ramp_sum(steps), rel=1e-12)
    assert np.array_equal(lr_factors(steps), np.ones(steps))


def test_a_ramp_at_twice_the_peak_has_about_a_constant_rates_budget():
    for steps in (9, 99, 999):  # odd: 2·Σf/s = (s+1)/s exactly
        assert summed_lr(2.0, steps, "ramp") / summed_lr(1.0, steps, "constant") == pytest.approx((steps + 1) / steps, rel=1e-12)


def test_lr_schedules_names_the_two_schedules():
    assert set(LR_SCHEDULES) == {"constant", "ramp"}


# -- self_train under a schedule: the exact displacement on a linear loss ---------------------------


@pytest.mark.parametrize("schedule", ["constant", "ramp"])
@pytest.mark.parametrize("steps", [1, 6, 7])
def test_sgd_on_a_linear_loss_moves_theta_by_minus_summed_lr_times_the_gradient(schedule, steps):
    model, data, g = _case()
    lr = 0.3
    st_ = self_train(model, data, steps=steps, lr=lr, optimizer="sgd", schedule=schedule, generator=generator(0, "ft"), record_trajectory=True)
    delta = state_vector(model.module, st_.state_dict) - parameter_vector(model.module)
    assert torch.allclose(delta, -summed_lr(lr, steps, schedule) * g, rtol=1e-12, atol=1e-14)
    assert st_.alpha == pytest.approx(summed_lr(lr, steps, schedule), rel=1e-15) and st_.schedule == schedule
    # step t uses lr × f_t (set before that step, not after): each step's own displacement
    steps_taken = st_.trajectory[1:] - st_.trajectory[:-1]
    expected = -lr * torch.as_tensor(lr_factors(steps, schedule), dtype=F64)[:, None] * g[None]
    assert torch.allclose(steps_taken, expected, rtol=1e-10, atol=1e-14)


def test_a_ramp_at_twice_the_rate_moves_theta_by_the_factor_sum_ratio_of_a_constant_rate():
    model, data, g = _case(1)
    steps, lr = 9, 0.05
    ramp = self_train(model, data, steps=steps, lr=2 * lr, optimizer="sgd", schedule="ramp", generator=generator(0, "ft"))
    const = self_train(model, data, steps=steps, lr=lr, optimizer="sgd", generator=generator(0, "ft"))
    theta_r = parameter_vector(model.module)
    d_ramp, d_const = state_vector(model.module, ramp.state_dict) - theta_r, state_vector(model.module, const.state_dict) - theta_r
    assert torch.allclose(d_ramp, (steps + 1) / steps * d_const, rtol=1e-12, atol=1e-15)  # 2·(s+1)/2 / s for odd s
    assert ramp.alpha / const.alpha == pytest.approx((steps + 1) / steps, rel=1e-12)
    assert torch.allclose(d_const, -lr * steps * g, rtol=1e-12, atol=1e-15)


def test_adam_on_a_constant_gradient_steps_lr_t_times_the_sign_per_step():
    # Adam with a constant gradient g: m̂_t = g and v̂_t = g² exactly, so step t is lr_t · g / (|g| + eps)
    model, data, g = _case(2)
    steps, lr = 8, 0.01
    st_ = self_train(model, data, steps=steps, lr=lr, optimizer="adam", schedule="ramp", generator=generator(0, "ft"), record_trajectory=True)
    unit = g / (g.abs() + 1e-8)
    expected = -lr * torch.as_tensor(lr_factors(steps, "ramp"), dtype=F64)[:, None] * unit[None]
    assert torch.allclose(st_.trajectory[1:] - st_.trajectory[:-1], expected, rtol=1e-9, atol=1e-14)
    delta = state_vector(model.module, st_.state_dict) - parameter_vector(model.module)
    assert torch.allclose(delta, -st_.alpha * unit, rtol=1e-9, atol=1e-14)


def test_self_train_leaves_the_model_untouched_under_a_ramp():
    model, data, _ = _case()
    before = parameter_vector(model.module).clone()
    self_train(model, data, steps=5, lr=0.1, optimizer="sgd", schedule="ramp", generator=generator(0, "ft"))
    assert torch.equal(parameter_vector(model.module), before)


def test_fine_tuning_alpha_is_the_summed_rate_of_its_schedule():
    assert FineTuning(10, 0.1).alpha == pytest.approx(1.0, rel=1e-15)
    assert FineTuning(10, 0.1, schedule="ramp").alpha == pytest.approx(0.1 * _ramp_sum(10), rel=1e-12)
    assert FineTuning(10, 0.1, schedule="ramp").schedule == "ramp"


def test_bad_schedules_and_budgets_are_refused_naming_the_parameter():
    model, data, _ = _case()
    with pytest.raises(ValueError, match="schedule"):
        lr_factors(5, "cosine")
    with pytest.raises(ValueError, match="schedule"):
        summed_lr(0.1, 5, "linear")
    with pytest.raises(ValueError, match="schedule"):
        FineTuning(10, 0.1, schedule="warmup")
    with pytest.raises(ValueError, match="schedule"):
        self_train(model, data, steps=3, lr=0.1, optimizer="sgd", schedule="Ramp", generator=generator(0, "ft"))
    with pytest.raises(ValueError, match="steps"):
        lr_factors(0, "ramp")
    with pytest.raises(ValueError, match="lr"):
        summed_lr(0.0, 5, "ramp")


def test_batched_self_training_refuses_a_ramp_naming_the_schedule():
    model, data, _ = _case()
    with pytest.raises(ValueError, match="schedule"):
        self_train_many([model, model], [data, data], fine_tuning=FineTuning(3, 0.1, "sgd", schedule="ramp"),
                        generators=[generator(0, "a"), generator(0, "b")])


# -- brent_minimize -----------------------------------------------------------------------------------


class Counted:
    """f with a call log, to check n_evals and history against the calls actually made."""

    def __init__(self, f):
        self.f, self.calls = f, []

    def __call__(self, x):
        self.calls.append(x)
        return self.f(x)


@settings(max_examples=15, deadline=None)
@given(st.floats(-1.5, 1.5), st.floats(0.1, 5.0), st.floats(-3.0, 3.0))
def test_brent_finds_a_parabolas_vertex_within_xtol(c, a, b):
    f = Counted(lambda x: a * (x - c) ** 2 + b)
    xtol = 1e-6
    res = brent_minimize(f, bracket=(-2.0, 2.0), xtol=xtol)
    assert abs(res.w - c) <= xtol
    assert res.value == pytest.approx(b, abs=a * xtol**2 + 1e-12)
    assert res.base_value == pytest.approx(a * c**2 + b, rel=1e-12)  # f(0)
    assert res.gain == pytest.approx(a * c**2, abs=a * xtol**2 + 1e-12)
    assert not res.at_boundary and res.bracket == (-2.0, 2.0)
    assert res.n_evals == len(f.calls) and len(res.history) == len(f.calls) - 1  # the history holds the search, not f(0)
    assert all(v == pytest.approx(f.f(x), rel=1e-15) for x, v in res.history)
    assert all(-2.0 <= x <= 2.0 for x, _ in res.history)


@pytest.mark.parametrize("c, edge", [(5.0, 2.0), (-7.0, -2.0)])
def test_brent_reports_the_edge_when_the_minimum_lies_outside_the_bracket(c, edge):
    res = brent_minimize(lambda x: (x - c) ** 2, bracket=(-2.0, 2.0), xtol=1e-5)
    assert res.at_boundary and abs(res.w - edge) < 10 * 1e-5
    assert res.value == pytest.approx((edge - c) ** 2, rel=1e-3)


def test_brent_base_value_is_f_at_zero_even_outside_the_bracket():
    res = brent_minimize(lambda x: (x - 2.0) ** 2 + x**3 / 10, bracket=(1.0, 3.0), xtol=1e-6)
    assert res.base_value == 4.0  # f(0) exactly
    # the vertex of (x−2)² + x³/10 on [1, 3] solves 2(x−2) + 0.3x² = 0: x = (−2 + √(4 + 4.8))/0.6
    assert res.w == pytest.approx((-2 + math.sqrt(4 + 4.8)) / 0.6, abs=1e-5)


def test_brent_best_w_is_brent_minimize_on_the_merge_metric():
    # metric(θ) = |θ − t|²; along θ_r − w·Δ its minimiser is w* = ⟨θ_r − t, Δ⟩ / |Δ|²
    model, _, _ = _case()
    theta_r = parameter_vector(model.module)
    delta = torch.tensor([0.3, 0.1, -0.2], dtype=F64)
    target = torch.tensor([0.0, -0.5, 1.2], dtype=F64)
    theta_s = {"theta": theta_r + delta}
    res = brent_best_w(model, theta_s, lambda m, _g: float(((m.module.theta - target) ** 2).sum()), bracket=(-3, 3), xtol=1e-7)
    w_star = float((theta_r - target) @ delta / (delta @ delta))
    assert res.w == pytest.approx(w_star, abs=1e-6)
    assert res.base_value == pytest.approx(float(((theta_r - target) ** 2).sum()), rel=1e-14)


def test_brent_minimize_refuses_bad_arguments_naming_them():
    f = lambda x: x * x  # noqa: E731
    with pytest.raises(ValueError, match="bracket"):
        brent_minimize(f, bracket=(1.0, -1.0))
    with pytest.raises(ValueError, match="bracket"):
        brent_minimize(f, bracket=(-1.0, math.inf))
    with pytest.raises(ValueError, match="xtol"):
        brent_minimize(f, xtol=0.0)
    with pytest.raises(ValueError, match="max_evals"):
        brent_minimize(f, max_evals=2)
