"""Choosing w without a metric search: the real risk along the fine-tuning step.

Neon merges θ_Neon(w) = θ_r − wΔ with Δ = θ_s − θ_r.  Along that line the real risk is the
1-D function f(w) = R_data(θ_r − wΔ), and

    f(w) = f(0) + f₁ w + ½ f₂ w² + ⅙ f₃ w³ + O(w⁴),
    f₁ = −⟨r_d, Δ⟩,   f₂ = ⟨Δ, H_d Δ⟩,   f₃ = −∇³R_data[Δ, Δ, Δ].

Two ways to pick w from this, neither of which evaluates a sample metric (FID):

- :func:`auto_w` (``method="displacement"``, the default): the vertex of the quadratic, −f₁/f₂ =
  ⟨r_d, Δ⟩/⟨Δ, HΔ⟩ (App. B.10's plug-in; :func:`~neon_theory.neon.displacement_w_star`), with
  f₁, f₂, f₃ estimated by nested automatic differentiation in the scalar w (one forward and three
  backward passes a chunk, the cost of about two Hessian-vector products).  Its interval spans
  the quadratic's vertex and two probes of its model error: the cubic's stationary point (the
  third-order term) and the three-point vertex below (every order, from the loss at h and 2h:
  three forward passes more), each widened by its Monte Carlo error (a jackknife over row
  batches, with a t quantile).  A heuristic, not a guarantee: how often it covers the best w is
  measured over seeds by the auto-w study (``studies/autow``).
- ``method="three-point"``: the vertex of the parabola through the real loss at w = 0, h and 2h
  (h = the displacement w*, or a given ``h``), forward passes only, on common rows and noise.
  Its interval is the jackknife's only: a parabola through three points carries no estimate of
  its own model error.

Every row batch sees the same loss noise at every w (common random numbers), so the differences
along w are free of the noise that the levels carry.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

from .checks import check_choice, check_generator, check_int, check_real, check_tensor
from .contracts import GenerativeModel, check_model
from .device import module_device, to_accumulator
from .params import num_parameters, trainable_named_parameters

AUTO_METHODS = ("displacement", "three-point")

#: the intervals' level: a t quantile on (batches − 1) degrees of freedom, for the jackknife over few batches
LEVEL = 0.95


def _quantile(n_batches: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + LEVEL / 2, n_batches - 1))


@dataclass(frozen=True)
class LineTaylor:
    """Derivatives of the real risk along θ_r − wΔ at w = 0, per row batch.

    Attributes:
        batch_derivatives (Tensor): shape (n_batches, 3), float64: the batch means of
            d^k/dw^k ℓ(θ_r − wΔ) at w = 0 for k = 1, 2, 3.
        batch_weights (Tensor): shape (n_batches,), summing to 1.
        n (int): rows used.
    """

    batch_derivatives: Tensor
    batch_weights: Tensor
    n: int

    @property
    def derivatives(self) -> Tensor:
        """(f₁, f₂, f₃), the weighted mean over batches, shape (3,)."""
        return (self.batch_weights[:, None] * self.batch_derivatives).sum(0)


@dataclass(frozen=True)
class AutoW:
    """A merge weight chosen without a metric search (see the module docstring).

    Attributes:
        w (float): the chosen w; ``nan`` when the loss is not convex along Δ (f₂ ≤ 0).
        se (float): its jackknife SE over row batches (Monte Carlo only).
        interval (tuple): (lo, hi); for ``"displacement"`` it spans the quadratic's vertex and
            the model-error probes that exist, the cubic's stationary point and the three-point
            vertex, ± t·SE of each (t: the 97.5% quantile on batches − 1 degrees of freedom); for
            ``"three-point"`` w ± t·SE, with h held fixed (the variability of an estimated h is
            not in it).  (−inf, inf) when no probe exists (no cubic stationary point near w = 0,
            no three-point vertex, or their leave-one-out values not finite): then :meth:`covers` is false.
        method (str): ``"displacement"`` or ``"three-point"``.
        w_cubic (float): the stationary point of the cubic model continuous with the quadratic's
            vertex (``"displacement"`` only; ``nan`` when it does not exist).
        derivatives (tuple): (f₁, f₂, f₃) for ``"displacement"``; for ``"three-point"`` the
            finite-difference (f₁, f₂) at w = 0 and the step h.
        n (int): rows used; n_batches (int): batches of the jackknife.
        three_point (AutoW | None): for ``"displacement"`` from :func:`auto_w`, the three-point fit
            (h = its w) whose vertex the interval spans; ``None`` when not computed.
    """

    w: float
    se: float
    interval: tuple[float, float]
    method: str
    w_cubic: float = math.nan
    derivatives: tuple = ()
    n: int = 0
    n_batches: int = 0
    three_point: "AutoW | None" = None

    @property
    def w_three_point(self) -> float:
        """The three-point vertex the displacement interval spans (``nan`` when not computed)."""
        return self.three_point.w if self.three_point is not None else math.nan

    @property
    def bounded(self) -> bool:
        """Whether :attr:`interval` is finite (unbounded: the model error is unknown, so it covers nothing)."""
        return all(math.isfinite(v) for v in self.interval)

    def covers(self, w: float) -> bool:
        """Whether ``w`` lies in a bounded :attr:`interval`."""
        return self.bounded and self.interval[0] <= w <= self.interval[1]

    def __str__(self) -> str:
        lo, hi = self.interval
        return f"auto w = {self.w:+.5g} ± {self.se:.2g} ({self.method}; interval [{lo:+.4g}, {hi:+.4g}], {self.n} rows)"


def _line_rows(model: GenerativeModel, source, n: int | None, generator, noise_generator, n_batches: int):
    """(x, noise) over ``n`` rows cut into ``n_batches`` consecutive batches, x on θ's device."""
    from .gradients import WeightedSupport, _batch_bounds, _draw_noise, _source_size, _take

    if isinstance(source, WeightedSupport):  # an exact weighted sum has no Monte Carlo error for a jackknife to measure
        raise ValueError("real must be a Tensor of rows or a sampling law (a Target), not a WeightedSupport")
    size = _source_size(source, n)
    check_int("n_batches", n_batches, lo=2, hi=size)
    device = module_device(model.module)
    for a, z in _batch_bounds(size, n_batches):
        x, _ = _take(source, a, z, generator)  # uniform rows: a WeightedSupport was refused above
        yield x.to(device), _draw_noise(model, z - a, noise_generator)


def _checked_losses(loss: Tensor, x: Tensor) -> Tensor:
    if loss.ndim != 1 or loss.shape[0] != x.shape[0]:
        raise ValueError(f"per_example_loss must return shape ({x.shape[0]},); got {tuple(loss.shape)}")
    return loss


def _on_line(model: GenerativeModel, direction: Tensor):
    """A function (w, x, noise) ↦ per-example losses at θ_r − w·direction, differentiable in w."""
    from .gradients import _LossModule, _split

    named = trainable_named_parameters(model.module)
    wrapper = _LossModule(model)
    frozen = {"m." + k: v for k, v in model.module.named_buffers()}
    frozen.update({"m." + k: p.detach() for k, p in model.module.named_parameters() if not p.requires_grad})
    pieces = _split(direction, [p for _, p in named])

    def losses(w: Tensor, x: Tensor, noise) -> Tensor:
        theta = {"m." + k: p.detach() - w.to(p.dtype) * d.to(p) for (k, p), d in zip(named, pieces)}
        return functional_call(wrapper, {**frozen, **theta}, (x, noise))

    return losses


def line_taylor(
    model: GenerativeModel,
    source,
    direction: Tensor,
    n: int | None = None,
    *,
    n_batches: int = 20,
    generator: torch.Generator | None = None,
    noise_generator: torch.Generator | None = None,
) -> LineTaylor:
    """f₁, f₂, f₃ of f(w) = E_source ℓ(θ_r − w·direction) at w = 0, per row batch.

    Args:
        model: θ_r.
        source: the real data: a Tensor (rows taken in order: permute file-ordered data first)
            or a Target (a sampling law).
        direction (Tensor): Δ, shape (p,) over the trainable parameters.
        n (int | None): rows; required for a sampling law.
        n_batches (int): in [2, n], the jackknife's batches.
        generator, noise_generator: the rows (for a law) and the loss noise.
    """
    check_model(model)
    check_tensor("direction", direction, shape=(num_parameters(model.module),))
    if generator is not None:
        check_generator("generator", generator)
    losses = _on_line(model, to_accumulator(direction.detach()))
    sums, weights = [], []
    for x, noise in _line_rows(model, source, n, generator, noise_generator, n_batches):
        t = torch.zeros((), dtype=torch.float64, requires_grad=True)
        # fused attention kernels and compiled graphs have no higher-order backward
        with torch.enable_grad(), sdpa_kernel(SDPBackend.MATH), torch.compiler.set_stance("force_eager"):
            total = _checked_losses(losses(t, x, noise), x).sum()
            if not total.requires_grad:
                raise ValueError("the loss does not depend on the parameters along the direction (is per_example_loss detached?)")
            d1 = torch.autograd.grad(total, t, create_graph=True)[0]
            if not d1.requires_grad:  # a backward with no backward of its own (a custom Function, a fused kernel): f2 would read 0
                raise ValueError("the loss has no second derivative along the direction: auto_w needs a loss that autograd can "
                                 "differentiate twice (a custom autograd.Function or a fused kernel without double backward?)")
            d2 = torch.autograd.grad(d1, t, create_graph=True)[0]
            d3 = torch.autograd.grad(d2, t)[0] if d2.requires_grad else torch.zeros_like(d2)  # f2 constant in w: f3 = 0
        sums.append(torch.stack([d1.detach(), d2.detach(), d3.detach()]).to(torch.float64))
        weights.append(float(x.shape[0]))
    s, wt = torch.stack(sums), torch.tensor(weights, dtype=torch.float64)
    return LineTaylor(s / wt[:, None], wt / wt.sum(), int(wt.sum()))


def quadratic_vertex(f1: float, f2: float) -> float:
    """−f₁/f₂, the minimiser of f₁w + ½f₂w²; ``nan`` unless f₂ > 0."""
    return -f1 / f2 if f2 > 0 else math.nan


def cubic_stationary(f1: float, f2: float, f3: float) -> float:
    """The zero of f₁ + f₂w + ½f₃w² continuous (as f₃ → 0) with the quadratic's vertex −f₁/f₂:
    −2f₁ / (f₂ + √(f₂² − 2f₁f₃)), a local minimum of the cubic; ``nan`` when f₂ ≤ 0 or the
    discriminant is negative (the cubic has no stationary point near w = 0)."""
    disc = f2 * f2 - 2.0 * f1 * f3
    if f2 <= 0 or disc < 0:
        return math.nan
    return -2.0 * f1 / (f2 + math.sqrt(disc))


def _jackknife(values: Tensor, weights: Tensor, stat) -> tuple[float, float]:
    """stat(weighted mean of rows) and its leave-one-batch-out jackknife SE; nan SE when a
    leave-one-out value is not finite."""
    k = values.shape[0]
    full = stat((weights[:, None] * values).sum(0))
    loo = []
    for i in range(k):
        keep = torch.arange(k) != i
        w = weights[keep] / weights[keep].sum()
        loo.append(stat((w[:, None] * values[keep]).sum(0)))
    loo = torch.tensor(loo, dtype=torch.float64)
    if not bool(torch.isfinite(loo).all()):
        return full, math.nan
    return full, float(math.sqrt((k - 1) / k * float(((loo - loo.mean()) ** 2).sum())))


def _span(points: list[tuple[float, float]], z: float) -> tuple[float, float]:
    """The smallest interval holding each point ± z·SE; (−inf, inf) if any is not finite."""
    if not all(math.isfinite(v) and math.isfinite(se) for v, se in points):
        return (-math.inf, math.inf)
    return (min(v - z * se for v, se in points), max(v + z * se for v, se in points))


def displacement_auto_w(taylor: LineTaylor, three_point: "AutoW | None" = None) -> AutoW:
    """:class:`AutoW` from the line's Taylor coefficients (``method="displacement"``).

    The interval spans the quadratic's vertex and each model-error probe that exists, each ± t·SE:
    the cubic's stationary point and, when given, the three-point vertex (the real loss at h and 2h,
    so every order of the line, not only the third).  Without a probe that exists (no cubic
    stationary point and no three-point vertex), the model error is unknown: the interval is unbounded.
    """
    vals, wts = taylor.batch_derivatives, taylor.batch_weights
    z = _quantile(vals.shape[0])
    w_q, se_q = _jackknife(vals, wts, lambda f: quadratic_vertex(float(f[0]), float(f[1])))
    w_c, se_c = _jackknife(vals, wts, lambda f: cubic_stationary(float(f[0]), float(f[1]), float(f[2])))
    probes = [(w_c, se_c)] + ([(three_point.w, three_point.se)] if three_point is not None else [])
    probes = [(w, se) for w, se in probes if math.isfinite(w) and math.isfinite(se)]
    if not math.isfinite(w_q):
        interval = (math.nan, math.nan)
    else:
        interval = _span([(w_q, se_q), *probes], z) if probes else (-math.inf, math.inf)
    f = taylor.derivatives
    return AutoW(w_q, se_q, interval, "displacement", w_c, tuple(float(v) for v in f), taylor.n, vals.shape[0], three_point)


def line_losses(
    model: GenerativeModel,
    source,
    direction: Tensor,
    ws,
    n: int | None = None,
    *,
    n_batches: int = 20,
    generator: torch.Generator | None = None,
    noise_generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Batch means of ℓ(θ_r − w·direction) at each w in ``ws``, on common rows and noise.

    Returns:
        (Tensor, Tensor): shape (n_batches, len(ws)) float64, and the batch weights (summing to 1).
    """
    check_model(model)
    check_tensor("direction", direction, shape=(num_parameters(model.module),))
    ws = [check_real("w", w) for w in ws]
    losses = _on_line(model, to_accumulator(direction.detach()))
    rows, weights = [], []
    with torch.no_grad():
        for x, noise in _line_rows(model, source, n, generator, noise_generator, n_batches):
            sums = [float(_checked_losses(losses(torch.tensor(float(w), dtype=torch.float64), x, noise), x).double().sum()) for w in ws]
            rows.append(torch.tensor(sums, dtype=torch.float64))
            weights.append(float(x.shape[0]))
    wt = torch.tensor(weights, dtype=torch.float64)
    return torch.stack(rows) / wt[:, None], wt / wt.sum()


def three_point_auto_w(batch_losses: Tensor, weights: Tensor, h: float) -> AutoW:
    """:class:`AutoW` from the losses at w = 0, h, 2h (``method="three-point"``): the parabola's
    vertex h(3y₀ − 4y₁ + y₂) / (2(y₀ − 2y₁ + y₂)), ``nan`` when it opens downwards."""
    h = _check_h(h)
    z = _quantile(batch_losses.shape[0])

    def vertex(y: Tensor) -> float:
        f1, f2 = (-3 * y[0] + 4 * y[1] - y[2]) / (2 * h), (y[0] - 2 * y[1] + y[2]) / h**2
        return quadratic_vertex(float(f1), float(f2))

    w, se = _jackknife(batch_losses, weights, vertex)
    y = (weights[:, None] * batch_losses).sum(0)
    f1, f2 = float((-3 * y[0] + 4 * y[1] - y[2]) / (2 * h)), float((y[0] - 2 * y[1] + y[2]) / h**2)
    interval = (math.nan, math.nan) if not math.isfinite(w) else _span([(w, se)], z)
    return AutoW(w, se, interval, "three-point", math.nan, (f1, f2, h), 0, batch_losses.shape[0])


def _check_h(h) -> float:
    h = check_real("h", h)
    if h == 0:
        raise ValueError("h must be non-zero: the three points are w = 0, h and 2h")
    return h


def auto_w(
    model: GenerativeModel,
    real,
    direction: Tensor,
    n: int | None = None,
    *,
    method: str = "displacement",
    h: float | None = None,
    n_batches: int = 20,
    seed: int = 0,
) -> AutoW:
    """A merge weight for θ_r − wΔ from the real loss along Δ, without a metric search.

    Args:
        model: θ_r.
        real: the real data (a Tensor of held-out rows, permuted if stored in file order, or a Target).
        direction (Tensor): Δ = θ_s − θ_r, shape (p,) (:func:`~neon_theory.neon.step_displacement`).
        n (int | None): rows (default: all of a tensor; required for a Target).
        method (str): ``"displacement"`` or ``"three-point"`` (see the module docstring).
        h (float | None): the three-point step; ``None`` = the displacement w* (one extra pass).
        n_batches (int): the jackknife's batches, in [2, n].
        seed (int): named streams "auto-rows" and "auto-noise".
    """
    from .rng import generator

    check_model(model)
    check_choice("method", method, AUTO_METHODS)
    seed = check_int("seed", seed, lo=0)
    if h is not None:
        if method == "displacement":
            raise ValueError("h is the three-point step: give it with method='three-point' only")
        h = _check_h(h)

    def streams() -> dict:  # fresh generators on the same seed: both passes see the same rows and noise
        return {"n_batches": n_batches, "generator": generator(seed, "auto-rows"), "noise_generator": generator(seed, "auto-noise")}

    def three_point(h: float) -> AutoW:
        batch, weights = line_losses(model, real, direction, (0.0, h, 2 * h), n, **streams())
        rows = real.shape[0] if n is None else n  # real is rows or a law (_line_rows refused anything else)
        return dataclasses.replace(three_point_auto_w(batch, weights, h), n=int(rows))

    if method == "three-point" and h is not None:
        return three_point(h)
    taylor = line_taylor(model, real, direction, n, **streams())
    first = displacement_auto_w(taylor)
    if not math.isfinite(first.w) or first.w == 0:  # no vertex: no step for the three points either
        return first if method == "displacement" else AutoW(math.nan, math.nan, (math.nan, math.nan), "three-point", n=first.n, n_batches=first.n_batches)
    third = three_point(first.w)
    return displacement_auto_w(taylor, third) if method == "displacement" else third


__all__ = ["AUTO_METHODS", "AutoW", "LineTaylor", "auto_w", "cubic_stationary", "displacement_auto_w", "line_losses", "line_taylor",
           "quadratic_vertex", "three_point_auto_w"]
