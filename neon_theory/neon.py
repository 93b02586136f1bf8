"""Self-training, the Neon merge, w-sweeps and Brent search for the best w.

The first-order theory (R_data moves by wα·s, w* = −s/(αz)) is in ``docs/theory.md`` (§2).

θ_Neon = (1+w)θ_r − wθ_s is computed as θ_r − w(θ_s − θ_r), which does not overflow in
low precision.  w = 0 is the base model, w = −1 the self-trained one.

Merged tensors live on θ_r's device; self-training runs on the model's device.  Evaluation
generators stay on the CPU, so the evaluation noise is the same stream on every device.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping

import numpy as np
import torch
from scipy import optimize
from torch import Tensor, nn

from .checks import check_choice, check_generator, check_int, check_real, check_tensor
from .contracts import GenerativeModel, check_model
from .device import accumulator_dtype, compile_module, module_device, to_accumulator
from .params import parameter_vector, trainable_named_parameters
from .probe import ProbeSizes
from .progress import tqdm
from .rng import draw

NONFINITE_POLICIES = ("raise", "mask", "skip", "propagate")
BUFFER_POLICIES = ("copy_base", "merge", "raise")


@dataclass(frozen=True)
class MergePolicy:
    """How :func:`merge` treats what is not a plain finite learned float parameter.

    Attributes:
        buffers: entries not in ``parameter_names`` (buffers) or not floating point —
            ``"copy_base"`` (default, as the official code), ``"merge"`` (merge float
            buffers too; non-float entries are still copied) or ``"raise"``.
        nonfinite: a merged tensor with NaN/inf in base or other —
            ``"raise"`` (default), ``"mask"`` (merge where both are finite, base elsewhere),
            ``"skip"`` (copy the whole tensor from base) or ``"propagate"`` (plain merge).
    """

    buffers: str = "copy_base"
    nonfinite: str = "raise"

    def __post_init__(self):
        check_choice("buffers", self.buffers, BUFFER_POLICIES)
        check_choice("nonfinite", self.nonfinite, NONFINITE_POLICIES)


def merge(
    base: Mapping[str, Tensor],
    other: Mapping[str, Tensor],
    w: float,
    *,
    policy: MergePolicy = MergePolicy(),
    parameter_names=None,
) -> dict[str, Tensor]:
    """θ_r − w(θ_s − θ_r) on state dicts.

    Args:
        base (Mapping): θ_r's state dict.
        other (Mapping): θ_s's state dict, same keys and shapes.
        w (float): finite merge weight.
        policy (MergePolicy): treatment of buffers and non-finite entries.
        parameter_names: keys that are learned parameters; ``None`` = every floating-point
            entry (use :func:`merge_modules` to take them from a module).

    Returns:
        dict: a new state dict on base's devices; inputs are not modified.
    """
    w = check_real("w", w)
    if not isinstance(policy, MergePolicy):
        raise ValueError("policy must be a MergePolicy")
    for name, sd in (("base", base), ("other", other)):
        if not isinstance(sd, Mapping) or not all(isinstance(k, str) for k in sd):
            raise ValueError(f"{name} must be a state dict (a mapping of names to tensors); got {type(sd).__name__}")
    if set(base) != set(other):
        diff = sorted(set(base) ^ set(other))
        raise ValueError(f"base and other must have the same keys; differing: {diff[:5]}")
    names = None if parameter_names is None else set(parameter_names)
    out = {}
    for k, a in base.items():
        b = other[k]
        if not isinstance(a, Tensor) or not isinstance(b, Tensor):
            raise ValueError(f"state dict entry {k!r} must be a tensor in both base and other")
        if a.shape != b.shape:
            raise ValueError(f"state dict entry {k!r} has shape {tuple(a.shape)} in base but {tuple(b.shape)} in other")
        is_param = a.is_floating_point() and (names is None or k in names)
        if not is_param:
            if policy.buffers == "raise" and not torch.equal(a, b.to(a.device)):
                raise ValueError(f"buffer {k!r} differs between base and other (policy buffers='raise')")
            if not (policy.buffers == "merge" and a.is_floating_point()):
                out[k] = a.clone()
                continue
        out[k] = _merge_tensor(k, a, b, w, policy.nonfinite)
    return out


def _merge_tensor(key: str, a: Tensor, b: Tensor, w: float, nonfinite: str) -> Tensor:
    # half precision: compute in float32, cast back
    work = torch.float32 if a.dtype in (torch.float16, torch.bfloat16) else a.dtype
    af, bf = a.to(work), b.to(device=a.device, dtype=work)
    merged = af - w * (bf - af)
    finite = torch.isfinite(af) & torch.isfinite(bf)
    if not bool(finite.all()):
        if nonfinite == "raise":
            raise ValueError(
                f"parameter {key!r} has non-finite entries; choose MergePolicy(nonfinite=...) "
                f"from {NONFINITE_POLICIES}"
            )
        if nonfinite == "skip":
            return a.clone()
        if nonfinite == "mask":
            merged = torch.where(finite, merged, af)
    return merged.to(a.dtype)


def working_copy(model: GenerativeModel) -> GenerativeModel:
    """A deep copy of ``model`` to train or reload; a network compiled with
    :func:`~neon_theory.device.compile_module` is compiled again (deepcopy drops the compiled call)."""
    work = copy.deepcopy(model)
    options = getattr(model.module, "_neon_compile_options", None)
    if options is not None:
        compile_module(work.module, **options)
    return work


def merge_modules(base: nn.Module, other: nn.Module, w: float, *, policy: MergePolicy = MergePolicy()) -> dict:
    """:func:`merge` with the learned parameters taken from ``base.named_parameters()``."""
    names = [k for k, _ in base.named_parameters()]
    return merge(base.state_dict(), other.state_dict(), w, policy=policy, parameter_names=names)


@dataclass(frozen=True)
class SelfTrainResult:
    """Output of :func:`self_train`.

    Attributes:
        state_dict: θ_s after ``steps`` optimiser steps.
        losses (Tensor): shape (steps,), the minibatch loss before each step, on the model's device.
        snapshots (dict): step → state dict for each requested snapshot step.
        lr, steps, batch_size, optimizer, schedule: the recipe (``lr`` × :func:`lr_factors` of ``schedule`` at each step).
        trajectory (Tensor | None): shape (steps + 1, p), float64, θ after each step
            (row 0 = θ_r), when requested with ``record_trajectory=True``.
    """

    state_dict: dict
    losses: Tensor
    snapshots: dict
    lr: float
    steps: int
    batch_size: int
    optimizer: str
    trajectory: Tensor | None = None
    schedule: str = "constant"

    @property
    def alpha(self) -> float:
        """The effective step α of Thm B.1 (θ_s ≈ θ_r − α P r_s): the summed learning rate, lr × steps for a constant rate."""
        return summed_lr(self.lr, self.steps, self.schedule)


#: learning-rate schedules of :func:`self_train`: the rate at step t = 1..steps is lr × factor(t)
LR_SCHEDULES = {
    "constant": "lr at every step",
    "ramp": "a triangle: linear warm-up from near 0 to lr at mid-budget, then linear decay to near 0 (the official scripts ramp)",
}


def lr_factors(steps: int, schedule: str = "constant") -> np.ndarray:
    """The factors f_1..f_steps of the learning rate, shape (steps,): lr_t = lr × f_t.

    ``ramp`` is f_t = 1 − |2t − (steps + 1)| / (steps + 1): symmetric and positive, 1 at the middle step
    for an odd number of steps (1 − 1/(steps + 1) at the two middle steps for an even number), summing to
    (steps + 1)/2 (odd) or steps(steps + 2)/(2(steps + 1)) (even), about steps / 2: a ramp at 2·lr has about
    a constant rate's summed rate."""
    steps = check_int("steps", steps, lo=1)
    check_choice("schedule", schedule, tuple(LR_SCHEDULES))
    if schedule == "constant":
        return np.ones(steps)
    t = np.arange(1, steps + 1)
    return 1.0 - np.abs(2 * t - (steps + 1)) / (steps + 1)


def summed_lr(lr: float, steps: int, schedule: str = "constant") -> float:
    """Σ_t lr_t, the budget as one number: the step length α of Thm B.1, on which ramps and constant rates compare."""
    lr = check_real("lr", lr, 0.0, math.inf, lo_open=True)
    return float(lr * lr_factors(steps, schedule).sum())


def minibatch_rows(n_s: int, batch_size: int, generator: torch.Generator, device) -> Iterator[Tensor | None]:
    """The rows of each self-training step: ``None`` (the whole set) when ``batch_size = n_s``, else
    epochs: consecutive slices of a fresh permutation from ``generator``, drawn when fewer than
    ``batch_size`` rows are left (lazily, so the draws interleave with the loss noise's as they come)."""
    if batch_size == n_s:
        while True:
            yield None
    order, cursor = None, n_s
    while True:
        if cursor + batch_size > n_s:
            order, cursor = draw(torch.randperm, n_s, generator=generator, device=device), 0
        yield order[cursor : cursor + batch_size]
        cursor += batch_size


#: :func:`neon_loop`'s default population-gradient sizes: 10,000 rows in passes of 4096, 20 batches for the SEs
LOOP_SIZES = ProbeSizes(n_pop=10_000, grad_batch=4096, n_batches=20)


@dataclass(frozen=True)
class FineTuning:
    """The self-training budget of Algorithm 1: ``steps`` of ``optimizer`` at learning rate ``lr`` on
    minibatches of ``batch_size`` (``None``: the whole of S).  α = lr × steps is the step length in w*.

    Attributes:
        steps (int): in [1, inf).
        lr (float): in (0, inf).
        optimizer (str): ``"adam"`` or ``"sgd"``.
        batch_size (int | None): in [1, |S|], or ``None``.
        schedule (str): the learning rate's schedule, one of :data:`LR_SCHEDULES` (``lr`` × :func:`lr_factors`).
    """

    steps: int
    lr: float
    optimizer: str = "adam"
    batch_size: int | None = None
    schedule: str = "constant"

    def __post_init__(self):
        check_int("steps", self.steps, lo=1)
        check_real("lr", self.lr, 0.0, math.inf, lo_open=True)
        check_choice("optimizer", self.optimizer, ("adam", "sgd"))
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, lo=1)
        check_choice("schedule", self.schedule, tuple(LR_SCHEDULES))

    @property
    def alpha(self) -> float:
        """The summed learning rate (:func:`summed_lr`)."""
        return summed_lr(self.lr, self.steps, self.schedule)


@torch.enable_grad()  # it trains, whatever the caller's grad mode (e.g. inside a metric, which runs under no_grad)
def self_train(
    model: GenerativeModel,
    data: Tensor,
    *,
    steps: int,
    lr: float,
    batch_size: int | None = None,
    optimizer: str = "adam",
    generator: torch.Generator,
    noise_generator: torch.Generator | None = None,
    snapshot_steps=(),
    adam_betas: tuple[float, float] = (0.9, 0.999),
    record_trajectory: bool = False,
    progress: bool = False,
    schedule: str = "constant",
) -> SelfTrainResult:
    """Fine-tune a copy of ``model`` on the synthetic set S; the model itself is untouched.

    Args:
        model: a :class:`GenerativeModel` at θ_r.
        data (Tensor): S, shape (n_s, ...); moved to the model's device.
        steps (int): optimiser steps in [1, inf).
        lr (float): learning rate in (0, inf).
        batch_size (int | None): minibatch size in [1, n_s]; ``None`` = full batch.  Minibatches
            are consecutive slices of a random permutation (an epoch), reshuffled when fewer
            than batch_size examples remain.
        optimizer (str): ``"adam"`` or ``"sgd"``.
        generator: minibatch indices (and loss noise if ``noise_generator`` is None).
        noise_generator: loss noise for diffusion/flow models.
        snapshot_steps: steps after which θ is also recorded (e.g. (50, 250)).
        record_trajectory (bool): keep the flat θ after every step (small models only).
        schedule (str): the learning rate's schedule (:data:`LR_SCHEDULES`): lr × :func:`lr_factors` at each step.
    """
    check_model(model)
    check_tensor("data", data, finite=False)
    n_s = data.shape[0]
    if n_s < 1:
        raise ValueError("data must hold at least one example")
    steps = check_int("steps", steps, lo=1)
    lr = check_real("lr", lr, 0.0, math.inf, lo_open=True)
    B = n_s if batch_size is None else check_int("batch_size", batch_size, lo=1, hi=n_s)
    check_choice("optimizer", optimizer, ("adam", "sgd"))
    check_generator("generator", generator)
    noise_gen = generator if noise_generator is None else check_generator("noise_generator", noise_generator)
    snaps = sorted({check_int("snapshot step", s, lo=1, hi=steps) for s in snapshot_steps})
    factors = lr_factors(steps, schedule)
    work = working_copy(model)
    device = module_device(work.module)
    data = data.to(device)
    params = [p for _, p in trainable_named_parameters(work.module)]
    opt = _optimizer(optimizer, params, lr, adam_betas)
    losses = []
    snapshots = {}
    trajectory = [parameter_vector(work.module)] if record_trajectory else None
    rows = minibatch_rows(n_s, B, generator, device)
    for t in tqdm(range(1, steps + 1), disable=not progress, desc="self-train"):
        index = next(rows)
        x = data if index is None else data[index]
        loss = work.per_example_loss(x, work.draw_noise(B, noise_gen)).mean()
        value = float(loss.detach())  # the one host sync of the step
        if not math.isfinite(value):
            raise ValueError(f"self-training loss became non-finite at step {t}; lower lr (got {lr:g})")
        opt.zero_grad()
        loss.backward()
        if schedule != "constant":
            for group in opt.param_groups:
                group["lr"] = lr * float(factors[t - 1])
        opt.step()
        losses.append(value)
        if t in snaps:
            snapshots[t] = copy.deepcopy(work.module.state_dict())
        if trajectory is not None:
            trajectory.append(parameter_vector(work.module))
    return SelfTrainResult(
        copy.deepcopy(work.module.state_dict()),
        torch.tensor(losses, dtype=accumulator_dtype(device), device=device),
        snapshots,
        lr,
        steps,
        B,
        optimizer,
        None if trajectory is None else torch.stack(trajectory),
        schedule,
    )


def _optimizer(name: str, params: list, lr: float, adam_betas) -> torch.optim.Optimizer:
    """Adam with torch's fused kernel where the parameters allow it (one kernel for all tensors
    instead of a Python loop over them; ``neon-theory bench`` times it), else the default one; or SGD."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    fusable = params and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params) and len({p.device for p in params}) == 1
    return torch.optim.Adam(params, lr=lr, betas=adam_betas, fused=True if fusable else None)


@dataclass(frozen=True)
class WSweep:
    """Metric values along w, evaluated with common random numbers.

    Attributes:
        ws (ndarray): shape (k,).
        values (ndarray): shape (k,).
        best_w, best_value: the grid minimiser.
    """

    ws: np.ndarray
    values: np.ndarray
    best_w: float
    best_value: float


def _evaluator(model: GenerativeModel, theta_s, metric, eval_seed: int, policy: MergePolicy) -> Callable[[float], float]:
    check_model(model)
    if not callable(metric):
        raise ValueError("metric must be callable as metric(model, generator) -> float")
    check_int("eval_seed", eval_seed, lo=0)
    work = working_copy(model)  # one working copy, reloaded for every w
    base_state = model.module.state_dict()
    names = [k for k, _ in model.module.named_parameters()]

    def f(w: float) -> float:
        work.module.load_state_dict(merge(base_state, theta_s, w, policy=policy, parameter_names=names))
        g = torch.Generator().manual_seed(eval_seed)  # the same evaluation noise for every w and on every device (a CPU stream)
        with torch.no_grad():  # a metric never needs θ's graph; building it costs memory and time at every w
            value = float(metric(work, g))
        if not math.isfinite(value):
            raise ValueError(f"metric returned a non-finite value ({value}) at w={w:g}")
        return value

    return f


def w_sweep(
    model: GenerativeModel,
    theta_s: Mapping[str, Tensor],
    ws,
    metric: Callable,
    *,
    eval_seed: int = 0,
    policy: MergePolicy = MergePolicy(),
    progress: bool = False,
) -> WSweep:
    """Evaluate ``metric(merged_model, generator)`` for each w (lower is better).

    Every w gets a generator seeded with ``eval_seed``, so the evaluation noise is common.
    """
    ws = np.asarray(ws, dtype=float)
    if ws.ndim != 1 or ws.size == 0 or not np.isfinite(ws).all():
        raise ValueError("ws must be a non-empty 1-D sequence of finite numbers")
    f = _evaluator(model, theta_s, metric, eval_seed, policy)
    values = np.array([f(w) for w in tqdm(ws, disable=not progress, desc="w-sweep")])
    i = int(np.argmin(values))
    return WSweep(ws, values, float(ws[i]), float(values[i]))


@dataclass(frozen=True)
class BestW:
    """Result of :func:`brent_best_w`."""

    w: float
    value: float
    base_value: float
    n_evals: int
    bracket: tuple[float, float]
    at_boundary: bool
    history: tuple = field(default_factory=tuple)

    @property
    def gain(self) -> float:
        """metric(base) − metric(best): positive when the best w improves on the base."""
        return self.base_value - self.value

    def __repr__(self) -> str:
        # one line: the dataclass repr would print every evaluation in ``history``
        edge = ", at the bracket's edge" if self.at_boundary else ""
        return (f"BestW(w={self.w:+.6g}, value={self.value:.6g}, base_value={self.base_value:.6g}, gain={self.gain:+.4g}, "
                f"n_evals={self.n_evals}{edge})")


def brent_best_w(
    model: GenerativeModel,
    theta_s: Mapping[str, Tensor],
    metric: Callable,
    *,
    bracket: tuple[float, float] = (-2.0, 2.0),
    xtol: float = 1e-4,
    max_evals: int = 60,
    eval_seed: int = 0,
    policy: MergePolicy = MergePolicy(),
) -> BestW:
    """Bounded Brent search for argmin_w metric (the metric is unimodal in w, as the paper reports for FID).

    Args:
        bracket (tuple): (lo, hi) with lo < hi, finite.
        xtol (float): absolute tolerance on w, in (0, inf).
        max_evals (int): in [3, inf).
    """
    return brent_minimize(_evaluator(model, theta_s, metric, eval_seed, policy), bracket=bracket, xtol=xtol, max_evals=max_evals)


def brent_minimize(f: Callable[[float], float], *, bracket: tuple[float, float] = (-2.0, 2.0), xtol: float = 1e-4, max_evals: int = 60) -> BestW:
    """Bounded Brent search for argmin_x f(x) over one scalar knob (a merge weight, a guidance scale),
    with f(0) as the base value: :func:`brent_best_w` is this on the merge's metric.

    Args:
        f: x ↦ a finite value, lower is better (unimodal on the bracket for the minimum to be global).
        bracket (tuple): (lo, hi) with lo < hi, finite.
        xtol (float): absolute tolerance on x, in (0, inf).
        max_evals (int): in [3, inf).
    """
    lo = check_real("bracket[0]", bracket[0])
    hi = check_real("bracket[1]", bracket[1])
    if not lo < hi:
        raise ValueError(f"bracket must satisfy lo < hi; got ({lo:g}, {hi:g})")
    xtol = check_real("xtol", xtol, 0.0, math.inf, lo_open=True)
    max_evals = check_int("max_evals", max_evals, lo=3)
    history = []

    def checked(x: float) -> float:
        v = float(f(x))
        if not math.isfinite(v):
            raise ValueError(f"the searched function returned a non-finite value ({v}) at {x:g}")
        return v

    def logged(x):
        v = checked(float(x))
        history.append((float(x), v))
        return v

    res = optimize.minimize_scalar(logged, bounds=(lo, hi), method="bounded", options={"xatol": xtol, "maxiter": max_evals})
    base_value = checked(0.0)
    at_boundary = min(res.x - lo, hi - res.x) < 10 * xtol
    return BestW(float(res.x), float(res.fun), base_value, len(history) + 1, (lo, hi), bool(at_boundary), tuple(history))


def predicted_w_star(s: float, z: float, alpha: float) -> float:
    """w* = −s/(α z), the minimiser of the quadratic proxy of Thm B.1 (needs z > 0, α > 0)."""
    s = check_real("s", s)
    z = check_real("z", z, 0.0, math.inf, lo_open=True)
    alpha = check_real("alpha", alpha, 0.0, math.inf, lo_open=True)
    return -s / (alpha * z)


def displacement_w_star(r_d: Tensor, delta: Tensor, hessian_delta: Tensor) -> float:
    """The best w that the fine-tuning step Δ = θ_s − θ_r itself predicts (App. B.10's plug-in).

    Along θ_r − wΔ the quadratic model R(θ_r) − w⟨r_d, Δ⟩ + ½w²⟨Δ, ĤΔ⟩ is minimised at
    ⟨r_d, Δ⟩ / ⟨Δ, ĤΔ⟩; it equals −s/(αz) of Thm B.1 when Δ = −αP r_s.  ``nan`` when the
    curvature ⟨Δ, ĤΔ⟩ is not positive.  All three vectors have shape (p,).
    """
    r_d, delta = to_accumulator(check_tensor("r_d", r_d, ndim=1)), to_accumulator(check_tensor("delta", delta, shape=r_d.shape))
    curvature = float(delta @ to_accumulator(check_tensor("hessian_delta", hessian_delta, shape=r_d.shape)))
    return float(r_d @ delta) / curvature if curvature > 0 else math.nan


def step_displacement(model: GenerativeModel, theta_s: Mapping[str, Tensor]) -> Tensor:
    """Δ = θ_s − θ_r over the trainable parameters of ``model`` (at θ_r), shape (p,), float64
    (the accumulator dtype) on θ's device."""
    from .params import state_vector

    return state_vector(model.module, theta_s) - parameter_vector(model.module)


def fit(model: GenerativeModel, data: Tensor, **kwargs) -> SelfTrainResult:
    """Train ``model`` in place on ``data`` (e.g. the base model on real data).

    Same arguments and optimiser loop as :func:`self_train`, whose result is loaded into
    ``model.module``.
    """
    result = self_train(model, data, **kwargs)
    model.module.load_state_dict(result.state_dict)
    return result


class PreconditionerMismatchWarning(UserWarning):
    """The preconditioner P given to :func:`neon_loop` is not the one its optimizer applies, so
    θ_s − θ_r ≈ −αP r_s does not hold and w* = −s/(αz) predicts nothing about this fine-tuning."""


def describes_optimizer(P, optimizer: str) -> bool:
    """Whether P is of the kind that ``optimizer``'s step applies (Thm B.1's θ_s ≈ θ_r − αP r_s):
    the identity for SGD, an Adam second-moment diagonal (named ``adam-*``, as
    :func:`~neon_theory.preconditioners.adam_minibatch` names it) for Adam.  A check of the kind
    by name, not of the values: an Adam P at another batch size passes, and a hand-made
    ``Diagonal(ones)`` under SGD does not."""
    from .preconditioners import Identity

    if optimizer == "sgd":
        return isinstance(P, Identity)
    return str(getattr(P, "name", "")).startswith("adam")


def optimizer_preconditioner(model: GenerativeModel, synthetic: Tensor, optimizer: str, *, batch_size: int, seed: int):
    """The P of ``optimizer``'s step at θ_r: the identity for SGD; for Adam the bias-corrected
    second moment of minibatch gradients at the fine-tuning batch size on the synthetic set S
    itself (what Adam's v sees while it self-trains), S walked once without replacement
    (:func:`~neon_theory.preconditioners.adam_minibatch`).

    The official toy notebook takes P from *real* minibatches instead (the toys' cells keep that
    convention); for predicting this fine-tuning's step the synthetic one is the better model: on
    an 8-token MLP, −αP r_s was 1.6× the realised step's length (cosine 0.76) with P from S and
    6.3× (cosine 0.66) with P from the real data.
    """
    from .preconditioners import adam_minibatch, identity
    from .rng import generator

    if optimizer == "sgd":
        return identity()
    return adam_minibatch(model, synthetic, batch_size, generator=generator(seed, "P"), noise_generator=generator(seed, "P-noise"))


@dataclass(frozen=True, repr=False)
class NeonRun:
    """Everything one pass of Algorithm 1 produced (see :func:`neon_loop`).

    Attributes:
        synthetic (Tensor): S, shape (n_s, ...).
        self_trained (SelfTrainResult): θ_s and its trajectory.
        alignment: the :class:`~neon_theory.alignment.AlignmentReport` at θ_r (s, the P-cosine,
            z and the first-order w* = −s/(αz), whose interval covers Monte Carlo noise only).
        sweep (WSweep | None): metric along the w grid.
        best (BestW | None): Brent search result.
        w_star_displacement (float): the best w that the realised step Δ = θ_s − θ_r predicts,
            ⟨r_d, Δ⟩ / ⟨Δ, ĤΔ⟩ (:func:`displacement_w_star`): the minimiser of the quadratic
            model of the real risk along the step actually taken, not along −αP r_s.  A point
            estimate (r̂_d and Ĥ are Monte Carlo; no SE is given); ``nan`` when ⟨Δ, ĤΔ⟩ ≤ 0.
        auto (AutoW | None): with ``w="auto"``, the w chosen from the real loss along Δ
            (:func:`~neon_theory.autow.auto_w`), its SE and its interval.
        w (float | None): the merge weight of ``merged``.
        merged (dict | None): θ_Neon = θ_r − wΔ as a state dict, when a w was given (or chosen).
    """

    synthetic: Tensor
    self_trained: SelfTrainResult
    alignment: object
    sweep: WSweep | None
    best: BestW | None
    w_star_displacement: float = math.nan
    auto: object = None
    w: float | None = None
    merged: dict | None = None

    def __str__(self) -> str:
        lines = [str(self.alignment), f"  w* of the realised step <r_d, D>/<D, H D> = {self.w_star_displacement:+.5g}  (D = theta_s - theta_r)"]
        if self.auto is not None:
            lines.append(f"  {self.auto}")
        if self.best is not None:
            lines.append(f"  best w (Brent on the metric) = {self.best.w:+.5g}, gain {self.best.gain:+.4g}")
        return "\n".join(lines)

    __repr__ = __str__


def neon_loop(
    model: GenerativeModel,
    real,
    sampler,
    *,
    metric: Callable,
    n_synthetic: int,
    fine_tuning: FineTuning,
    seed: int,
    sizes: ProbeSizes = LOOP_SIZES,
    preconditioner=None,
    hessian: Callable | Tensor | None = None,
    ws=None,
    bracket: tuple[float, float] | None = None,
    w: float | str | None = None,
    auto_method: str = "displacement",
) -> NeonRun:
    """Algorithm 1 end to end on any :class:`GenerativeModel`: sample S, self-train, align, sweep w.

    Two predictions of the best w come back: the first-order w* = −s/(αz) of Thm B.1
    (``run.alignment.w_star``; its interval covers only the Monte Carlo noise that the jackknife
    resamples, not the error of the first-order model, so the best w can lie far outside it) and
    the w* of the realised step (``run.w_star_displacement``), which on the toolkit's image cells
    (4 seeds of 8×8 digits, Adam P from real minibatches) came within 0.7–1.6× of the best w where
    −s/(αz) was 7–470× off.

    Args:
        model: θ_r (left unchanged).
        real: the real-data source (a Target or a tensor) for r_d.
        sampler: the inference sampler κ.
        metric: ``metric(model, generator) -> float``, lower is better; evaluated under
            ``torch.no_grad()``.
        n_synthetic: |S|, in [1, inf).
        fine_tuning: the :class:`FineTuning` budget (steps, lr, optimizer, batch size).
        seed: master seed; named streams "S", "train", "train-noise", "grad-data" (the rows of law
            sources), "cos-noise" (the loss noise of r_d and r_s), "P", "hessian", "eval".  r_d and r_s
            come from a :class:`~neon_theory.probe.CosineProbe`, the estimator the studies use.
        sizes: the :class:`~neon_theory.probe.ProbeSizes` of the population gradients: ``n_pop``
            rows each (at most the real tensor's), ``grad_batch`` per pass, ``n_batches`` for the
            SEs (common random numbers; r_s is estimated on fresh draws from q, i.e. the
            population synthetic gradient).
        preconditioner: a Preconditioner, or ``None`` (default) for the optimizer's own
            (:func:`optimizer_preconditioner`: I for SGD; for Adam the Adam-minibatch P of S at
            the fine-tuning batch size).  A P
            that is not the optimizer's (:func:`describes_optimizer`) gives s and the cosine
            under that P, but no w* = −s/(αz) (``w_star_reason`` says why), and a
            :class:`PreconditionerMismatchWarning`.
        hessian: Ĥ at θ_r as a matrix or v ↦ Ĥ v, for z and both w*; ``None`` (default) builds
            v ↦ Ĥ v from Hessian-vector products on the real source (``n_gradient`` rows).
        ws: w grid for a sweep (optional); bracket: (lo, hi) for Brent (optional).
        w: the merge weight of ``run.merged``: a finite number, ``"auto"`` (chosen from the real
            loss along the step, no metric evaluated: :func:`~neon_theory.autow.auto_w` on the
            ``n_pop`` real rows, stream "auto-rows"), or ``None`` (default: no merged state).
        auto_method: ``"displacement"`` (default) or ``"three-point"``, for ``w="auto"``.
    """
    from .gradients import ModelLaw, hessian_operator
    from .preconditioners import Preconditioner
    from .probe import CosineProbe, Rows, Streams
    from .rng import generator

    check_model(model)
    if not isinstance(fine_tuning, FineTuning):
        raise ValueError(f"fine_tuning must be a FineTuning(steps, lr, optimizer, batch_size); got {type(fine_tuning).__name__}")
    n_synthetic = check_int("n_synthetic", n_synthetic, lo=1)
    n_gradient = check_int("n_pop", sizes.n_pop, lo=2)
    check_int("n_batches", sizes.n_batches, lo=2, hi=n_gradient)
    optimizer = fine_tuning.optimizer
    if w is not None and not (isinstance(w, str) and w == "auto"):
        w = check_real("w", w) if not isinstance(w, str) else _bad_w(w)
    check_choice("auto_method", auto_method, ("displacement", "three-point"))
    if preconditioner is not None and not isinstance(preconditioner, Preconditioner):
        raise ValueError(f"preconditioner must be a Preconditioner or None; got {type(preconditioner).__name__}")
    n = min(real.shape[0], n_gradient) if isinstance(real, Tensor) else n_gradient
    S = model.sample(n_synthetic, sampler, generator(seed, "S"))
    st = self_train(
        model, S, steps=fine_tuning.steps, lr=fine_tuning.lr, optimizer=optimizer, batch_size=fine_tuning.batch_size, schedule=fine_tuning.schedule,
        generator=generator(seed, "train"), noise_generator=generator(seed, "train-noise"),
    )
    P = optimizer_preconditioner(model, S, optimizer, batch_size=st.batch_size, seed=seed) if preconditioner is None else preconditioner
    probe = CosineProbe(
        model, real, functools.partial(ModelLaw, model), P, sizes=dataclasses.replace(sizes, n_pop=n),
        streams=Streams(seed), name="sampler", rows=Rows(n=n, data_stream="grad-data"),
    )
    if hessian is None:
        hessian = hessian_operator(model, real, n, seed=seed)
    report = probe.report(sampler, alpha=st.alpha, hessian=hessian)
    if not describes_optimizer(P, optimizer):
        reason = (
            f"P = {report.preconditioner} is not the preconditioner of {optimizer!r}, so the step is not ≈ −αP r_s: "
            "−s/(αz) would predict nothing (leave preconditioner=None for the optimizer's own)"
        )
        warnings.warn(f"neon_loop: {reason}; w* withheld (use run.w_star_displacement)", PreconditionerMismatchWarning, stacklevel=2)
        report = dataclasses.replace(report, w_star=None, w_star_se=None, w_star_ci=None, w_star_reason=reason)
    delta = step_displacement(model, st.state_dict)
    hessian_delta = hessian @ delta.to(hessian) if isinstance(hessian, Tensor) else hessian(delta)
    w_disp = displacement_w_star(probe.real_est.mean, delta, hessian_delta.to(delta))
    eval_seed = generator(seed, "eval").initial_seed() % (2**62)
    sweep = None if ws is None else w_sweep(model, st.state_dict, ws, metric, eval_seed=eval_seed)
    best = None if bracket is None else brent_best_w(model, st.state_dict, metric, bracket=bracket, eval_seed=eval_seed)
    auto = None
    if w == "auto":
        from .autow import auto_w

        auto = auto_w(model, real, delta, n, method=auto_method, n_batches=sizes.n_batches, seed=seed)
        w = auto.w if math.isfinite(auto.w) else None
        if w is None:
            warnings.warn("neon_loop: the real loss is not convex along the step, so w='auto' chooses no w (run.merged is None)", stacklevel=2)
    names = [k for k, _ in model.module.named_parameters()]
    merged = None if w is None else merge(model.module.state_dict(), st.state_dict, w, parameter_names=names)
    return NeonRun(S, st, report, sweep, best, w_disp, auto, w, merged)


def _bad_w(w: str):
    raise ValueError(f"w must be a finite number or 'auto'; got {w!r}")


def plane_state(
    base: Mapping[str, Tensor],
    theta_s: Mapping[str, Tensor],
    theta_o: Mapping[str, Tensor],
    w_s: float,
    w_o: float,
    *,
    parameter_names=None,
    policy: MergePolicy = MergePolicy(),
) -> dict:
    """θ_r + w_s(θ_r − θ_s) + w_o(θ_o − θ_r): the Neon direction and a second direction (paper Fig. 2)."""
    w_o = check_real("w_o", w_o)
    neon = merge(base, theta_s, w_s, policy=policy, parameter_names=parameter_names)
    other = merge(base, theta_o, -w_o, policy=policy, parameter_names=parameter_names)  # θ_r + w_o(θ_o − θ_r)
    names = None if parameter_names is None else set(parameter_names)
    out = {}
    for k, v in neon.items():
        is_param = v.is_floating_point() and (names is None or k in names)
        out[k] = v + (other[k] - base[k].to(v.dtype)) if is_param else v
    return out


def plane_sweep(model: GenerativeModel, theta_s, theta_o, w_s_values, w_o_values, metric: Callable, *, eval_seed: int = 0, progress: bool = False):
    """``metric`` on the grid of :func:`plane_state` (common evaluation noise); a tidy DataFrame."""
    import pandas as pd

    check_model(model)
    check_int("eval_seed", eval_seed, lo=0)
    if not callable(metric):
        raise ValueError("metric must be callable as metric(model, generator) -> float")
    work = working_copy(model)
    base = model.module.state_dict()
    names = [k for k, _ in model.module.named_parameters()]
    rows = []
    grid = [(a, b) for a in np.asarray(w_s_values, float) for b in np.asarray(w_o_values, float)]
    for a, b in tqdm(grid, disable=not progress, desc="plane"):
        work.module.load_state_dict(plane_state(base, theta_s, theta_o, a, b, parameter_names=names))
        with torch.no_grad():
            rows.append({"w_s": a, "w_o": b, "value": float(metric(work, torch.Generator().manual_seed(eval_seed)))})
    return pd.DataFrame(rows)
