"""neon_theory.directions against closed forms: the best w along any direction on the exact Gaussian NLL,
one SGD step on S as the gradient on S, and the random control's norm and reproducibility."""

import math

import pytest
import torch
from helpers import F64
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from neon_theory.directions import compare_directions, endpoint, one_step_direction, random_direction
from neon_theory.gradients import population_gradient
from neon_theory.neon import merge
from neon_theory.params import parameter_vector, state_vector
from neon_theory.rng import draw
from neon_theory.samplers import Temperature
from toy_models.gaussian import GaussianModel, GaussianTarget, population_nll

D = 2


def _case():
    target = GaussianTarget(torch.zeros(D, dtype=F64), torch.eye(D, dtype=F64))
    model = GaussianModel(torch.full((D,), 0.3, dtype=F64), 0.6 * torch.eye(D, dtype=F64))
    return model, target


def _direction(model, seed: int, scale: float = 0.3):
    p = parameter_vector(model.module).numel()
    return scale * draw(torch.randn, p, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _line_best_w(model, target, d) -> tuple[float, float]:
    """argmin over w of the exact NLL at θ_r − w·d, re-derived with scipy on a copy of the model."""
    theta = parameter_vector(model.module)

    def nll(w):
        other = GaussianModel(model.mean.clone(), model.cov.clone())
        with torch.no_grad():
            i = 0
            for p in other.module.parameters():
                p.copy_((theta - w * d)[i : i + p.numel()].reshape(p.shape))
                i += p.numel()
        return population_nll(target, other)

    res = optimize.minimize_scalar(nll, bounds=(-5, 5), method="bounded", options={"xatol": 1e-10})
    return res.x, nll(0.0) - res.fun


def test_each_directions_best_w_and_gain_match_a_scipy_search_on_the_closed_form():
    model, target = _case()
    dirs = {"step": _direction(model, 0), "other": _direction(model, 1), "twice": 2 * _direction(model, 0)}
    out = compare_directions(model, dirs, lambda m, _g: population_nll(target, m), bracket=(-5, 5), xtol=1e-7)
    for name, d in dirs.items():
        w, gain = _line_best_w(model, target, d)
        assert out[name].best_w == pytest.approx(w, abs=1e-5) and out[name].gain == pytest.approx(gain, rel=1e-6, abs=1e-12)
        assert out[name].norm == pytest.approx(float(d.norm()))
    assert out["step"].cosine == pytest.approx(1.0) and out["twice"].cosine == pytest.approx(1.0)
    assert out["twice"].best_w == pytest.approx(out["step"].best_w / 2, abs=1e-5)  # the scale is absorbed by w
    assert out["other"].cosine == pytest.approx(float(dirs["other"] @ dirs["step"] / (dirs["other"].norm() * dirs["step"].norm())))


def test_the_endpoint_merges_back_along_the_direction():
    model, _ = _case()
    d = _direction(model, 2)
    end = endpoint(model, d)
    moved = merge(model.module.state_dict(), end, -0.5)  # θ_r − (−0.5)(θ_x − θ_r) = θ_r + 0.5 d
    assert torch.allclose(state_vector(model.module, moved), parameter_vector(model.module) + 0.5 * d, atol=1e-12)


def test_one_sgd_step_on_s_is_minus_alpha_times_the_gradient_on_s():
    model, _ = _case()
    S = model.sample(500, Temperature(0.5), torch.Generator().manual_seed(3))
    d = one_step_direction(model, S, 0.3, optimizer="sgd", generator=torch.Generator().manual_seed(0))
    g = population_gradient(model, S).mean
    assert torch.allclose(d, -0.3 * g, rtol=1e-9, atol=1e-12)
    adam = one_step_direction(model, S, 0.3, optimizer="adam", generator=torch.Generator().manual_seed(0))
    big = g.abs() > 1e-3  # Adam's first step is lr·g/(|g| + ε): ±α where the gradient is not tiny
    assert torch.allclose(adam[big], -0.3 * torch.sign(g[big]), rtol=1e-4)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3))
def test_a_random_direction_has_the_norm_it_is_given_and_is_reproducible(seed, scale):
    like = scale * torch.ones(7, dtype=F64)
    a = random_direction(like, torch.Generator().manual_seed(seed))
    b = random_direction(like, torch.Generator().manual_seed(seed))
    c = random_direction(like, torch.Generator().manual_seed(seed + 1))
    assert float(a.norm()) == pytest.approx(float(like.norm()), rel=1e-12)
    assert torch.equal(a, b) and not torch.equal(a, c) and a.dtype == like.dtype


def test_random_directions_point_nowhere_in_particular():
    """Over 400 draws in p = 50 the cosine with a fixed vector has mean 0 and SD 1/√p; 4 SE of the mean."""
    like = torch.ones(50, dtype=F64)
    cos = torch.tensor([float(random_direction(like, torch.Generator().manual_seed(s)) @ like) / float(like.norm()) ** 2 for s in range(400)])
    assert abs(float(cos.mean())) < 4 * (1 / math.sqrt(50)) / math.sqrt(400)
    assert float(cos.std()) == pytest.approx(1 / math.sqrt(50), rel=0.2)


def test_bad_arguments_name_the_parameter():
    model, target = _case()
    d = _direction(model, 0)
    with pytest.raises(ValueError, match="reference must be one of"):
        compare_directions(model, {"a": d}, lambda m, g: 0.0)
    with pytest.raises(ValueError, match="optimizer"):
        one_step_direction(model, torch.zeros(3, D, dtype=F64), 0.1, optimizer="lbfgs", generator=torch.Generator())
    with pytest.raises(ValueError, match="direction"):
        endpoint(model, d[:-1])
