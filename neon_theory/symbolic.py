"""Sympy derivations used as independent checks of the numeric engine.

* :func:`one_d_alignment` — data N(0, 1), model N(0, v), sampler N(0, τ²v), NLL loss,
  gradients in the variance coordinate v: r_d, r_s, s = r_d r_s (P = 1).
* :func:`warmup_gamma` — E[∇_Σ L_pop(μ̂, Σ̂)] = −γ Σ*⁻¹ for the Gaussian MLE from n draws,
  derived from the Wishart moments (the paper's App. B.1).  The second inverse moment
  in an earlier version of our design notes was wrong for D ≥ 2; see :func:`wishart_inverse_moments`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class OneDAlignment:
    """Symbolic 1-D quantities (sympy expressions in v and tau)."""

    v: sp.Symbol
    tau: sp.Symbol
    r_d: sp.Expr
    r_s: sp.Expr
    s: sp.Expr

    def numeric(self, v: float, tau: float) -> dict[str, float]:
        subs = {self.v: v, self.tau: tau}
        return {k: float(getattr(self, k).subs(subs)) for k in ("r_d", "r_s", "s")}


def one_d_alignment() -> OneDAlignment:
    """Derive r_d, r_s and s for the over-/under-dispersed 1-D counterexample."""
    v, tau, x = sp.symbols("v tau x", positive=True)
    w = sp.Symbol("w", positive=True)  # the variance of the law the expectation is taken under
    nll = sp.Rational(1, 2) * (x**2 / v + sp.log(2 * sp.pi * v))
    # E_{N(0, w)}[nll] replaces x² by w (the loss is quadratic in x)
    risk = nll.subs(x**2, w)
    grad_v = sp.diff(risk, v)
    r_d = sp.simplify(grad_v.subs(w, 1))
    r_s = sp.simplify(grad_v.subs(w, tau**2 * v))
    return OneDAlignment(v, tau, r_d, r_s, sp.factor(r_d * r_s))


def wishart_inverse_moments(n, D) -> tuple[sp.Expr, sp.Expr]:
    """Coefficients (a, b) with E[Σ̂⁻¹] = a Σ*⁻¹ and E[Σ̂⁻¹ Σ* Σ̂⁻¹] = b Σ*⁻¹ for the MLE Σ̂ from n draws.

    n Σ̂ ~ Wishart_D(Σ*, k) with k = n − 1 degrees of freedom, and for W ~ W_D(I, k)
    E[W⁻¹] = I/(k−D−1), E[W⁻²] = (k−1) I / ((k−D)(k−D−1)(k−D−3))  (needs k > D + 3).
    An earlier version of our design notes printed b = n²/((n−D−2)(n−D−4)), which equals this only for D = 1.
    """
    k = n - 1
    a = n / (k - D - 1)
    b = n**2 * (k - 1) / ((k - D) * (k - D - 1) * (k - D - 3))
    return sp.simplify(a), sp.simplify(b)


def warmup_gamma(design: bool = False) -> tuple[sp.Expr, sp.Symbol, sp.Symbol]:
    """γ(n, D) with E[∇_Σ L_pop(μ̂, Σ̂)] = −γ Σ*⁻¹; returns (γ, n, D).

    Uses the Wishart moments of :func:`wishart_inverse_moments` (or, with ``design=True``,
    the moments as printed in that earlier version), μ̂ independent of Σ̂ with
    E[(μ̂−μ*)(μ̂−μ*)ᵀ] = Σ*/n, and ∇_Σ L_pop = ½(Σ̂⁻¹ − Σ̂⁻¹(Σ* + (μ̂−μ*)(μ̂−μ*)ᵀ)Σ̂⁻¹).

    The correct result is γ = n(D+2)(2n−D−3) / (2(n−D−1)(n−D−2)(n−D−4)) ≈ (D+2)/n;
    the printed one, n(D+5)/(2(n−D−2)(n−D−4)) ≈ (D+5)/(2n), agrees only at D = 1.
    Both are positive for n > D + 4, so E[ΔL_pop] < 0 survives the correction.
    """
    n, D = sp.symbols("n D", positive=True)
    if design:
        a, b = n / (n - D - 2), n**2 / ((n - D - 2) * (n - D - 4))
    else:
        a, b = wishart_inverse_moments(n, D)
    coeff = sp.Rational(1, 2) * (a - (1 + 1 / n) * b)  # E[∇_Σ] = coeff · Σ*⁻¹
    return sp.factor(sp.simplify(-coeff)), n, D
