"""App. B.10 (finite |S|, short fine-tuning): the displacement direction concentrates on −P r_s^(S).

T minibatch SGD steps of rate α on a fixed synthetic set S (so P = I) move the base by θ_s − θ_r =
−α Σ_t g_t, with g_t the minibatch gradient at the t-th point of the path.  So
d_T = (θ_s − θ_r)/(αT) is minus the average of T minibatch gradients: at a fixed small αT it tends
to −r_s^(S), the gradient on S itself at θ_r, as T grows.  The claim reads the squared relative
error e_T = ‖d_T + r_s^(S)‖² / ‖r_s^(S)‖², whose minibatch-noise part is exactly ∝ 1/T (the slope −1
of the rule), down to a floor from the curvature along the path (O((αT)²), small at αT =
:data:`ALPHA_T`).  It concentrates on S's gradient, not the population's: S is one finite draw, and
once T·B exceeds |S| the error against the population r_s stops falling.

With SGD, P = I: the claim checks App. B.10 for that optimizer only.  Under Adam (the image cells'
optimizer) the preconditioner depends on the gradients themselves, and that case is not checked here.

Each case is a Gaussian target N(m, Σ*) in D = 1..3 (log-Cholesky coordinates), the base the MLE of
:data:`N_REAL` real draws, S :data:`S_SIZE` draws of the base at density temperature
:data:`T_SAMPLER`, SGD with batches of :data:`BATCH` drawn with replacement from S, and
:data:`REPEATS` minibatch streams per T (the mean of 1 − cos over them is the case's value at T).
Everything is seeded; r_s^(S) is the exact gradient of the mean loss over S and the population r_s
the closed-form gradient under the sampler's law.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from neon_theory.params import flatten
from neon_theory.rng import draw, generator
from neon_theory.samplers import Temperature
from toy_models.gaussian import GaussianModel, GaussianTarget, model_from_theta

from .cases import random_spd

F64 = torch.float64
#: the fixed design (chosen before the scoring run): dimensions, cases a dimension, sizes, sampler, steps, αT
DIMS = (1, 2, 3)
CASES_PER_DIM = 8
N_REAL = 200
S_SIZE = 100
T_SAMPLER = 0.5
BATCH = 10
STEPS = (1, 4, 16, 64)
ALPHA_T = 0.01
REPEATS = 16
#: the cases' seeds: seed 100 was looked at while the design was written (slopes of log(1 - cos) -0.80, -0.94,
#: -0.90 against r_s^(S) and -0.23, -0.63, -0.44 against the population r_s in D = 1, 2, 3; the claim then moved
#: to the squared relative error, whose noise part is exactly 1/T, on a reviewer's advice), so the claim reads fresh ones
FIRST_SEED = 160


@dataclass(frozen=True)
class ConcentrationCase:
    """One base and its synthetic set.

    Attributes:
        dim (int): D.
        to_s (tuple): per T of :data:`STEPS`, the mean over repeats of ‖d_T + r_s^(S)‖² / ‖r_s^(S)‖².
        to_population (tuple): the same against the population r_s (the sampler's law, not S).
    """

    dim: int
    to_s: tuple
    to_population: tuple

    def slope(self, against: str = "s") -> float:
        """The least-squares slope of log e_T on log T (−1 when the minibatch noise alone is left)."""
        y = np.log(np.asarray(self.to_s if against == "s" else self.to_population, float))
        return float(np.polyfit(np.log(np.asarray(STEPS, float)), y, 1)[0])


def _relative_error(d: torch.Tensor, target: torch.Tensor) -> float:
    """‖d − target‖² / ‖target‖²."""
    return float((d - target).square().sum() / target.square().sum())


def _params(model: GaussianModel) -> list[torch.Tensor]:
    m = model.module
    return [m.mean, m.log_diag, m.offdiag]


def _gradient(model: GaussianModel, x: torch.Tensor) -> torch.Tensor:
    """∇_θ of the mean loss over rows x, flat (μ, log diag L, strict lower L)."""
    params = _params(model)
    return flatten(torch.autograd.grad(model.per_example_loss(x).mean(), params, allow_unused=True), params)


def displacement_direction(theta_r: torch.Tensor, dim: int, S: torch.Tensor, steps: int, g: torch.Generator) -> torch.Tensor:
    """d_T = (θ_s − θ_r)/(αT) after ``steps`` SGD steps of rate α = :data:`ALPHA_T`/steps on minibatches of
    :data:`BATCH` rows of S drawn with replacement from the stream ``g``.

    Not :func:`neon_theory.neon.self_train`: its SGD walks S in epochs without replacement, whose noise vanishes
    at whole epochs instead of falling as 1/T, the rate the claim tests."""
    model = model_from_theta(theta_r, dim)
    params, lr = _params(model), ALPHA_T / steps
    sizes = [p.numel() for p in params]
    for _ in range(steps):
        rows = draw(torch.randint, S.shape[0], (BATCH,), generator=g)
        step = _gradient(model, S[rows])
        with torch.no_grad():
            for p, d in zip(params, torch.split(step, sizes)):
                p -= lr * d.reshape(p.shape)
    return (model.theta() - theta_r) / ALPHA_T


def case(seed: int, dim: int) -> ConcentrationCase:
    """The case of ``seed`` in ``dim`` dimensions (see the module docstring)."""
    g = generator(seed, f"b10-concentration/{dim}")
    target = GaussianTarget(draw(torch.randn, dim, generator=g, dtype=F64), random_spd(dim, g))
    base = GaussianModel.fit_mle(target.sample(N_REAL, g))
    sampler = Temperature(T_SAMPLER)
    S = base.sample(S_SIZE, sampler, g)
    theta_r = base.theta()
    r_S = _gradient(model_from_theta(theta_r, dim), S)
    r_pop = base.exact_gradient(*base.sampler_law(sampler))
    to_s, to_pop = [], []
    for steps in STEPS:
        ds = [displacement_direction(theta_r, dim, S, steps, g) for _ in range(REPEATS)]
        to_s.append(sum(_relative_error(d, -r_S) for d in ds) / REPEATS)
        to_pop.append(sum(_relative_error(d, -r_pop) for d in ds) / REPEATS)
    return ConcentrationCase(dim, tuple(to_s), tuple(to_pop))


@functools.cache
def cases() -> tuple[ConcentrationCase, ...]:
    """Every case of the claim (:data:`CASES_PER_DIM` seeds from :data:`FIRST_SEED` in each of :data:`DIMS`)."""
    return tuple(case(seed, dim) for dim in DIMS for seed in range(FIRST_SEED, FIRST_SEED + CASES_PER_DIM))


__all__ = ["ConcentrationCase", "case", "cases", "displacement_direction", "ALPHA_T", "STEPS"]
