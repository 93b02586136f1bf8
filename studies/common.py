"""What the studies' cells share: the result vocabulary, record hygiene and per-device memos.

A cell is a pure ``run(config, seed) -> dict`` with a frozen, validated config dataclass whose
fields are what a sweep file may set or sweep.  Expensive shared state (a trained base model,
its preconditioner) is memoised per process by (device, preset, seed) with :func:`per_device`:
a cached value is a deterministic function of its key, so caching never changes a record.
"""

from __future__ import annotations

import contextlib
import functools
import math

import torch

from neon_theory.checks import check_real, integral
from neon_theory.sampler_text import parse_sampler, sampler_text
from neon_theory.samplers import DENSITY_TEMPERATURE_RANGE, UNDEFINED_AT_NEUTRAL, SamplerSpec, undefined_at_neutral

POSITIVE = (0.0, math.inf)
DENSITY_T = DENSITY_TEMPERATURE_RANGE  # what float64 computes with (closed interval)
STD_TAU = tuple(math.sqrt(v) for v in DENSITY_TEMPERATURE_RANGE)

#: The result fields several experiments share, by name: each experiment lists its own with
#: :func:`results_of`, so a field means the same wherever it appears (``neon-theory list experiments NAME``).
SHARED_RESULTS = {
    "s": "s = <r_d, P r_s> (jackknife bias-corrected when estimated); null at a neutral sampler",
    "s_se": "the standard error of s (jackknife over gradient batches)",
    "cosine": "the P-cosine s / (|r_d|_P |r_s|_P), in [-1, 1]; null at a neutral sampler",
    "cosine_se": "the standard error of the P-cosine (jackknife over gradient batches)",
    "max_share_d": "the largest share of |r_d|²_P that one parameter carries, in [0, 1]",
    "max_share_s": "the largest share of |r_s|²_P that one parameter carries, in [0, 1]",
    "degenerate": "true when one parameter carries most of either P-norm: the P-cosine then measures that parameter "
    "(try another preconditioner or more samples)",
    "undefined": f"'{UNDEFINED_AT_NEUTRAL}' at a neutral sampler (where s, the P-cosine and w* are null); absent elsewhere",
    "z": "z = r_s' P' H P r_s, the curvature of the quadratic proxy along the Neon direction",
    "w_star": "the predicted best merge weight w* = -s/(alpha z); null where it has no value",
    "w_star_se": "the standard error of w* (jackknife over gradient batches)",
    "w_star_displacement": "w* predicted from the realised fine-tuning step theta_s - theta_r instead of -alpha P r_s",
    "alpha": "alpha = the fine-tuning's summed learning rate (lr x steps at a constant rate), the step length in w*",
    "sharpening": "the sampler's direction: mode-seeking, neutral, diversity-seeking or mixed",
    "best_w": "Brent's best merge weight w on the metric (theta_Neon = (1 + w) theta_r - w theta_s)",
    "gain": "metric(base) - metric(best w): positive when the best w improves on the base model",
    "at_boundary": "true when the best w lies at an edge of the search bracket (the bracket may be too narrow)",
    "best_fd": "the Fréchet distance to the target at the best w",
    "base_fd": "the Fréchet distance of the base model theta_r (w = 0)",
    "fd_at_w": "the Fréchet distance at each of w_values",
    "precision_at_w": "prdc precision (k = 5) at each of w_values",
    "recall_at_w": "prdc recall (k = 5) at each of w_values",
    "best_w_loss": "Brent's best w on the population loss (the risk Thm B.1 is about; fixed target rows, common loss noise across w)",
    "best_loss": "that loss at its best w",
    "base_loss": "that loss of the base model (w = 0)",
    "gain_loss": "that loss of the base minus that at its best w: positive when the best w improves on the base",
    "at_boundary_loss": "true when that w lies at an edge of the search bracket",
    "auto_w": "w chosen without a metric search: the vertex of the real loss's quadratic along the step (neon_theory.autow)",
    "auto_w_se": "its jackknife SE over row batches",
    "auto_w_low": "the low end of its interval (the quadratic's vertex, the cubic's stationary point and the three-point vertex, each +- t SE, "
                  "t on n_batches - 1 degrees of freedom)",
    "auto_w_high": "the high end of that interval",
    "auto_w_cubic": "the stationary point of the real loss's cubic along the step",
    "auto_w_three_point": "w from the parabola through the real loss at w = 0, h and 2h (h = auto_w)",
    "auto_w_three_point_se": "its jackknife SE",
    "auto_w_three_point_low": "its interval's low end (+- t SE)",
    "auto_w_three_point_high": "its interval's high end",
}

#: what a P-cosine probe adds to a record (ar-, diffusion-, flow- and image-cell)
PROBE_RESULTS = ("s", "s_se", "cosine", "cosine_se", "max_share_d", "max_share_s", "degenerate", "undefined")
#: what a Brent search on the FD adds to a record (ar- and diffusion-cell)
BEST_FD_RESULTS = ("best_w", "best_fd", "base_fd", "gain", "at_boundary")
#: what a Brent search on the population loss adds to a record (ar- and diffusion-cell; :func:`best_loss_record`)
BEST_LOSS_RESULTS = ("best_w_loss", "best_loss", "base_loss", "gain_loss", "at_boundary_loss")
#: the row batches of the toys' auto w (its jackknife and t quantile)
AUTO_BATCHES = 20


#: the w tolerance of a best-w search on a population loss: the toys' best w on the loss can be a few
#: hundredths (the diffusion toy's), so the FD searches' tolerance (0.005-0.05) would be most of it; a
#: loss on fixed rows with common noise is smooth in w and cheap, so Brent reaches this in ~30 evaluations
LOSS_XTOL = 1e-4


def best_loss_record(model, theta_s, metric, toy, eval_seed: int) -> dict:
    """Brent's best w on a population loss to :data:`LOSS_XTOL`, as :data:`BEST_LOSS_RESULTS`: in
    ``toy.loss_bracket`` where the toy has one (the loss's best w may lie beyond the FD's bracket), else ``toy.bracket``."""
    from neon_theory.neon import brent_best_w

    bracket = getattr(toy, "loss_bracket", toy.bracket)
    best = brent_best_w(model, theta_s, metric, bracket=bracket, xtol=LOSS_XTOL, eval_seed=eval_seed)
    return {"best_w_loss": best.w, "best_loss": best.value, "base_loss": best.base_value, "gain_loss": best.gain, "at_boundary_loss": best.at_boundary}


#: the direction arms as a record names them (``dir_ARM_...``), from :data:`neon_theory.directions.DIRECTION_ARMS`
DIRECTION_NAMES = {"step": "step", "first-order": "first_order", "one-step": "one_step", "random": "random", "random-2": "random_2"}


def adam_directions(model, theta_s, probe, value, S, alpha: float, seed: int, budget) -> dict:
    """The arms of an Adam fine-tune's cell: the step, −αP r_s (the probe's P and r_s at the sampler setting
    ``value``), one full-batch Adam step on S at lr α, and two independent random directions of the step's norm."""
    from neon_theory.directions import one_step_direction
    from neon_theory.neon import step_displacement
    from neon_theory.rng import generator

    step = step_displacement(model, theta_s)
    first = -alpha * probe.P.apply(probe.synthetic_estimate(value).mean).to(step)
    one = one_step_direction(model, S, alpha, optimizer="adam", generator=generator(seed, f"dir-one-step/{value}"))
    return {"step": step, "first-order": first, "one-step": one, **random_directions(step, seed, f"dir-random/{value}/{budget}")}


def random_directions(step, seed: int, stream: str) -> dict:
    """The two random arms (``random``, ``random-2``) of a cell: independent N(0, I) draws scaled to the step's norm."""
    from neon_theory.directions import random_direction
    from neon_theory.rng import generator

    return {arm: random_direction(step, generator(seed, f"{stream}/{arm}")) for arm in ("random", "random-2")}


def direction_record(model, directions: dict, metrics: dict, searches: dict, compute: dict) -> dict:
    """Each direction's best merge on each metric (:func:`neon_theory.directions.compare_directions`), every
    direction scaled to the step's norm first, so that the best w's are in one unit (the step's length).

    Args:
        model: θ_r.
        directions (dict): arm (a key of :data:`DIRECTION_NAMES`) → direction, ``step`` among them.
        metrics (dict): name → (``metric(model, generator)``, eval_seed).
        searches (dict): name → (bracket, xtol) of that metric's Brent search.
        compute (dict): arm → per-example gradients it cost (an arm left out: ``None``, a closed form or none).
    """
    from neon_theory.directions import compare_directions

    norm = float(directions["step"].double().norm())
    raw = {arm: float(d.double().norm()) for arm, d in directions.items()}
    out = {f"dir_{DIRECTION_NAMES[arm]}_norm_ratio": r / norm if norm > 0 else math.nan for arm, r in raw.items()}
    out.update({f"dir_{DIRECTION_NAMES[arm]}_compute": compute.get(arm) for arm in directions})
    scaled = {arm: d * (norm / raw[arm]) if raw[arm] > 0 else d for arm, d in directions.items()}
    for m, (metric, eval_seed) in metrics.items():
        bracket, xtol = searches[m]
        for arm, r in compare_directions(model, scaled, metric, bracket=bracket, xtol=xtol, eval_seed=eval_seed).items():
            a = DIRECTION_NAMES[arm]
            out.update({f"dir_{a}_best_w_{m}": r.best_w, f"dir_{a}_gain_{m}": r.gain, f"dir_{a}_at_boundary_{m}": r.at_boundary,
                        f"dir_{a}_cosine": r.cosine})
    return out


def direction_results(metrics: dict) -> dict:
    """The result fields :func:`direction_record` writes, for ``metrics`` (name → the metric in words)."""
    out = {}
    for arm, a in DIRECTION_NAMES.items():
        out[f"dir_{a}_cosine"] = f"cos(the {arm} direction, the fine-tuning step)"
        out[f"dir_{a}_norm_ratio"] = f"|the {arm} direction| / |the step| before it is scaled to the step's norm"
        out[f"dir_{a}_compute"] = f"per-example gradients the {arm} direction cost (null: a closed form, or none)"
        for m, words in metrics.items():
            out[f"dir_{a}_best_w_{m}"] = f"Brent's best w on {words} along the {arm} direction (scaled to the step's norm)"
            out[f"dir_{a}_gain_{m}"] = f"{words} of the base minus that at that w"
            out[f"dir_{a}_at_boundary_{m}"] = "true when that w lies at an edge of the search bracket"
    return out


#: what w chosen without a metric search adds to a record (:func:`auto_record`; each cell names its own ``METRIC_at_auto`` fields)
AUTO_RESULTS = ("auto_w", "auto_w_se", "auto_w_low", "auto_w_high", "auto_w_cubic",
                "auto_w_three_point", "auto_w_three_point_se", "auto_w_three_point_low", "auto_w_three_point_high")
AUTO_METHOD_TAGS = {"displacement": "", "three-point": "_three_point"}


def auto_record(model, theta_s, real, metrics: dict, line: dict, *, loss_model=None,
                methods: tuple = tuple(AUTO_METHOD_TAGS), precision=contextlib.nullcontext) -> dict:
    """w chosen without a metric search (:func:`neon_theory.autow.auto_w`) and each metric at it.

    Args:
        model, theta_s: θ_r and θ_s (the step Δ = θ_s − θ_r).
        real: the real rows or law the loss is taken on (held out from anything the base saw).
        metrics (dict): name → (``metric(model, generator)``, eval_seed); the record gets ``NAME_at_auto``
            (and ``NAME_at_auto_three_point``) on the evaluation noise of that metric's best-w search.
        line (dict): ``auto_w``'s ``n``, ``n_batches`` and ``seed`` (a stream of its own per cell).
        loss_model: the loss differentiated along the step, if not ``model``'s (a lower-variance
            loss with the same gradient, e.g. :class:`~toy_models.diffusion.PosteriorTargetDiffusion`).
        methods (tuple): the variants; the three-point fit is the displacement's own probe (h = its w), not computed twice.
        precision: a context-manager factory around the autodiff (the image cells' autocast).
    """
    from neon_theory.autow import AutoW, auto_w
    from neon_theory.neon import step_displacement, w_sweep

    with precision():
        auto = auto_w(model if loss_model is None else loss_model, real, step_displacement(model, theta_s), **line)
    fits = {"displacement": auto, "three-point": auto.three_point or AutoW(math.nan, math.nan, (math.nan, math.nan), "three-point")}
    out = {"auto_w_cubic": auto.w_cubic}
    for method in methods:
        tag, fit = AUTO_METHOD_TAGS[method], fits[method]
        out.update({f"auto_w{tag}": fit.w, f"auto_w{tag}_se": fit.se, f"auto_w{tag}_low": fit.interval[0], f"auto_w{tag}_high": fit.interval[1]})
        for name, (metric, eval_seed) in metrics.items():
            at = w_sweep(model, theta_s, [fit.w], metric, eval_seed=eval_seed).values[0] if math.isfinite(fit.w) else math.nan
            out[f"{name}_at_auto{tag}"] = at
    return out


def results_of(*shared: str, **own: str) -> dict[str, str]:
    """An experiment's result fields for ``@experiment(results=...)``: the named :data:`SHARED_RESULTS`, then its own."""
    return {k: SHARED_RESULTS[k] for k in shared} | own


def integral_field(cfg, name: str) -> None:
    """A float field that holds a count (k, steps) accepts an integral float such as ``2.0`` or ``1e1``."""
    object.__setattr__(cfg, name, integral(getattr(cfg, name)))


def finite_or_none(v):
    v = float(v)
    return v if math.isfinite(v) else None


def clean(record: dict) -> dict:
    """Non-finite floats → None (records are strict JSON)."""
    return {k: (finite_or_none(v) if isinstance(v, float) else v) for k, v in record.items()}


def check_ws(name: str, ws) -> tuple:
    if not isinstance(ws, (list, tuple)):
        raise ValueError(f"{name} must be a list of finite numbers; got {ws!r}")
    return tuple(check_real(name, w) for w in ws)


def per_device(maxsize: int):
    """``functools.lru_cache`` keyed by torch's default device too (the sweep's device): a base
    model trained on one device is never reused by a job on another."""

    def wrap(f):
        cached = functools.lru_cache(maxsize=maxsize)(lambda device, *args: f(*args))

        @functools.wraps(f)
        def call(*args):
            return cached(str(torch.get_default_device()), *args)

        call.cache_clear = cached.cache_clear
        MEMOS.append(call)
        return call

    return wrap


#: every :func:`per_device` memo, for :func:`clear_caches`
MEMOS: list = []


def clear_caches() -> None:
    """Drop every memoised base model and probe (e.g. before timing, so every run starts cold)."""
    for cached in MEMOS:
        cached.cache_clear()


PROBE_FIELDS = ("cosine", "cosine_se", "s", "s_se", "max_share_d", "max_share_s")


def probe_record(row: dict, neutral: bool) -> dict:
    """The record fields of one :class:`~neon_theory.probe.CosineProbe` row (with its degeneracy
    flag); at a ``neutral`` sampler s and the cosine are None (the estimate there is noise)."""
    return undefined_at_neutral({**{k: finite_or_none(row[k]) for k in PROBE_FIELDS}, "degenerate": bool(row["degenerate"])}, neutral)




def sampler_field(cfg, family=None, *, allowed: tuple = ()) -> SamplerSpec:
    """Parse a cell's ``sampler`` text once with the engine's parser (which checks every value), store its
    canonical text (so two spellings of one sampler share a cache key), and check that ``family``'s
    :class:`~neon_theory.samplers.SamplerImplementations` implements it and that its parts are of
    the ``allowed`` spec types (when given).  Returns the spec."""
    if not isinstance(cfg.sampler, str):
        raise ValueError(f"sampler must be text such as 'temperature=0.7'; got {cfg.sampler!r}")
    spec = parse_sampler(cfg.sampler)
    parts = spec.specs if hasattr(spec, "specs") else (spec,)
    if allowed and not all(isinstance(s, allowed) for s in parts):
        names = ", ".join(t.__name__ for t in allowed)
        raise ValueError(f"sampler {cfg.sampler!r}: {type(cfg).__name__} takes {names} parts only")
    if family is not None:
        family.check(spec)
    object.__setattr__(cfg, "sampler", sampler_text(spec))
    return spec


def one_of_each(spec: SamplerSpec) -> dict:
    """A sampler's parts by spec type, for a cell that completes a chain: a type written twice is
    refused (the completed chain would keep only one of them)."""
    out: dict = {}
    for part in spec.specs if hasattr(spec, "specs") else (spec,):
        if type(part) in out:
            raise ValueError(f"sampler {sampler_text(spec)!r}: {type(part).__name__} is written twice; write each part once")
        out[type(part)] = part
    return out
