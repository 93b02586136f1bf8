"""Experiments registered with the sweep engine (importing this module registers them).

Each is a pure ``run(config, seed) -> dict`` with a frozen, validated config dataclass whose
fields are what a sweep file may set or sweep.  Expensive shared state (a trained base
model, its preconditioner) is memoised per process by (device, preset, seed): a cached value is a
deterministic function of its key, so caching never changes a record.  The memo holds 16
keys: sweeps cycle through the seeds, and an LRU smaller than the seed count would miss
on every job.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from dataclasses import dataclass

import torch

from neon_theory._validation import check_choice, check_int, check_real, integral
from neon_theory.rng import child_seed, generator
from neon_theory.run.experiments import experiment
from neon_theory.samplers import DENSITY_TEMPERATURE_RANGE, UNDEFINED_AT_NEUTRAL, Temperature, TopK, TopP, undefined_at_neutral

from . import official

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
    "alpha": "alpha = lr x steps of the fine-tuning, the step length in w*",
    "sharpening": "the sampler's direction: mode-seeking, neutral, diversity-seeking or mixed",
    "best_w": "Brent's best merge weight w on the metric (theta_Neon = (1 + w) theta_r - w theta_s)",
    "gain": "metric(base) - metric(best w): positive when the best w improves on the base model",
    "at_boundary": "true when the best w lies at an edge of the search bracket (the bracket may be too narrow)",
    "best_fd": "the Fréchet distance to the target at the best w",
    "base_fd": "the Fréchet distance of the base model theta_r (w = 0)",
    "fd_at_w": "the Fréchet distance at each of w_values",
    "precision_at_w": "prdc precision (k = 5) at each of w_values",
    "recall_at_w": "prdc recall (k = 5) at each of w_values",
}

#: what a P-cosine probe adds to a record (ar-, diffusion-, flow- and image-cell)
PROBE_RESULTS = ("s", "s_se", "cosine", "cosine_se", "max_share_d", "max_share_s", "degenerate", "undefined")
#: what a Brent search on the FD adds to a record (ar- and diffusion-cell)
BEST_FD_RESULTS = ("best_w", "best_fd", "base_fd", "gain", "at_boundary")


def results_of(*shared: str, **own: str) -> dict[str, str]:
    """An experiment's result fields for ``@experiment(results=...)``: the named :data:`SHARED_RESULTS`, then its own."""
    return {k: SHARED_RESULTS[k] for k in shared} | own


def _integral(cfg, name: str) -> None:
    """A float field that holds a count (k, steps) accepts an integral float such as ``2.0`` or ``1e1``."""
    object.__setattr__(cfg, name, integral(getattr(cfg, name)))


def _finite_or_none(v):
    v = float(v)
    return v if math.isfinite(v) else None


def _clean(record: dict) -> dict:
    """Non-finite floats → None (records are strict JSON)."""
    return {k: (_finite_or_none(v) if isinstance(v, float) else v) for k, v in record.items()}


def _check_ws(name: str, ws) -> tuple:
    if not isinstance(ws, (list, tuple)):
        raise ValueError(f"{name} must be a list of finite numbers; got {ws!r}")
    return tuple(check_real(name, w) for w in ws)


def _per_device(maxsize: int):
    """``functools.lru_cache`` keyed by torch's default device too (the sweep's device): a base
    model trained on one device is never reused by a job on another."""

    def wrap(f):
        cached = functools.lru_cache(maxsize=maxsize)(lambda device, *args: f(*args))

        @functools.wraps(f)
        def call(*args):
            return cached(str(torch.get_default_device()), *args)

        call.cache_clear = cached.cache_clear
        return call

    return wrap


# ---- exact Gaussian ----------------------------------------------------------------------


@dataclass(frozen=True)
class GaussianCell:
    """One cell of the Gaussian demo: exact s, cosine, w*, and Brent's best w of the NLL.

    Attributes:
        T (float): density temperature in (0, inf).
        base (str): ``under-dispersed`` or ``over-dispersed`` (the demo's two base models).
        n_synthetic (int): |S| in [2, inf).
        steps (int): SGD steps (the budget; α = lr × steps), in [1, inf).
        lr (float): in (0, inf).
        w_values (tuple): w at which to also report the NLL (for curves).
    """

    T: float = 0.5
    base: str = "under-dispersed"
    n_synthetic: int = 20000
    steps: int = 10
    lr: float = 0.02
    w_values: tuple = ()

    def __post_init__(self):
        check_real("T", self.T, *DENSITY_T)
        check_choice("base", self.base, ("under-dispersed", "over-dispersed"))
        check_int("n_synthetic", self.n_synthetic, lo=2)
        check_int("steps", self.steps, lo=1)
        check_real("lr", self.lr, *POSITIVE, lo_open=True)
        _check_ws("w_values", self.w_values)


@experiment("gaussian-cell", config=GaussianCell, results=results_of(
    "s", "cosine", "z", "w_star", "w_star_displacement", "best_w", "gain", "alpha", "undefined",
    sampler="the sampler's direction at T: mode-seeking, neutral or diversity-seeking",
    base_nll="the exact population NLL of the base model theta_r",
    verdict="the best w in words: Neon helps, self-training helps, no gain, or best w at bracket edge",
    nll_at_w="the exact population NLL at each of w_values",
))
def gaussian_cell(cfg: GaussianCell, seed: int) -> dict:
    from neon_theory.neon import w_sweep

    from ..gaussian import population_nll
    from .gaussian_demo import DemoConfig, demo_row, demo_target

    demo = DemoConfig(n_synthetic=cfg.n_synthetic, lr=cfg.lr, steps=cfg.steps, seed=seed)
    row, model, st = demo_row(demo, cfg.base, cfg.T)
    out = _clean({k: v for k, v in row.items() if k not in ("base", "T")})
    out["alpha"] = demo.alpha
    if cfg.w_values:
        target = demo_target(demo)
        out["nll_at_w"] = list(w_sweep(model, st.state_dict, cfg.w_values, lambda m, g: population_nll(target, m)).values)
    return out


# ---- Gaussian warm-up (App. B.1) ---------------------------------------------------------


@dataclass(frozen=True)
class WarmupCell:
    """Monte Carlo over training draws of the warm-up ΔL_pop along Σ̂ + aΣ̂⁻¹.

    Attributes:
        dim (int): D in [1, inf).
        n (int): training-set size in [D + 1, inf).
        a (float): the step a = ½(1 − τ²)wη whose per-draw improvement rate is reported.
        a_values (tuple): a grid for the loss curve (mean ΔL ± SE per a).
        draws (int): training draws in [2, inf).
    """

    dim: int = 2
    n: int = 20
    a: float = 0.02
    a_values: tuple = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
    draws: int = 2000

    def __post_init__(self):
        check_int("dim", self.dim, lo=1)
        check_int("n", self.n, lo=self.dim + 1)
        check_real("a", self.a, 0.0, math.inf)
        _check_ws("a_values", self.a_values)
        for v in self.a_values:
            check_real("a_values", v, 0.0, math.inf)
        check_int("draws", self.draws, lo=2)


@experiment("warmup-cell", config=WarmupCell, results=results_of(
    improvement_rate="the share of training draws whose population loss falls at the step a (Delta L < 0)",
    improvement_rate_se="its binomial standard error over draws",
    mean_delta="the mean change of the population loss Delta L at the step a",
    mean_delta_se="its standard error over draws",
    curve_mean="the mean Delta L at each of a_values",
    curve_se="its standard error over draws at each of a_values",
))
def warmup_cell(cfg: WarmupCell, seed: int) -> dict:
    from ..warmup import warmup_loss_change

    delta = warmup_loss_change(cfg.dim, cfg.n, (cfg.a, *cfg.a_values), cfg.draws, generator(seed, "warmup"))
    at_a, curve = delta[:, 0], delta[:, 1:]
    rate = float((at_a < 0).double().mean())
    return {
        "improvement_rate": rate,
        "improvement_rate_se": math.sqrt(rate * (1 - rate) / cfg.draws),
        "mean_delta": float(at_a.mean()),
        "mean_delta_se": float(at_a.std() / math.sqrt(cfg.draws)),
        "curve_mean": curve.mean(0).tolist(),
        "curve_se": (curve.std(0) / math.sqrt(cfg.draws)).tolist() if curve.shape[1] else [],
    }


# ---- discrete tokens, exact enumeration --------------------------------------------------


@dataclass(frozen=True)
class TokenCell:
    """Exact alignment of a tabular token AR model fitted to n_base sequences of a random Markov chain.

    θ_r is the smoothed maximum-likelihood table (sequence counts + ``smoothing``), so it varies
    with the seed; the chain is fixed by ``chain_seed``.  Every expectation is an exact sum
    over V^L sequences.  Heavier smoothing makes θ_r more diffuse, which flips the sign of s
    for a sharpening sampler (the sign law of the Gaussian family).

    Attributes:
        knob (str): ``temperature``, ``top_k`` or ``top_p``.
        value (float): T in (0, inf), k in [1, V] or p in (0, 1].
        vocab_size (int): V, the number of tokens, in [2, 6].
        length (int): L, tokens per sequence, in [1, 4].
        n_base (int): real sequences in [1, inf).
        preconditioner (str): ``identity`` or ``natural`` (inverse exact Hessian at θ_r).
        chain_seed (int): seed of the random chain.
        smoothing (float): pseudo-count per sequence in (0, inf) (½ = Jeffreys/Krichevsky–Trofimov).
    """

    knob: str = "temperature"
    value: float = 0.7
    vocab_size: int = 3
    length: int = 3
    n_base: int = 200
    preconditioner: str = "natural"
    chain_seed: int = 0
    smoothing: float = 0.5

    def __post_init__(self):
        check_choice("knob", self.knob, ("temperature", "top_k", "top_p"))
        check_real("smoothing", self.smoothing, *POSITIVE, lo_open=True)
        check_int("vocab_size", self.vocab_size, lo=2, hi=6)
        check_int("length", self.length, lo=1, hi=4)
        if self.knob == "temperature":
            check_real("value", self.value, *DENSITY_T)
        elif self.knob == "top_k":
            _integral(self, "value")
            check_int("value", self.value, lo=1, hi=self.vocab_size)
        else:
            check_real("value", self.value, 0.0, 1.0, lo_open=True)
        check_int("n_base", self.n_base, lo=1)
        check_choice("preconditioner", self.preconditioner, ("identity", "natural"))
        check_int("chain_seed", self.chain_seed, lo=0)

    def sampler(self):
        return {"temperature": Temperature, "top_k": TopK, "top_p": TopP}[self.knob](self.value)


@experiment("token-cell", config=TokenCell, results=results_of(
    "s", "cosine", "sharpening", "undefined", kl_base="the exact KL(chain || theta_r) of the base table, in nats",
))
def token_cell(cfg: TokenCell, seed: int) -> dict:
    from neon_theory.gradients import population_hessian
    from neon_theory.preconditioners import exact_inverse, identity

    from ..tokens import MarkovChainTarget, TabularAR, all_sequences, exact_kl, exact_token_alignment

    chain = MarkovChainTarget.random(cfg.vocab_size, cfg.length, generator(cfg.chain_seed, "chain"))
    seqs = all_sequences(cfg.vocab_size, cfg.length)
    x = chain.sample(cfg.n_base, generator(seed, "real"))
    index = (x * cfg.vocab_size ** torch.arange(cfg.length - 1, -1, -1)).sum(1)
    counts = torch.bincount(index, minlength=seqs.shape[0]).double() + cfg.smoothing
    log_p = torch.log(counts / counts.sum())
    model = TabularAR.from_log_prob(lambda s: log_p[(s * cfg.vocab_size ** torch.arange(cfg.length - 1, -1, -1)).sum(1)], cfg.vocab_size, cfg.length)
    P = identity() if cfg.preconditioner == "identity" else exact_inverse(population_hessian(model, model.support()))
    sampler = cfg.sampler()
    rep = exact_token_alignment(chain, model, sampler, P)
    record = {"s": rep.s, "cosine": _finite_or_none(rep.cosine), "kl_base": exact_kl(chain, model), "sharpening": sampler.sharpening(cfg.vocab_size).value}
    return undefined_at_neutral(record, sampler.is_neutral(cfg.vocab_size))


# ---- the official AR and diffusion toys --------------------------------------------------


@_per_device(16)
def _ar_base(preset: str, seed: int):
    return official.ar_base(official.ARToyConfig.preset(preset), seed)


@_per_device(64)
def _ar_theta_s(preset: str, seed: int, tau: float, n_synthetic: int | None):
    return official.ar_finetune(_ar_base(preset, seed), official.ARToyConfig.preset(preset), seed, tau, n_synthetic)


@_per_device(16)
def _ar_probe(preset: str, seed: int, rep: int):
    return official.ar_cosine_probe(_ar_base(preset, seed), official.ARToyConfig.preset(preset), seed, rep)


PROBE_FIELDS = ("cosine", "cosine_se", "s", "s_se", "max_share_d", "max_share_s")


def _probe_record(row: dict, neutral: bool) -> dict:
    """The record fields of one :class:`~toy_models.drivers.official.CosineProbe` row (with its degeneracy
    flag); at a ``neutral`` sampler s and the cosine are None (the estimate there is noise)."""
    return undefined_at_neutral({**{k: _finite_or_none(row[k]) for k in PROBE_FIELDS}, "degenerate": bool(row["degenerate"])}, neutral)


@dataclass(frozen=True)
class ARCell:
    """The official AR toy at one (τ, budget, |S|) for one seed.

    Attributes:
        preset (str): ``smoke`` | ``reduced`` | ``paper`` (sizes of :class:`~toy_models.drivers.official.ARToyConfig`).
        tau (float): std temperature in (0, inf).
        ft_epochs (int | None): fine-tuning epochs (the budget); None = the preset's first.
        n_synthetic (int | None): |S|; None = the preset's.
        cosine (bool): also measure the P-cosine (Adam P, CRN) at τ.
        best_w (bool): also run Brent on the FD.
        w_values (tuple): w at which to report FD, precision and recall.
        n_pr (int): samples per side for precision/recall (prdc, k = 5).
        estimator_rep (int): in [0, inf); the P-cosine's estimator noise (population and
            synthetic draws, Adam minibatches, loss noise) on the same base model: 0 is the
            standard, other values repeat the estimate with fresh noise.
    """

    preset: str = "smoke"
    tau: float = 0.5
    ft_epochs: int | None = None
    n_synthetic: int | None = None
    cosine: bool = True
    best_w: bool = True
    w_values: tuple = ()
    n_pr: int = 2000
    estimator_rep: int = 0

    def __post_init__(self):
        check_choice("preset", self.preset, official.PRESETS)
        check_real("tau", self.tau, *STD_TAU)
        if self.ft_epochs is not None:
            check_int("ft_epochs", self.ft_epochs, lo=1)
        if self.n_synthetic is not None:
            check_int("n_synthetic", self.n_synthetic, lo=2)
        _check_ws("w_values", self.w_values)
        check_int("n_pr", self.n_pr, lo=10)
        check_int("estimator_rep", self.estimator_rep, lo=0)


def _fd_and_precision_recall(toy, n_pr: int, seed: int, log: list):
    """A metric for :func:`w_sweep`: returns the FD on ``n_eval`` samples and logs prdc precision
    and recall (k = 5) of the first ``n_pr`` of the same samples against fixed truth samples."""
    from prdc import compute_prdc

    from neon_theory.metrics import frechet_distance_from_samples

    from ..gmm import official_gaussian

    target = official_gaussian()
    real = target.sample(n_pr, generator(seed, "pr-real")).cpu().numpy()

    def metric(model, g):
        x = model.sample(max(toy.n_eval, n_pr), Temperature(1.0, "std"), g).double()
        if not bool(torch.isfinite(x).all()):
            log.append((math.nan, math.nan))
            return 1e6
        with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sample sizes
            m = compute_prdc(real_features=real, fake_features=x[:n_pr].cpu().numpy(), nearest_k=5)
        log.append((float(m["precision"]), float(m["recall"])))
        return frechet_distance_from_samples(x[: toy.n_eval], target.mean(), target.cov())

    return metric


@experiment("ar-cell", config=ARCell, results=results_of(
    *PROBE_RESULTS, *BEST_FD_RESULTS, "alpha", "fd_at_w", "precision_at_w", "recall_at_w",
    ft_epochs_used="the fine-tuning epochs used (ft_epochs, or the preset's first)",
    n_synthetic_used="|S| used (n_synthetic, or the preset's)",
))
def ar_cell(cfg: ARCell, seed: int) -> dict:
    from neon_theory.neon import brent_best_w, w_sweep

    toy = official.ARToyConfig.preset(cfg.preset)
    epochs = toy.ft_epochs[0] if cfg.ft_epochs is None else cfg.ft_epochs
    model = _ar_base(cfg.preset, seed)
    n_s = toy.n_synthetic if cfg.n_synthetic is None else cfg.n_synthetic
    out = {"ft_epochs_used": epochs, "n_synthetic_used": n_s, "alpha": toy.ft_lr * epochs * math.ceil(n_s / toy.ft_batch)}
    if cfg.cosine:
        out.update(_probe_record(_ar_probe(cfg.preset, seed, cfg.estimator_rep).rows((cfg.tau,))[0], Temperature(cfg.tau, "std").is_neutral()))
    if not (cfg.best_w or cfg.w_values):
        return _clean(out)
    if epochs in toy.ft_epochs:  # the preset's budgets come from one fine-tuning run, shared across cells
        theta_s = _ar_theta_s(cfg.preset, seed, cfg.tau, cfg.n_synthetic)[epochs]
    else:
        toy = official.ARToyConfig(**{**toy.to_dict(), "ft_epochs": (epochs,)})
        theta_s = official.ar_finetune(model, toy, seed, cfg.tau, cfg.n_synthetic)[epochs]
    metric = official.ar_fd_metric(toy)
    eval_seed = child_seed(seed, f"eval/{cfg.tau}/{epochs}")
    if cfg.best_w:
        best = brent_best_w(model, theta_s, metric, bracket=toy.bracket, xtol=toy.xtol, eval_seed=eval_seed)
        out.update(best_w=best.w, best_fd=best.value, base_fd=best.base_value, gain=best.gain, at_boundary=best.at_boundary)
    if cfg.w_values:
        log: list = []
        pr_metric = _fd_and_precision_recall(toy, cfg.n_pr, seed, log)
        out["fd_at_w"] = list(w_sweep(model, theta_s, cfg.w_values, pr_metric, eval_seed=eval_seed).values)
        out["precision_at_w"] = [p for p, _ in log]
        out["recall_at_w"] = [r for _, r in log]
    return _clean(out)


@_per_device(16)
def _diffusion_base(preset: str, seed: int):
    return official.diffusion_base(official.DiffusionToyConfig.preset(preset), seed)


@_per_device(16)
def _diffusion_probe(preset: str, seed: int, rep: int):
    return official.diffusion_cosine_probe(_diffusion_base(preset, seed), official.DiffusionToyConfig.preset(preset), seed, rep)


@_per_device(32)
def _diffusion_theta_s(preset: str, seed: int, zeta: float):
    return official.diffusion_finetune(_diffusion_base(preset, seed), official.DiffusionToyConfig.preset(preset), seed, zeta)


@dataclass(frozen=True)
class DiffusionCell:
    """The official diffusion toy at one score scale ζ (ζ > 1 mode-seeking) for one seed.

    Attributes:
        preset (str): ``smoke`` | ``reduced`` | ``paper``.
        zeta (float): in (0, inf).
        ft_steps (int | None): fine-tuning steps (the budget), one of the preset's ``ft_steps``;
            None = the preset's first.
        cosine (bool): measure the P-cosine (Adam P, CRN) at ζ.
        best_w (bool): also self-train on S drawn at ζ and run Brent on the FD.
        estimator_rep (int): in [0, inf); fresh estimator noise on the same base (see :class:`ARCell`).
    """

    preset: str = "smoke"
    zeta: float = 1.1
    ft_steps: int | None = None
    cosine: bool = True
    best_w: bool = False
    estimator_rep: int = 0

    def __post_init__(self):
        check_choice("preset", self.preset, official.PRESETS)
        check_real("zeta", self.zeta, *POSITIVE, lo_open=True)
        if self.ft_steps is not None:
            budgets = official.DiffusionToyConfig.preset(self.preset).ft_steps
            check_choice("ft_steps", check_int("ft_steps", self.ft_steps, lo=1), budgets)
        check_int("estimator_rep", self.estimator_rep, lo=0)


@experiment("diffusion-cell", config=DiffusionCell, results=results_of(
    *PROBE_RESULTS, *BEST_FD_RESULTS, ft_steps_used="the fine-tuning steps used (ft_steps, or the preset's first)",
))
def diffusion_cell(cfg: DiffusionCell, seed: int) -> dict:
    from neon_theory.neon import brent_best_w

    out = {}
    toy = official.DiffusionToyConfig.preset(cfg.preset)
    if cfg.cosine:
        # the whole sampler decides: ζ = 1 on a finite DDIM grid is still mode-seeking (the paper
        # reads the toy's negative cosine at ζ = 1 as discretisation), so it is a measurement, not noise
        neutral = official.diffusion_sampler(toy, cfg.zeta).is_neutral()
        out.update(_probe_record(_diffusion_probe(cfg.preset, seed, cfg.estimator_rep).rows((cfg.zeta,))[0], neutral))
    if cfg.best_w:
        steps = toy.ft_steps[0] if cfg.ft_steps is None else cfg.ft_steps
        theta_s = _diffusion_theta_s(cfg.preset, seed, cfg.zeta)[steps]
        metric = official.diffusion_fd_metric(toy)
        best = brent_best_w(_diffusion_base(cfg.preset, seed), theta_s, metric, bracket=toy.bracket, xtol=toy.xtol,
                            eval_seed=child_seed(seed, f"eval/{cfg.zeta}/{steps}"))
        out.update(ft_steps_used=steps, best_w=best.w, best_fd=best.value, base_fd=best.base_value, gain=best.gain, at_boundary=best.at_boundary)
    return _clean(out)


# ---- class-conditional flow matching: guidance γ and Euler steps -------------------------

FLOW_PRESETS = {
    "smoke": dict(n_base=2000, base_steps=600, base_lr=2e-3, base_batch=None, n_pop=4000, n_batches=8, grad_batch=500),
    "paper": dict(n_base=20000, base_steps=3000, base_lr=1e-3, base_batch=2048, n_pop=50000, n_batches=32, grad_batch=4096),
}
FLOW_PRESETS["reduced"] = FLOW_PRESETS["paper"]  # the flow cells are cheap: no reduced size


@dataclass(frozen=True)
class FlowCell:
    """The P-cosine (Adam P, CRN) of a class-conditional flow-matching MLP on the two-class
    GMM, at one guidance scale γ or one number of Euler steps.

    Attributes:
        preset (str): ``smoke`` | ``reduced`` | ``paper`` (sizes in ``FLOW_PRESETS``; reduced = paper).
        knob (str): ``guidance`` (γ > 1 mode-seeking; ``steps`` fixed) or ``steps`` (Euler steps; γ = 1).
        value (float): γ in [0, inf) or a number of steps in [1, inf).
        steps (int): Euler steps when the knob is ``guidance``.
        estimator_rep (int): in [0, inf); fresh estimator noise on the same base (see :class:`ARCell`).
    """

    preset: str = "smoke"
    knob: str = "guidance"
    value: float = 2.0
    steps: int = 20
    estimator_rep: int = 0

    def __post_init__(self):
        check_choice("preset", self.preset, official.PRESETS)
        check_choice("knob", self.knob, ("guidance", "steps"))
        if self.knob == "guidance":
            check_real("value", self.value, 0.0, math.inf)
        else:
            _integral(self, "value")
            check_int("value", self.value, lo=1)
        check_int("steps", self.steps, lo=1)
        check_int("estimator_rep", self.estimator_rep, lo=0)

    def sampler(self):
        from neon_theory.samplers import Chain, Guidance, Steps

        if self.knob == "guidance":
            return Chain((Steps(self.steps, "euler"), Guidance(self.value)))
        return Chain((Steps(int(self.value), "euler"), Guidance(1.0)))


@_per_device(16)
def _flow_probe(preset: str, seed: int, rep: int):
    from types import SimpleNamespace

    from neon_theory.neon import fit

    from .._conditional import TimeMLP
    from ..flow import FlowModel
    from ..gmm import two_class

    size = SimpleNamespace(**FLOW_PRESETS[preset])
    target = two_class()

    def labelled(n, name):
        x, y = target.sample_with_labels(n, generator(seed, name))
        return torch.cat([x, y[:, None].to(x.dtype)], -1).float()

    torch.manual_seed(child_seed(seed, "flow-init"))
    model = FlowModel(TimeMLP(2, hidden=64, depth=3, num_classes=2))
    fit(model, labelled(size.n_base, "flow-real"), steps=size.base_steps, lr=size.base_lr, batch_size=size.base_batch, generator=generator(seed, "flow-base"))
    stream = functools.partial(official.estimator_stream, rep=rep)
    pop = labelled(size.n_pop, stream("flow-pop"))
    P, edges = official.blocked_adam_probe(model, pop, size, seed, lambda name: stream(f"flow-{name}"))

    def synthetic_of(cell: FlowCell):
        return model.sample(size.n_pop, cell.sampler(), generator(seed, stream(f"flow-S/{cell.knob}/{cell.value}")))

    return official.CosineProbe(model, pop, synthetic_of, size, seed, P, "cell", rep, edges)


@experiment("flow-cell", config=FlowCell, results=results_of(*PROBE_RESULTS, "sharpening"))
def flow_cell(cfg: FlowCell, seed: int) -> dict:
    sampler = cfg.sampler()
    return {"sharpening": sampler.sharpening().value, **_probe_record(_flow_probe(cfg.preset, seed, cfg.estimator_rep).rows((cfg,))[0], sampler.is_neutral())}


def clear_caches() -> None:
    """Drop the memoised base models (e.g. before timing, so every run starts cold)."""
    for cached in (_ar_base, _ar_theta_s, _ar_probe, _diffusion_base, _diffusion_theta_s, _diffusion_probe, _flow_probe):
        cached.cache_clear()


# ---- paper Fig. 2 ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaneCell:
    """The Fig. 2 plane (AR toy) for one seed at a preset of :class:`~toy_models.drivers.official.PlaneConfig`.

    Attributes:
        preset (str): ``smoke`` | ``reduced`` | ``paper`` (the plane's grid and the AR toy's sizes).
    """

    preset: str = "smoke"

    def __post_init__(self):
        check_choice("preset", self.preset, official.PRESETS)


@experiment("plane-cell", config=PlaneCell, results=results_of(
    w_s="the plane's w_s (the Neon axis) of each point",
    w_o="the plane's w_o (the 4x-more-real-data axis) of each point",
    log10_w2="log10 of the Wasserstein-2 distance to the target at each point",
    base="log10 W2 of the base model (w_s = w_o = 0)",
    neon_axis_best="the best log10 W2 on the Neon axis (w_o = 0)",
    neon_axis_best_w_s="the w_s where it is reached",
    real_axis_best="the best log10 W2 on the real-data axis (w_s = 0)",
    real_axis_best_w_o="the w_o where it is reached",
    plane_best="the best log10 W2 on the whole plane",
    plane_best_at="the (w_s, w_o) where it is reached",
    neon_matches_real="true when the Neon axis reaches a log10 W2 at least as low as the real-data axis",
))
def plane_cell(cfg: PlaneCell, seed: int) -> dict:
    df = official.run_plane(official.PlaneConfig.preset(cfg.preset), seed)
    return {"w_s": df.w_s.tolist(), "w_o": df.w_o.tolist(), "log10_w2": df.log10_w2.tolist(), **official.plane_summary(df)}
