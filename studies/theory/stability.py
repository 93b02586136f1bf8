"""App. B.8 (stability) on exact Gaussian cases: s on a ball around the base, and one w for the ball.

B.8: s is Lipschitz in θ; if s(θ_r) ≤ −μ, then s < −μ/2 on the ball of radius ρ = μ/(2L) around
θ_r (L the Lipschitz constant of s there), and a single w works for every base in that ball.

Each case is a Gaussian target N(m, Σ*) in D = 1..3 (log-Cholesky coordinates), a base
θ_r = θ* + c·u at distance c = :data:`DISTANCE` along a seeded direction pointed so that s(θ_r) < 0,
the sampler T = :data:`T` and P = H_d⁻¹ (fixed: it is the geometry at θ*).  Everything is exact
(closed-form Gaussian expectations) except L, which is the largest ‖∇s‖ (central differences) over
:data:`LIPSCHITZ_POINTS` points of the ball of radius c/2, so the ball's radius is an estimate and
the check on it is what B.8 promises given that estimate.  On the ball, each neighbour θ gets

* s(θ), against −μ/2;
* the exact change of the real risk after the Neon step θ + w·P r_s(θ) at w = w*(θ_r) = −s/z
  (z = ⟨P r_s, Ĥ P r_s⟩ at θ_r: the w a practitioner tunes on θ_r) and at half of it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from neon_theory.preconditioners import exact_inverse
from neon_theory.rng import draw, generator
from neon_theory.samplers import Temperature
from toy_models.gaussian import GaussianTarget, exact_quantities, model_from_theta

from .cases import random_spd

F64 = torch.float64
#: the sampler, the base's distance from θ* and the number of cases (fixed before the scoring run)
T = 0.7
DISTANCE = 0.1
CASES = 12
#: points of the ball of radius c/2 on which ‖∇s‖ is maximised (the estimate of L), and neighbours checked
LIPSCHITZ_POINTS = 12
NEIGHBOURS = 16
#: the control's ball: three times the base's distance from θ*, so it reaches past θ*
CONTROL_RADIUS = 3.0
_H = 1e-5  # central-difference step of ∇s


@dataclass(frozen=True)
class StabilityCase:
    """One base and its ball.

    Attributes:
        dim (int): D.
        mu (float): −s(θ_r) > 0.
        lipschitz (float): the estimate of L on the ball of radius c/2.
        radius (float): ρ = min(μ/(2L), c/2), in log-Cholesky coordinates.
        s (tuple): s at each neighbour of the ball of radius ρ.
        gain_w_star (tuple): the exact risk change after Neon at w*(θ_r), per neighbour.
        gain_half (tuple): the same at w*(θ_r)/2.
        control_s (tuple): s at the neighbours of the control's ball (radius CONTROL_RADIUS·c).
    """

    dim: int
    mu: float
    lipschitz: float
    radius: float
    s: tuple
    gain_w_star: tuple
    gain_half: tuple
    control_s: tuple

    @property
    def holds(self) -> bool:
        """B.8's conclusion on this ball: s < −μ/2 at every neighbour."""
        return all(v < -self.mu / 2 for v in self.s)


class _Case:
    """The exact quantities of one target at any θ, with P = H_d⁻¹ fixed."""

    def __init__(self, seed: int, dim: int):
        g = generator(seed, "b8-stability")
        self.dim = dim
        self.target = GaussianTarget(draw(torch.randn, dim, generator=g, dtype=F64), random_spd(dim, g))
        self.theta_star = self.target.as_model().theta()
        u = draw(torch.randn, self.theta_star.shape[0], generator=g, dtype=F64)
        self.g = g
        self.P = exact_inverse(exact_quantities(self.target, self.target.as_model(), Temperature(T)).H_d)
        u = u / u.norm()
        self.theta_r = self.theta_star + DISTANCE * u
        if self.s(self.theta_r) > 0:  # point the error the way that makes s(θ_r) < 0
            self.theta_r = self.theta_star - DISTANCE * u

    def quantities(self, theta):
        return exact_quantities(self.target, model_from_theta(theta, self.dim), Temperature(T))

    def s(self, theta) -> float:
        o = self.quantities(theta)
        return float(self.P.inner(o.r_d, o.r_s))

    def grad_s(self, theta) -> torch.Tensor:
        eye = torch.eye(theta.shape[0], dtype=F64)
        return torch.tensor([(self.s(theta + _H * e) - self.s(theta - _H * e)) / (2 * _H) for e in eye], dtype=F64)

    def risk(self, theta) -> float:
        with torch.no_grad():
            return float(model_from_theta(theta, self.dim).expected_loss(self.target.mean, self.target.cov))

    def neon_gain(self, theta, w: float) -> float:
        """The exact change of the real risk after the Neon step θ + w·P r_s(θ) (α = 1)."""
        step = self.P.apply(self.quantities(theta).r_s)
        return self.risk(theta + w * step) - self.risk(theta)

    def ball(self, radius: float, n: int) -> list:
        """n points of the ball of ``radius`` around θ_r: half on its sphere, half inside (uniform in volume)."""
        p = self.theta_r.shape[0]
        out = []
        for i in range(n):
            u = draw(torch.randn, p, generator=self.g, dtype=F64)
            r = radius if i % 2 == 0 else radius * float(draw(torch.rand, 1, generator=self.g, dtype=F64)) ** (1 / p)
            out.append(self.theta_r + r * u / u.norm())
        return out


def stability_case(seed: int, dim: int) -> StabilityCase:
    """B.8 on one seeded target and base."""
    c = _Case(seed, dim)
    mu = -c.s(c.theta_r)
    near = [c.theta_r, *c.ball(DISTANCE / 2, LIPSCHITZ_POINTS - 1)]
    lipschitz = max(float(c.grad_s(t).norm()) for t in near)
    radius = min(mu / (2 * lipschitz), DISTANCE / 2)
    o = c.quantities(c.theta_r)
    step = c.P.apply(o.r_s)
    w_star = mu / float(step @ (o.H_hat @ step))  # -s/z with s = -μ
    neighbours = c.ball(radius, NEIGHBOURS)
    return StabilityCase(
        dim, mu, lipschitz, radius, tuple(c.s(t) for t in neighbours), tuple(c.neon_gain(t, w_star) for t in neighbours),
        tuple(c.neon_gain(t, w_star / 2) for t in neighbours), tuple(c.s(t) for t in c.ball(CONTROL_RADIUS * DISTANCE, NEIGHBOURS)),
    )


@functools.cache
def cases() -> tuple[StabilityCase, ...]:
    """The scorecard's cases: seeds 5000.., D cycling 1, 2, 3."""
    return tuple(stability_case(5000 + i, 1 + i % 3) for i in range(CASES))


def share(values, below: float = 0.0) -> float:
    """The fraction of ``values`` below ``below`` (nan for none)."""
    values = list(values)
    return sum(v < below for v in values) / len(values) if values else math.nan
