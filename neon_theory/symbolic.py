"""Sympy derivations used as independent checks of the numeric engine.

* :func:`one_d_alignment` — data N(0, 1), model N(0, v), sampler N(0, τ²v), NLL loss,
  gradients in the variance coordinate v: r_d, r_s, s = r_d r_s (P = 1).
* :func:`warmup_gamma` — E[∇_Σ L_pop(μ̂, Σ̂)] = −γ Σ*⁻¹ for the Gaussian MLE from n draws,
  derived from the Wishart moments (DESIGN.md §3, App. B.1).
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


def warmup_gamma() -> tuple[sp.Expr, sp.Symbol, sp.Symbol]:
    """γ(n, D) with E[∇_Σ L_pop(μ̂, Σ̂)] = −γ Σ*⁻¹; returns (γ, n, D).

    Uses E[Σ̂⁻¹] = n/(n−D−2) Σ*⁻¹, E[Σ̂⁻¹Σ*Σ̂⁻¹] = n²/((n−D−2)(n−D−4)) Σ*⁻¹ (Wishart, n > D+4),
    μ̂ independent of Σ̂ with E[(μ̂−μ*)(μ̂−μ*)ᵀ] = Σ*/n, and
    ∇_Σ L_pop = ½(Σ̂⁻¹ − Σ̂⁻¹(Σ* + (μ̂−μ*)(μ̂−μ*)ᵀ)Σ̂⁻¹).
    """
    n, D = sp.symbols("n D", positive=True)
    e_inv = n / (n - D - 2)
    e_sandwich = n**2 / ((n - D - 2) * (n - D - 4))
    coeff = sp.Rational(1, 2) * (e_inv - (1 + 1 / n) * e_sandwich)  # E[∇_Σ] = coeff · Σ*⁻¹
    return sp.factor(sp.simplify(-coeff)), n, D
