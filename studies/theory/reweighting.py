"""Lemma B.6's reweighting step, checked itself on Gaussians with a diagonal covariance.

Data N(0, diag v*), base model N(0, diag v_r), density-temperature sampler q ∝ p_r^{1/T}, so
f(z) = exp(c·z) with c = 1/T − 1 (mode-seeking for T < 1).  In the variance coordinates θ = v the
base error is ε = v_r − v* and the score at θ* is u_i(x) = ½(x_i²/v*_i² − 1/v*_i), so with
z_i = x_i²

* B(x) = εᵀu_θ*(x) = Σ β_i z_i + const, β_i = ε_i / (2 v*_i²);
* log p_r(x) = −Σ z_i / (2 v_r,i) + const.

The proof's key step says f(log p_r(x)) is, to first order, a nondecreasing function of B(x), which
makes the reweighted mean E_q[B] = −εᵀb positive (cos φ < 0).  Three levels are computed exactly:

1. **the premise as printed**: on the positive orthant of z, log p_r is a nondecreasing function of
   B exactly when the vector (−1/(2v_r,i)) is a non-negative multiple of β (for T < 1; a
   non-positive one for the nonincreasing f of T > 1): in one dimension, when the base is too
   sharp, and in more only when the errors are in that exact proportion;
2. **what the conclusion needs**: since q ∝ f·p_r, E_q[B] = Cov_{p_r}(f(log p_r), B)/E_{p_r}[f] + E_{p_r}[B],
   and E_{p_r}[B] = Σ ε_i²/(2v*_i²) > 0, so Cov_{p_r}(f(log p_r), B) ≥ 0 suffices (Chebyshev's
   association inequality turns the premise into it).  In closed form it is (T − 1)·Σ β_i v_r,i
   times E_{p_r}[f]: for T < 1, non-negative exactly when Σ ε_i v_r,i / v*_i² ≤ 0, the base too sharp
   on a weighted average;
3. **the conclusion**: E_q[B] = Σ β_i (T v_r,i − v*_i) > 0, with q = N(0, T·diag v_r).

The engine's own exact quantities (log-Cholesky coordinates) give εᵀb and s at P = H_d⁻¹ for the
same pair, an independent computation of the conclusion's sign and of the sign law.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from neon_theory.rng import draw, generator

F64 = torch.float64
#: mode-seeking and diversity-seeking temperatures of the cases (fixed before the scoring run)
SHARP_T = (0.5, 0.7, 0.9)
DIVERSE_T = (1.25, 1.6)
#: bases per (dimension, temperature): v_r,i = v*_i · exp(δ_i), δ_i uniform in ±SPREAD (small: the lemma is a first-order
#: statement, and the premise's proportionality does not depend on the scale)
BASES = 8
SPREAD = 0.03
#: relative tolerance of "a multiple of": the premise is an exact proportionality
PARALLEL_RTOL = 1e-9


@dataclass(frozen=True)
class ReweightingCase:
    """One (data, base, temperature) triple and the three levels of the step, exact.

    Attributes:
        v_star, v_r (tuple): the data's and the base's variances per direction.
        T (float): the sampler's density temperature.
        premise (bool): f(log p_r) is a nondecreasing function of B on the whole support.
        covariance (float): Cov_{p_r}(f(log p_r), B) / E_{p_r}[f(log p_r)] (what the conclusion needs: ≥ 0).
        reweighted_mean (float): E_q[B] = −εᵀb in the variance coordinates (the conclusion: > 0).
        eps_b (float): εᵀb from the engine (log-Cholesky coordinates): the conclusion's sign, computed apart.
        s_natural (float): the exact s at P = H_d⁻¹ from the engine.
    """

    v_star: tuple
    v_r: tuple
    T: float
    premise: bool
    covariance: float
    reweighted_mean: float
    eps_b: float
    s_natural: float

    @property
    def dim(self) -> int:
        return len(self.v_star)

    @property
    def sharp_on_average(self) -> bool:
        """Σ ε_i / v*_i < 0: too sharp on average, the first-order sign of the covariance (positive at T < 1)."""
        return sum((r - s) / s for r, s in zip(self.v_r, self.v_star)) < 0

    def label(self) -> str:
        ratios = ", ".join(f"{r / s:.3g}" for r, s in zip(self.v_r, self.v_star))
        return f"D = {self.dim}, T = {self.T:g}, v_r/v* = ({ratios})"


def premise_holds(v_star, v_r, T: float) -> bool:
    """Whether f(log p_r(x)) is a nondecreasing function of B(x) = εᵀu_θ*(x) over every x (exact)."""
    beta = [(r - s) / (2 * s * s) for r, s in zip(v_r, v_star)]
    grad = [-1 / (2 * r) for r in v_r]  # log p_r = grad · z + const
    c = 1 / T - 1
    if c == 0:  # f constant: trivially nondecreasing
        return True
    norm_b = math.sqrt(sum(b * b for b in beta))
    if norm_b == 0:  # B constant while log p_r is not: f(log p_r) is no function of B
        return False
    lam = sum(g * b for g, b in zip(grad, beta)) / norm_b**2  # the least-squares multiple
    scale = math.sqrt(sum(g * g for g in grad))
    parallel = all(abs(g - lam * b) <= PARALLEL_RTOL * scale for g, b in zip(grad, beta))
    return parallel and lam * c > 0  # f(log p_r) = exp(c·lam·B + const): nondecreasing when c·lam > 0


def covariance(v_star, v_r, T: float) -> float:
    """Cov_{p_r}(f(log p_r), B) / E_{p_r}[f(log p_r)] in closed form: f·p_r tilts p_r to q = N(0, T·diag v_r),
    so it is E_q[B] − E_{p_r}[B] = (T − 1)·Σ β_i v_r,i."""
    return (T - 1) * sum((r - s) / (2 * s * s) * r for s, r in zip(v_star, v_r))


def base_mean(v_star, v_r) -> float:
    """E_{p_r}[B] = Σ ε_i² / (2 v*_i²): positive for any base off θ*, so a non-negative covariance gives E_q[B] > 0."""
    return sum((r - s) ** 2 / (2 * s * s) for s, r in zip(v_star, v_r))


def reweighted_mean(v_star, v_r, T: float) -> float:
    """E_q[B] with q = N(0, T·diag v_r), in closed form: −εᵀb in the variance coordinates."""
    return sum((r - s) / (2 * s * s) * (T * r - s) for s, r in zip(v_star, v_r))


def engine_quantities(v_star, v_r, T: float) -> tuple[float, float]:
    """(εᵀb, s at P = H_d⁻¹) from the engine's exact Gaussian quantities (log-Cholesky coordinates)."""
    from neon_theory.preconditioners import exact_inverse
    from neon_theory.samplers import Temperature
    from toy_models.gaussian import GaussianModel, GaussianTarget, exact_quantities

    d = len(v_star)
    target = GaussianTarget(torch.zeros(d, dtype=F64), torch.diag(torch.tensor(v_star, dtype=F64)))
    model = GaussianModel(torch.zeros(d, dtype=F64), torch.diag(torch.tensor(v_r, dtype=F64)))
    o = exact_quantities(target, model, Temperature(T))
    return float(o.eps @ o.b), float(exact_inverse(o.H_d).inner(o.r_d, o.r_s))


def case(v_star, v_r, T: float) -> ReweightingCase:
    """Every level of the step for one triple."""
    v_star, v_r = tuple(map(float, v_star)), tuple(map(float, v_r))
    if len(v_star) != len(v_r) or not v_star or min(v_star + v_r) <= 0:
        raise ValueError("v_star and v_r must be equally long tuples of positive variances")
    return ReweightingCase(v_star, v_r, float(T), premise_holds(v_star, v_r, T), covariance(v_star, v_r, T), reweighted_mean(v_star, v_r, T),
                           *engine_quantities(v_star, v_r, T))


@functools.cache
def cases() -> tuple[ReweightingCase, ...]:
    """The grid: D = 1, 2, 3 × every temperature × BASES seeded bases (v* itself drawn in [0.5, 2])."""
    out = []
    for d in (1, 2, 3):
        for i in range(BASES):
            g = generator(4000 + 10 * d + i, "lemma-b6")
            v_star = 0.5 + 1.5 * draw(torch.rand, d, generator=g, dtype=F64)
            delta = SPREAD * (2 * draw(torch.rand, d, generator=g, dtype=F64) - 1)
            v_r = v_star * torch.exp(delta)
            out += [case(v_star.tolist(), v_r.tolist(), T) for T in SHARP_T + DIVERSE_T]
    return tuple(out)
