"""Exact cases of Theorem 1: the quantities of the bound and the exact s, on closed-form families.

Each case returns ``(TheoryQuantities, exact s)``.  The named counterexamples came from a seeded
search over the exact families (Gaussian in log-Cholesky coordinates, D = 1..3, and one
categorical token); :func:`random_case` draws the family of cases the scorecard and the tests
sweep.  Everything is float64 and exact (closed forms, finite sums): no Monte Carlo.
"""

from __future__ import annotations

import math

import torch

from neon_theory.alignment import theory_quantities
from neon_theory.gradients import population_gradient, population_hessian
from neon_theory.preconditioners import Diagonal, exact_inverse
from neon_theory.rng import draw
from neon_theory.samplers import Temperature
from toy_models.categorical import CategoricalModel, CategoricalTarget
from toy_models.gaussian import GaussianTarget, exact_quantities, model_from_theta

F64 = torch.float64

# Gaussian counterexample (natural gradient, K = I): Σ* = [[2, −1], [−1, 1]], a diversifying
# sampler T = 5, and θ_r = θ* + c·GAUSS_DIR in log-Cholesky coordinates (μ, log diag L, L₂₁).
GAUSS_COV = torch.tensor([[2.0, -1.0], [-1.0, 1.0]], dtype=F64)
GAUSS_DIR = torch.tensor([-0.1, -0.2, 0.1, 0.0, -1.0], dtype=F64)
GAUSS_T = 5.0

# The printed condition's failure for plain gradient descent (P = I, sharpening T = 0.5):
# cos φ < 0 while cos φ_K > 0.
PLAIN_GRADIENT_DIR = torch.tensor([0.0, 0.0, 0.1, -0.3, 0.56], dtype=F64)

# Categorical counterexample (V = 3, natural gradient, sharpening T = 0.33): data logits
# (1.2, −1.2, 0), p* ≈ (0.718, 0.065, 0.216); the model's free logits are moved by ε = (0.1, 0.3),
# p_r ≈ (0.723, 0.080, 0.197).
CAT_LOGITS = torch.tensor([1.2, -1.2, 0.0], dtype=F64)
CAT_EPS = torch.tensor([0.1, 0.3], dtype=F64)
CAT_T = 0.33


def gaussian_case(c: float, direction: torch.Tensor = GAUSS_DIR, T: float = GAUSS_T, P=None):
    """(TheoryQuantities, exact s) at θ_r = θ* + c·direction; P defaults to H_d⁻¹."""
    target = GaussianTarget(torch.zeros(2, dtype=F64), GAUSS_COV)
    model = model_from_theta(target.as_model().theta() + c * direction, 2)
    o = exact_quantities(target, model, Temperature(T))
    P = exact_inverse(o.H_d) if P is None else P
    th = theory_quantities(o.eps, o.H_d, o.b, o.Delta, P)
    return th, float(P.inner(o.r_d, o.r_s))


def categorical_case(c: float, logits: torch.Tensor = CAT_LOGITS, eps: torch.Tensor = CAT_EPS, T: float = CAT_T):
    """(TheoryQuantities, exact s) for one categorical token, natural gradient P = H_d⁻¹.

    Every expectation is an exact finite sum (``WeightedSupport``); Δ = 0 because the NLL
    Hessian of a categorical does not depend on the token.
    """
    target = CategoricalTarget(torch.softmax(logits, 0))
    star = CategoricalModel(target.probs)
    free = star.module.logits_free.detach() + c * eps
    model = CategoricalModel(torch.softmax(torch.cat([free, free.new_zeros(1)]), 0))
    q = model.support(Temperature(T))
    H_d = population_hessian(star, target.support())
    Delta = population_hessian(star, q) - H_d
    b = population_gradient(star, q).mean
    r_d, r_s = population_gradient(model, target.support()).mean, population_gradient(model, q).mean
    P = exact_inverse(H_d)
    eps_vec = model.module.logits_free.detach() - star.module.logits_free.detach()
    th = theory_quantities(eps_vec, H_d, b, Delta, P)
    return th, float(P.inner(r_d, r_s))


def random_spd(d: int, generator: torch.Generator, jitter: float = 0.3) -> torch.Tensor:
    """A random symmetric positive-definite d×d matrix (float64)."""
    A = draw(torch.randn, d, d, generator=generator, dtype=F64)
    return A @ A.T / d + jitter * torch.eye(d, dtype=F64)


def random_family(seed: int, d: int, log_t: float, natural: bool):
    """A random Gaussian family of cases: target N(m, Σ*) and a direction u drawn from ``seed``,
    the sampler T = exp(log_t), P = H_d⁻¹ (``natural``) or a random positive diagonal.  Returns
    ``at(c) -> (TheoryQuantities, exact s)`` at θ_r = θ* + c·u, and u."""
    g = torch.Generator().manual_seed(seed)
    target = GaussianTarget(draw(torch.randn, d, generator=g, dtype=F64), random_spd(d, g))
    theta_star = target.as_model().theta()
    p = theta_star.shape[0]
    direction = draw(torch.randn, p, generator=g, dtype=F64)
    T = math.exp(log_t)
    P = None if natural else Diagonal(torch.exp(draw(torch.randn, p, generator=g, dtype=F64)))

    def at(c, u=direction):
        model = model_from_theta(theta_star + c * u, d)
        o = exact_quantities(target, model, Temperature(T))
        Pc = exact_inverse(o.H_d) if P is None else P
        return theory_quantities(o.eps, o.H_d, o.b, o.Delta, Pc), float(Pc.inner(o.r_d, o.r_s))

    return at, direction


def random_case(seed: int, d: int, log_t: float, natural: bool, frac: float, *, scale: float = 1e-6, against_bias: bool = True):
    """A case of :func:`random_family`: its direction turned against the sampler bias
    (cos φ_K < 0; with ``against_bias=False`` along it), and θ_r at ``frac`` of the first-order
    radius (measured at c = ``scale``, where ‖ε‖_H is linear in c).  Returns (TheoryQuantities, exact s)."""
    at, direction = random_family(seed, d, log_t, natural)
    th0, _ = at(scale)
    if (th0.cos_phi_K > 0) == against_bias:  # point the direction against (or along) the bias
        direction = -direction
        th0, _ = at(scale, direction)
    return at(frac * th0.sufficient_radius_first_order / th0.eps_norm_H * scale, direction)
