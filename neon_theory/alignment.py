"""The alignment scalar s = ⟨r_d, P r_s⟩, the P-cosine, w*, and the theory quantities.

Uncertainty comes from a delete-one-batch jackknife over the batch means of the two
gradient estimates (which share batches when estimated with common random numbers).
The jackknife also removes the O(1/n) bias of the plug-in ŝ = r̂_dᵀ P r̂_s, which is
*not* zero under common random numbers: E[ŝ] = s + tr(P Cov(r̂_d, r̂_s)).  The
preconditioner and the Hessian are treated as fixed (not resampled).

Theorem 1 (DESIGN.md §3) is evaluated where θ* is known, in two forms:

* ``bound_printed`` — the bound as printed, with φ the H_d-geometry angle;
* ``bound_corrected`` — the first-order bound with the sign of b as Lemma B.3 gives it
  and the angle φ_K measured in K = H_d^{1/2} P H_d^{1/2} geometry:
  s ≤ M(1+η₁)‖ε‖²_H − m η₀ ‖ε‖_H [−cos φ_K]₊ + M η₀ ‖ε‖_H [cos φ_K]₊.
  For P ∝ H_d⁻¹ (natural gradient) K ∝ I and the two coincide when cos φ ≤ 0.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from scipy import stats
from torch import Tensor

from ._validation import check_real, check_tensor
from .gradients import GradientEstimate, as_estimate
from .preconditioners import Preconditioner, matrix_power_sym


_ZERO_TOL = 1e-12


@dataclass(frozen=True)
class TheoryQuantities:
    """Quantities of Lemma B.3 / Theorem 1 at a known θ*.

    Attributes:
        eps_norm_H: ‖ε‖_{H_d}.
        eta0: ‖b‖_{H_d⁻¹}.
        eta1: ‖H_d^{-1/2} Δ H_d^{-1/2}‖_op.
        m, M: extreme eigenvalues of K = H_d^{1/2} P H_d^{1/2}.
        cos_phi: cosine between H_d^{1/2} ε and H_d^{-1/2} b (sign = sign of εᵀb).
        cos_phi_K: the same angle measured after K^{1/2}.
        s_first_order: ⟨H_d ε, P (H_d ε + b + Δ ε)⟩, the Lemma B.3 expansion of s.
        bound_printed, bound_corrected: Theorem 1's right-hand side (see module docstring).
        sufficient_radius: m η₀ (−cos φ) / (M (1+η₁)), or 0 when cos φ ≥ 0.
        sufficient_condition: cos φ < 0 and ‖ε‖_H < sufficient_radius (Theorem 1 ⇒ s < 0).
    """

    eps_norm_H: float
    eta0: float
    eta1: float
    m: float
    M: float
    cos_phi: float
    cos_phi_K: float
    s_first_order: float
    bound_printed: float
    bound_corrected: float
    sufficient_radius: float
    sufficient_condition: bool


def _cos(a: Tensor, b: Tensor) -> float:
    na, nb = float(a.norm()), float(b.norm())
    return float(a @ b) / (na * nb) if na > 0 and nb > 0 else 0.0


def theory_quantities(eps: Tensor, H_d: Tensor, b: Tensor, Delta: Tensor, P: Preconditioner) -> TheoryQuantities:
    """Evaluate Theorem 1's ingredients.

    Args:
        eps (Tensor): ε = θ_r − θ*, shape (p,).
        H_d (Tensor): data Hessian at θ*, shape (p, p), positive definite.
        b (Tensor): sampler bias E_q[∇ℓ_{θ*}], shape (p,).
        Delta (Tensor): curvature tilt E_q[∇²ℓ_{θ*}] − H_d, shape (p, p).
        P: the preconditioner.
    """
    p = check_tensor("eps", eps, ndim=1).shape[0]
    check_tensor("H_d", H_d, shape=(p, p))
    check_tensor("b", b, shape=(p,))
    check_tensor("Delta", Delta, shape=(p, p))
    eps, H, b, D = eps.double(), H_d.double(), b.double(), Delta.double()
    H_half, H_mhalf = matrix_power_sym(H, 0.5), matrix_power_sym(H, -0.5)
    Pm = P.matrix(p)
    K = H_half @ Pm @ H_half
    K = 0.5 * (K + K.T)
    k_eigs = torch.linalg.eigvalsh(K)
    m, M = float(k_eigs[0]), float(k_eigs[-1])
    u, v = H_half @ eps, H_mhalf @ b
    K_half = matrix_power_sym(K, 0.5)
    eps_H, eta0 = float(u.norm()), float(v.norm())
    eta1 = float(torch.linalg.matrix_norm(H_mhalf @ D @ H_mhalf, ord=2))
    cos_phi, cos_phi_K = _cos(u, v), _cos(K_half @ u, K_half @ v)
    Heps = H @ eps
    s1 = float(Heps @ (Pm @ (Heps + b + D @ eps)))
    quad = M * (1 + eta1) * eps_H**2
    printed = quad - m * eta0 * eps_H * max(-cos_phi, 0.0)
    corrected = quad - m * eta0 * eps_H * max(-cos_phi_K, 0.0) + M * eta0 * eps_H * max(cos_phi_K, 0.0)
    radius = m * eta0 * max(-cos_phi, 0.0) / (M * (1 + eta1))
    return TheoryQuantities(
        eps_H, eta0, eta1, m, M, cos_phi, cos_phi_K, s1, printed, corrected, radius, bool(cos_phi < 0 and eps_H < radius)
    )


@dataclass(frozen=True)
class AlignmentReport:
    """s, the P-cosine, z and w* with jackknife standard errors and intervals.

    Attributes:
        s: ⟨r_d, P r_s⟩ (jackknife bias-corrected when estimated).
        s_plugin: r̂_dᵀ P r̂_s.
        cosine: s_plugin / (‖r̂_d‖_P ‖r̂_s‖_P), in [−1, 1].
        *_se, *_ci: standard errors and ``level`` intervals (t with n_batches − 1 d.o.f.).
        z: r_sᵀ Pᵀ Ĥ P r_s (``None`` without a Hessian).
        w_star: −s / (α z) (``None`` without α and a Hessian, or when z ≤ 0).
        theory: :class:`TheoryQuantities` when θ* is known.
    """

    s: float
    s_plugin: float
    s_se: float
    s_ci: tuple[float, float]
    cosine: float
    cosine_se: float
    cosine_ci: tuple[float, float]
    norm_d: float
    norm_s: float
    n: int
    n_batches: int
    exact: bool
    preconditioner: str
    level: float
    z: float | None = None
    z_se: float | None = None
    alpha: float | None = None
    w_star: float | None = None
    w_star_se: float | None = None
    w_star_ci: tuple[float, float] | None = None
    theory: TheoryQuantities | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def verdict(self) -> str:
        """``"anti-aligned"`` (interval below 0), ``"aligned"`` (above 0) or ``"undetermined"``."""
        lo, hi = self.s_ci
        if hi < 0:
            return "anti-aligned"
        if lo > 0:
            return "aligned"
        return "undetermined"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["verdict"] = self.verdict
        return d

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def _loo(g: GradientEstimate, nb: int) -> Tensor:
    """Delete-one-batch means, shape (nb, p)."""
    if g.exact or g.n_batches == 1:
        return g.mean.expand(nb, -1)
    w = g.batch_weights[:, None]
    return (g.mean - w * g.batch_means) / (1 - w)


def _jackknife(full: float, loo: Tensor, nb: int, q: float) -> tuple[float, float, tuple[float, float]]:
    """Bias-corrected estimate, SE and interval from delete-one values."""
    if nb < 2:
        return full, 0.0, (full, full)
    loo = loo.double()
    finite = torch.isfinite(loo)
    if not bool(finite.all()):
        return full, math.nan, (math.nan, math.nan)
    mean_loo = float(loo.mean())
    est = nb * full - (nb - 1) * mean_loo
    se = math.sqrt((nb - 1) / nb * float(((loo - mean_loo) ** 2).sum()))
    return est, se, (est - q * se, est + q * se)


def alignment(
    r_d,
    r_s,
    P: Preconditioner,
    *,
    alpha: float | None = None,
    hessian: Tensor | Callable[[Tensor], Tensor] | None = None,
    theory: TheoryQuantities | None = None,
    level: float = 0.95,
) -> AlignmentReport:
    """Alignment report for r_d, r_s under preconditioner P.

    Args:
        r_d, r_s: :class:`GradientEstimate` or exact vectors of shape (p,).  Two estimates
            must have the same number of batches (use ``paired_population_gradients``).
        P: a :class:`Preconditioner`.
        alpha (float): effective step α in (0, inf) (≈ lr × steps) for w* = −s/(αz).
        hessian: Ĥ = ∇²R_data(θ_r) as a (p, p) tensor or a function v ↦ Ĥ v.
        theory: optional :class:`TheoryQuantities` to attach.
        level (float): interval coverage in (0, 1).
    """
    if not isinstance(P, Preconditioner):
        raise ValueError(f"P must be a Preconditioner; got {type(P).__name__}")
    level = check_real("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    gd, gs = as_estimate(r_d), as_estimate(r_s)
    if gd.mean.shape != gs.mean.shape:
        raise ValueError(f"r_d and r_s must have the same shape; got {tuple(gd.mean.shape)} and {tuple(gs.mean.shape)}")
    if alpha is not None:
        alpha = check_real("alpha", alpha, 0.0, math.inf, lo_open=True)
    exact = gd.exact and gs.exact
    nb_d = 1 if gd.exact else gd.n_batches
    nb_s = 1 if gs.exact else gs.n_batches
    if nb_d > 1 and nb_s > 1 and nb_d != nb_s:
        raise ValueError(
            f"r_d and r_s must have the same n_batches for a paired jackknife; got {nb_d} and {nb_s}"
        )
    nb = max(nb_d, nb_s)
    q = float(stats.t.ppf(0.5 + level / 2, nb - 1)) if nb > 1 else 0.0
    notes = []

    # full values and delete-one values in one pass: row 0 = full, rows 1.. = delete-one
    D = torch.cat([gd.mean[None], _loo(gd, nb) if nb > 1 else gd.mean[None][:0]])
    S = torch.cat([gs.mean[None], _loo(gs, nb) if nb > 1 else gs.mean[None][:0]])
    PD, PS = P.apply(D), P.apply(S)
    s_all = (D * PS).sum(-1)
    nd, ns = (D * PD).sum(-1).clamp_min(0).sqrt(), (S * PS).sum(-1).clamp_min(0).sqrt()
    # a gradient below round-off (e.g. r_s of a neutral sampler, exactly 0 in theory) is zero
    tol = _ZERO_TOL * max(1.0, float(nd[0]), float(ns[0]))
    degenerate = float(nd[0]) <= tol or float(ns[0]) <= tol
    denom = nd * ns
    cos_all = torch.where(denom > 0, s_all / denom, torch.zeros_like(s_all)).clamp(-1, 1)
    if degenerate:
        cos_all = torch.zeros_like(cos_all)
        if exact:
            s_all = torch.zeros_like(s_all)
        notes.append("r_d or r_s is zero (below round-off): the cosine is undefined and reported as 0")
    s, s_se, s_ci = _jackknife(float(s_all[0]), s_all[1:], nb, q)
    cosine = float(cos_all[0])
    _, cos_se, _ = _jackknife(cosine, cos_all[1:], nb, q)
    cos_ci = (max(-1.0, cosine - q * cos_se), min(1.0, cosine + q * cos_se))

    z = z_se = w_star = w_se = w_ci = None
    if hessian is not None:
        if isinstance(hessian, Tensor):
            check_tensor("hessian", hessian, shape=(D.shape[1], D.shape[1]))
            HPS = PS @ hessian.double()
        elif callable(hessian):
            HPS = torch.stack([hessian(PS[0]).double()])
            notes.append("hessian given as a function: z is treated as exact in the jackknife")
        else:
            raise ValueError("hessian must be a (p, p) Tensor or a callable v -> H v")
        z_all = (HPS * (PS if HPS.shape[0] == PS.shape[0] else PS[:1])).sum(-1)
        z_full = float(z_all[0])
        if z_all.shape[0] > 1:
            z, z_se, _ = _jackknife(z_full, z_all[1:], nb, q)
        else:
            z, z_se = z_full, 0.0
            z_all = z_all.expand(s_all.shape[0])
        if alpha is not None:
            if degenerate:
                notes.append("r_s or r_d is zero: w* undefined")
            elif z_full <= 0:
                notes.append(f"z = {z_full:g} <= 0: the quadratic proxy has no minimum, w* undefined")
            else:
                w_all = -s_all / (alpha * z_all)
                w_star, w_se, w_ci = _jackknife(float(w_all[0]), w_all[1:], nb, q)
    return AlignmentReport(
        s=s,
        s_plugin=float(s_all[0]),
        s_se=s_se,
        s_ci=s_ci,
        cosine=cosine,
        cosine_se=cos_se,
        cosine_ci=cos_ci,
        norm_d=float(nd[0]),
        norm_s=float(ns[0]),
        n=max(gd.n, gs.n),
        n_batches=nb,
        exact=exact,
        preconditioner=getattr(P, "name", type(P).__name__),
        level=level,
        z=z,
        z_se=z_se,
        alpha=alpha,
        w_star=w_star,
        w_star_se=w_se,
        w_star_ci=w_ci,
        theory=theory,
        notes=tuple(notes),
    )
