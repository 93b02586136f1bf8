"""The alignment scalar s = ⟨r_d, P r_s⟩, the P-cosine, w*, and the theory quantities.

The quantities and what the checks found about Theorem 1 are in ``docs/theory.md`` (§2, §4).

Uncertainty comes from a delete-one-batch jackknife over the batch means of the two
gradient estimates (which share batches when estimated with common random numbers).
The jackknife also removes the O(1/n) bias of the plug-in ŝ = r̂_dᵀ P r̂_s, which is
*not* zero under common random numbers: E[ŝ] = s + tr(P Cov(r̂_d, r̂_s)), of either sign.
A preconditioner estimated block by block on the same rows as the gradients
(:class:`~neon_theory.preconditioners.BlockDiagonal` with as many blocks as the gradients
have batches) is deleted block by block with them, so its estimation noise is in the SEs;
any other preconditioner, and the Hessian, are treated as fixed (not resampled).

Theorem 1 of the paper is evaluated where θ* is known, in two forms:

* ``bound_printed`` — the bound as printed, with φ the H_d-geometry angle;
* ``bound_corrected_first_order`` — the bound with the sign of b as Lemma B.3 gives it
  and the angle φ_K measured in K = H_d^{1/2} P H_d^{1/2} geometry:
  s₁ ≤ M(1+η₁)‖ε‖²_H − m η₀ ‖ε‖_H [−cos φ_K]₊ + M η₀ ‖ε‖_H [cos φ_K]₊.
  For P ∝ H_d⁻¹ (natural gradient) K ∝ I and the two coincide when cos φ ≤ 0.

Both are **first-order** statements: they bound s₁ = ⟨H_d ε, P (H_d ε + b + Δ ε)⟩, the
Lemma B.3 expansion of s, not s itself.  What s₁ drops is the Taylor remainder of r_d and
r_s around θ*, which is O(η₀‖ε‖²) + O(‖ε‖³) (the O(‖ε‖²) error of r_d multiplies b,
which does not vanish), *not* the O(‖ε‖³) of the printed theorem.

The sufficient condition is first order too: ``sufficient_condition_first_order``
(cos φ_K < 0 and ‖ε‖_H < m η₀ (−cos φ_K) / (M (1+η₁)), exactly the condition that the
corrected bound is negative) implies s₁ < 0, not s < 0.  Inside the radius the dropped
remainder can exceed |s₁|: exact counterexamples with s > 0 exist under the natural
gradient (Gaussian, T = 5, ‖ε‖_H at 0.9 of the radius; categorical, T = 0.33, at 0.68
of it; tests/engine/test_theorem1.py).  As ε → 0 along a fixed direction with ⟨H_d ε, P b⟩ ≠ 0, s/s₁ → 1.  The paper's
condition, with the H_d-geometry angle φ, is kept as ``sufficient_condition_printed``;
it is not even a first-order statement unless K ∝ I (P ∝ H_d⁻¹): for other P, cos φ < 0
does not imply ⟨H_d^{1/2} ε, K H_d^{-1/2} b⟩ < 0, and the printed condition can hold with
s₁ > 0 and s > 0 at arbitrarily small ε (e.g. plain gradient P = I, T = 0.5).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from scipy import stats
from torch import Tensor

from .checks import check_real, check_tensor
from .device import to_accumulator
from .gradients import GradientEstimate, as_estimate
from .preconditioners import BlockDiagonal, Preconditioner, matrix_power_sym

_ZERO_TOL = 1e-12

DOMINANT_SHARE = 0.5
"""Default ``dominant_share``: a P-cosine is flagged degenerate when one coordinate carries more
than this share of ‖r_d‖²_P or ‖r_s‖²_P."""

SHARE_TOLERANCE = 1e-9
"""A share must exceed ``dominant_share`` by this much to count: shares are ratios of float sums,
so two coordinates that tie at one half each come out as 0.5000000000000009 and 0.4999999999999991."""

RESOLVED_NOISE_RATIO = 2.0
"""An estimated gradient is *resolved* when its P-norm is at least this many times the P-norm
that its Monte Carlo noise alone would give (√ of Σ_b w_b² ‖ḡ_b − ḡ‖²_P · nb/(nb−1)).  Below that
its direction, and so which coordinate "carries" it, is noise."""


W_STAR_SCOPE = (
    "the interval of w* = -s/(alpha z) covers only the Monte Carlo noise the jackknife resamples (see the notes), "
    "not the error of the first-order model: the best w can lie well outside it"
)
"""What every report of w* = −s/(αz) says beside its interval.  On the Gaussian cell at T = 0.8
(under-dispersed base, default sizes) the exact w* is 4.29, while Brent's best w over seeds 0–9
is 6.51 with 95% t-interval [6.36, 6.65], and the realised step's w* is 4.9–5.5."""


class DegenerateCosineWarning(UserWarning):
    """One parameter coordinate carries most of a P-norm: the P-cosine measures that coordinate
    (often a preconditioner entry near 1/eps from a unit that the P estimate never saw)."""


def coordinate_shares(r: Tensor, P: Preconditioner) -> Tensor:
    """Each coordinate's share of ‖r‖²_P: |r_i (P r)_i| / Σ_j r_j (P r)_j, shape (p,).

    For a diagonal P the shares are nonnegative and sum to 1; for a dense P the terms
    r_i (P r)_i can have either sign and their absolute values are divided by ‖r‖²_P.
    A zero vector has all shares 0.
    """
    r = to_accumulator(check_tensor("r", r, ndim=1))
    terms = r * P.apply(r)
    total = float(terms.sum())
    return terms.abs() / total if total > 0 else torch.zeros_like(terms)


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
        s_first_order: s₁ = ⟨H_d ε, P (H_d ε + b + Δ ε)⟩, the Lemma B.3 expansion of s;
            s − s₁ = O(η₀‖ε‖²) + O(‖ε‖³) (the Taylor remainders of r_d and r_s are dropped).
        bound_printed: Theorem 1's right-hand side as printed (H_d-geometry angle φ).
        bound_corrected_first_order: the corrected right-hand side (angle φ_K, see module
            docstring); an upper bound on s₁, not on s.
        sufficient_radius_first_order: m η₀ [−cos φ_K]₊ / (M (1+η₁)).
        sufficient_condition_first_order: cos φ_K < 0 and ‖ε‖_H < sufficient_radius_first_order,
            i.e. bound_corrected_first_order < 0; implies s₁ < 0 (hence s < 0 only to first
            order: higher-order terms are dropped).
        sufficient_radius_printed: m η₀ [−cos φ]₊ / (M (1+η₁)), the paper's radius.
        sufficient_condition_printed: cos φ < 0 and ‖ε‖_H < sufficient_radius_printed, the paper's
            condition; a valid first-order statement only when K ∝ I (P ∝ H_d⁻¹).
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
    bound_corrected_first_order: float
    sufficient_radius_first_order: float
    sufficient_condition_first_order: bool
    sufficient_radius_printed: float
    sufficient_condition_printed: bool


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
    H_half, H_mhalf = matrix_power_sym(H, 0.5, "H_d"), matrix_power_sym(H, -0.5, "H_d")
    Pm = P.matrix(p, device=H.device)
    K = H_half @ Pm @ H_half
    K = 0.5 * (K + K.T)
    k_eigs = torch.linalg.eigvalsh(K)
    m, M = float(k_eigs[0]), float(k_eigs[-1])
    u, v = H_half @ eps, H_mhalf @ b
    K_half = matrix_power_sym(K, 0.5, "K = H_d^1/2 P H_d^1/2")
    eps_H, eta0 = float(u.norm()), float(v.norm())
    eta1 = float(torch.linalg.matrix_norm(H_mhalf @ D @ H_mhalf, ord=2))
    cos_phi, cos_phi_K = _cos(u, v), _cos(K_half @ u, K_half @ v)
    Heps = H @ eps
    s1 = float(Heps @ (Pm @ (Heps + b + D @ eps)))
    quad = M * (1 + eta1) * eps_H**2
    printed = quad - m * eta0 * eps_H * max(-cos_phi, 0.0)
    corrected = quad - m * eta0 * eps_H * max(-cos_phi_K, 0.0) + M * eta0 * eps_H * max(cos_phi_K, 0.0)
    radius_K = m * eta0 * max(-cos_phi_K, 0.0) / (M * (1 + eta1))
    radius = m * eta0 * max(-cos_phi, 0.0) / (M * (1 + eta1))
    return TheoryQuantities(
        eps_H, eta0, eta1, m, M, cos_phi, cos_phi_K, s1, printed, corrected,
        radius_K, bool(cos_phi_K < 0 and eps_H < radius_K),
        radius, bool(cos_phi < 0 and eps_H < radius),
    )


@dataclass(frozen=True, repr=False)
class AlignmentReport:
    """s, the P-cosine, z and w* with jackknife standard errors and intervals.

    ``print(report)`` (and its repr in a notebook) is a short table; :meth:`to_dict` has every field.

    Attributes:
        s: ⟨r_d, P r_s⟩ (jackknife bias-corrected when estimated).
        s_plugin: r̂_dᵀ P r̂_s.
        cosine: s_plugin / (‖r̂_d‖_P ‖r̂_s‖_P), in [−1, 1].
        *_se, *_ci: standard errors and ``level`` intervals (t with n_batches − 1 d.o.f.).
        z: r_sᵀ Pᵀ Ĥ P r_s (``None`` without a Hessian).
        w_star: −s / (α z) (``None`` without α and a Hessian, or when z ≤ 0).  Its SE and interval
            cover the Monte Carlo noise that the jackknife resamples (that of r̂_d and r̂_s, and of z
            when Ĥ is a matrix; a P or a Hessian operator held fixed is named in ``notes``), never
            the first-order model's error (:data:`W_STAR_SCOPE`).
        w_star_reason: why ``w_star`` is ``None``, in words (``None`` when it has a value).
        theory: :class:`TheoryQuantities` when θ* is known.
        max_share_d, max_share_s: the largest single coordinate's share of ‖r̂_d‖²_P and of
            ‖r̂_s‖²_P (see :func:`coordinate_shares`).
        dominant_share: the threshold above which the report is ``degenerate``.
        resolved_d, resolved_s: the gradient is nonzero (above round-off) and, when estimated,
            its P-norm is at least :data:`RESOLVED_NOISE_RATIO` times its noise-only P-norm.  The
            shares of an unresolved gradient describe round-off or noise and are not flagged.
        degenerate: a resolved gradient has one coordinate carrying more than ``dominant_share``
            (+ :data:`SHARE_TOLERANCE`) of its P-norm, so s and the cosine are, in effect, one
            coordinate's; tables and figures carry this flag.
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
    w_star_reason: str | None = None
    theory: TheoryQuantities | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    max_share_d: float = 0.0
    max_share_s: float = 0.0
    dominant_share: float = DOMINANT_SHARE
    resolved_d: bool = True
    resolved_s: bool = True

    @property
    def degenerate(self) -> bool:
        """One coordinate carries more than ``dominant_share`` of a resolved ‖r_d‖²_P or ‖r_s‖²_P."""
        return _dominated(self.max_share_d, self.resolved_d, self.dominant_share) or _dominated(self.max_share_s, self.resolved_s, self.dominant_share)

    @property
    def verdict(self) -> str:
        """``"anti-aligned"`` (interval below 0), ``"aligned"`` (above 0) or ``"undetermined"``."""
        lo, hi = self.s_ci
        if hi < 0:
            return "anti-aligned"
        if lo > 0:
            return "aligned"
        return "undetermined"

    def __str__(self) -> str:
        kind = "exact" if self.exact else f"estimated: n = {self.n}, {self.n_batches} batches, {self.level:.0%} jackknife t-intervals"
        rows = [("s = <r_d, P r_s>", self.s, self.s_se, self.s_ci), ("P-cosine", self.cosine, self.cosine_se, self.cosine_ci)]
        rows.append(("z = r_s' P' H P r_s", self.z, self.z_se, None))
        rows.append((f"w* = -s/(alpha z){'' if self.alpha is None else f', alpha = {self.alpha:g}'}", self.w_star, self.w_star_se, self.w_star_ci))
        lines = [f"alignment report (P = {self.preconditioner}; {kind})", f"  {'quantity':<28} {'value':>12} {'SE':>10}  interval"]
        for name, value, se, ci in rows:
            if value is None:
                why = self.w_star_reason if name.startswith("w*") else "no Hessian given (pass hessian=)"
                lines.append(f"  {name:<28} {'—':>12} {'':>10}  {why}")
                continue
            interval = "" if ci is None or self.exact else f"[{ci[0]:+.4g}, {ci[1]:+.4g}]"
            lines.append(f"  {name:<28} {value:>+12.5g} {'' if se is None or self.exact else f'{se:.2g}':>10}  {interval}")
        if self.w_star is not None and not self.exact:
            lines.append(f"  {W_STAR_SCOPE}")
        lines.append(f"  verdict: {self.verdict}" + ("; degenerate: one coordinate carries most of a P-norm" if self.degenerate else ""))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    __repr__ = __str__

    def to_dict(self) -> dict:
        d = asdict(self)
        d["verdict"] = self.verdict
        d["degenerate"] = self.degenerate
        return d

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def _dominated(share: float, resolved: bool, threshold: float) -> bool:
    return resolved and share > threshold + SHARE_TOLERANCE


def _resolved(g: GradientEstimate, P: Preconditioner, norm: float, zero_tol: float) -> bool:
    """Nonzero, and (when estimated) with a P-norm at least RESOLVED_NOISE_RATIO × its noise's."""
    if norm <= zero_tol:
        return False
    if g.exact or g.n_batches < 2:
        return True
    nb, w = g.n_batches, g.batch_weights
    dev = g.batch_means - g.mean
    noise2 = float((w**2 * (dev * P.apply(dev)).sum(-1)).sum()) * nb / (nb - 1)
    return norm > RESOLVED_NOISE_RATIO * math.sqrt(max(noise2, 0.0))


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
    loo = to_accumulator(loo)
    finite = torch.isfinite(loo)
    if not bool(finite.all()):
        return full, math.nan, (math.nan, math.nan)
    mean_loo = float(loo.mean())
    est = nb * full - (nb - 1) * mean_loo
    se = math.sqrt((nb - 1) / nb * float(((loo - mean_loo) ** 2).sum()))
    return est, se, (est - q * se, est + q * se)


def _blocks_match(P: BlockDiagonal, gd: GradientEstimate, gs: GradientEstimate, nb: int) -> bool:
    """P's blocks and the gradient batches cover the same shares of rows (a necessary check that
    the gradients were estimated with ``batch_edges`` proportional to ``P.row_edges``)."""
    if P.n_blocks != nb:
        return False
    edges = torch.tensor(P.row_edges, dtype=gd.batch_weights.dtype, device=gd.batch_weights.device)
    shares = (edges[1:] - edges[:-1]) / edges[-1]
    return all(g.exact or torch.allclose(g.batch_weights, shares, rtol=0, atol=1e-9) for g in (gd, gs))


def alignment(
    r_d,
    r_s,
    P: Preconditioner,
    *,
    alpha: float | None = None,
    hessian: Tensor | Callable[[Tensor], Tensor] | None = None,
    theory: TheoryQuantities | None = None,
    level: float = 0.95,
    dominant_share: float = DOMINANT_SHARE,
) -> AlignmentReport:
    """Alignment report for r_d, r_s under preconditioner P.

    Args:
        r_d, r_s: :class:`GradientEstimate` or exact vectors of shape (p,).  Two estimates
            must have the same number of batches (use ``paired_population_gradients``).
        P: a :class:`Preconditioner`.
        alpha (float): effective step α in (0, inf) (≈ lr × steps) for w* = −s/(αz).
        hessian: Ĥ = ∇²R_data(θ_r) as a (p, p) tensor or a function v ↦ Ĥ v; for a network too
            large for the matrix, :func:`~neon_theory.gradients.hessian_operator` builds the
            function from Hessian-vector products (z needs one product, never the matrix).
        theory: optional :class:`TheoryQuantities` to attach.
        level (float): interval coverage in (0, 1).
        dominant_share (float): in (0, 1]; the report is ``degenerate`` when one coordinate
            carries more than this share of ‖r̂_d‖²_P or ‖r̂_s‖²_P.  An *estimated* degenerate
            report also emits one :class:`DegenerateCosineWarning` (an exact one does not:
            there the share is a property of the model, not an artefact of the estimate).
    """
    gd, gs, nb, level, alpha, dominant_share = _checked(r_d, r_s, P, alpha, level, dominant_share)
    q = float(stats.t.ppf(0.5 + level / 2, nb - 1)) if nb > 1 else 0.0
    exact = gd.exact and gs.exact
    notes: list[str] = []
    rows = _jackknife_rows(gd, gs, P, nb, notes)
    pair = _s_and_cosine(rows, nb, q, exact, notes)
    curve = _curvature(rows, pair, hessian, alpha, nb, q, notes)
    shares_d, shares_s = coordinate_shares(gd.mean, P), coordinate_shares(gs.mean, P)
    share_d, share_s = float(shares_d.max()), float(shares_s.max())
    resolved_d, resolved_s = _resolved(gd, P, pair.norm_d, pair.tol), _resolved(gs, P, pair.norm_s, pair.tol)
    flagged = [(share, which, shares) for share, which, shares, ok in
               ((share_d, "d", shares_d, resolved_d), (share_s, "s", shares_s, resolved_s)) if _dominated(share, ok, dominant_share)]
    if flagged:
        share, which, shares = max(flagged, key=lambda f: f[0])
        notes.append(
            f"degenerate P-cosine: parameter coordinate {int(shares.argmax())} carries {share:.1%} of "
            f"‖r_{which}‖²_P (threshold {dominant_share:.0%}), so s and the cosine measure that one coordinate "
            "(usually a preconditioner entry near 1/eps, from a unit the P estimate barely saw)"
        )
        if not exact:
            warnings.warn(
                "degenerate P-cosine: one parameter coordinate carries most of ‖r_d‖²_P or ‖r_s‖²_P "
                "(see AlignmentReport.notes and max_share_d / max_share_s)",
                DegenerateCosineWarning,
                stacklevel=2,
            )
    z, z_se, w_star, w_se, w_ci, reason = curve
    return AlignmentReport(
        s=pair.s,
        s_plugin=pair.s_plugin,
        s_se=pair.s_se,
        s_ci=pair.s_ci,
        cosine=pair.cosine,
        cosine_se=pair.cosine_se,
        cosine_ci=pair.cosine_ci,
        norm_d=pair.norm_d,
        norm_s=pair.norm_s,
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
        w_star_reason=reason,
        theory=theory,
        notes=tuple(notes),
        max_share_d=share_d,
        max_share_s=share_s,
        dominant_share=dominant_share,
        resolved_d=resolved_d,
        resolved_s=resolved_s,
    )


def _checked(r_d, r_s, P, alpha, level, dominant_share) -> tuple:
    """The inputs of :func:`alignment`, validated: (r_d, r_s as estimates, batches, level, alpha, dominant share)."""
    if not isinstance(P, Preconditioner):
        raise ValueError(f"P must be a Preconditioner; got {type(P).__name__}")
    level = check_real("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    dominant_share = check_real("dominant_share", dominant_share, 0.0, 1.0, lo_open=True)
    gd, gs = as_estimate(r_d), as_estimate(r_s)
    if gd.mean.shape != gs.mean.shape:
        raise ValueError(f"r_d and r_s must have the same shape; got {tuple(gd.mean.shape)} and {tuple(gs.mean.shape)}")
    if alpha is not None:
        alpha = check_real("alpha", alpha, 0.0, math.inf, lo_open=True)
    nb_d = 1 if gd.exact else gd.n_batches
    nb_s = 1 if gs.exact else gs.n_batches
    if nb_d > 1 and nb_s > 1 and nb_d != nb_s:
        raise ValueError(
            f"r_d and r_s must have the same n_batches for a paired jackknife; got {nb_d} and {nb_s}"
        )
    return gd, gs, max(nb_d, nb_s), level, alpha, dominant_share


@dataclass(frozen=True)
class _Rows:
    """r_d and r_s and their P-images, full (row 0) and delete-one-batch (rows 1..)."""

    D: Tensor
    S: Tensor
    PD: Tensor
    PS: Tensor


def _jackknife_rows(gd: GradientEstimate, gs: GradientEstimate, P: Preconditioner, nb: int, notes: list) -> _Rows:
    """Full values and delete-one values in one pass; a blocked P estimated on the gradients' batches is resampled with them."""
    D = torch.cat([gd.mean[None], _loo(gd, nb) if nb > 1 else gd.mean[None][:0]])
    S = torch.cat([gs.mean[None], _loo(gs, nb) if nb > 1 else gs.mean[None][:0]])
    PD, PS = P.apply(D), P.apply(S)
    if isinstance(P, BlockDiagonal) and nb > 1:
        if _blocks_match(P, gd, gs, nb):  # resample P with the gradient batches: its noise enters the SEs
            P_loo = P.delete_one().to(D.device)
            PD, PS = torch.cat([PD[:1], to_accumulator(D[1:]) * P_loo]), torch.cat([PS[:1], to_accumulator(S[1:]) * P_loo])
        else:
            notes.append(
                f"P's {P.n_blocks} blocks do not match the gradients' {nb} batches (estimate them with "
                "batch_edges=P.row_edges): P is treated as fixed in the jackknife"
            )
    return _Rows(D, S, PD, PS)


@dataclass(frozen=True)
class _Pair:
    """s and the P-cosine with their jackknife SEs and intervals, the norms, and what a zero gradient means."""

    s_rows: Tensor
    s_plugin: float
    s: float
    s_se: float | None
    s_ci: tuple | None
    cosine: float
    cosine_se: float | None
    cosine_ci: tuple
    norm_d: float
    norm_s: float
    tol: float
    degenerate: bool


def _s_and_cosine(rows: _Rows, nb: int, q: float, exact: bool, notes: list) -> _Pair:
    s_all = (rows.D * rows.PS).sum(-1)
    nd, ns = (rows.D * rows.PD).sum(-1).clamp_min(0).sqrt(), (rows.S * rows.PS).sum(-1).clamp_min(0).sqrt()
    # A gradient below round-off (e.g. r_s of a neutral sampler, exactly 0 in theory) is zero.
    # Its round-off scales with the model's own terms, not with the other gradient, so a huge
    # r_s (an extreme temperature) must not make a finite r_d count as zero: the floor grows
    # only when both norms are large.
    tol = _ZERO_TOL * max(1.0, min(float(nd[0]), float(ns[0])))
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
    return _Pair(s_all, float(s_all[0]), s, s_se, s_ci, cosine, cos_se, cos_ci, float(nd[0]), float(ns[0]), tol, degenerate)


def _curvature(rows: _Rows, pair: _Pair, hessian, alpha: float | None, nb: int, q: float, notes: list) -> tuple:
    """(z, z_se, w*, w*_se, w*_ci, why w* is missing) from Ĥ and α; a Hessian given as a function makes z exact in the jackknife."""
    z = z_se = w_star = w_se = w_ci = None
    reason = None
    if hessian is None:
        reason = (
            "no Hessian given: pass hessian= as a (p, p) matrix or as v -> H v, e.g. "
            "neon_theory.gradients.hessian_operator(model, real_data, n) (Hessian-vector products, no matrix)"
        )
    elif alpha is None:
        reason = "no alpha given: pass alpha = lr x steps of the fine-tuning"
    if hessian is None:
        return z, z_se, w_star, w_se, w_ci, reason
    PS = rows.PS
    if isinstance(hessian, Tensor):
        check_tensor("hessian", hessian, shape=(rows.D.shape[1], rows.D.shape[1]))
        HPS = PS @ hessian.to(PS)
    elif callable(hessian):
        HPS = torch.stack([hessian(PS[0]).to(PS)])
        notes.append("hessian given as a function: z is treated as exact in the jackknife")
    else:
        raise ValueError("hessian must be a (p, p) Tensor or a callable v -> H v")
    z_all = (HPS * (PS if HPS.shape[0] == PS.shape[0] else PS[:1])).sum(-1)
    z_full = float(z_all[0])
    if z_all.shape[0] > 1:
        z, z_se, _ = _jackknife(z_full, z_all[1:], nb, q)
    else:
        z, z_se = z_full, 0.0
        z_all = z_all.expand(pair.s_rows.shape[0])
    if alpha is not None:
        if pair.degenerate:
            reason = "r_s or r_d is zero: w* undefined"
            notes.append(reason)
        elif z_full <= 0:
            reason = f"z = {z_full:g} <= 0: the quadratic proxy has no minimum, w* undefined"
            notes.append(reason)
        else:
            w_all = -pair.s_rows / (alpha * z_all)
            w_star, w_se, w_ci = _jackknife(float(w_all[0]), w_all[1:], nb, q)
    return z, z_se, w_star, w_se, w_ci, reason
