"""The official AR toy's cell: the P-cosine, Brent's best w on the FD, and FD / precision / recall along w (``ar-cell``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neon_theory.checks import check_bool, check_choice, check_int
from neon_theory.rng import child_seed, generator
from neon_theory.run.experiments import experiment
from neon_theory.sampler_text import parse_sampler, sampler_text
from neon_theory.samplers import Temperature, density_to_std_temperature
from toy_models.autoregressive import SAMPLERS as AR_SAMPLERS
from toy_models.gmm import official_gaussian

from ..common import (
    AUTO_BATCHES,
    AUTO_RESULTS,
    BEST_FD_RESULTS,
    BEST_LOSS_RESULTS,
    LOSS_XTOL,
    PROBE_RESULTS,
    adam_directions,
    auto_record,
    best_loss_record,
    check_ws,
    clean,
    direction_record,
    direction_results,
    per_device,
    probe_record,
    results_of,
    sampler_field,
)
from ..presets import PRESETS
from .toy import ARToyConfig, ar_base, ar_cosine_probe, ar_fd_metric, ar_finetune, ar_loss_metric, ar_synthetic_set


@per_device(16)
def _ar_base(preset: str, seed: int):
    return ar_base(ARToyConfig.preset(preset), seed)


@per_device(64)
def _ar_theta_s(preset: str, seed: int, tau: float, n_synthetic: int | None):
    return ar_finetune(_ar_base(preset, seed), ARToyConfig.preset(preset), seed, tau, n_synthetic)


@per_device(16)
def _ar_probe(preset: str, seed: int, rep: int):
    return ar_cosine_probe(_ar_base(preset, seed), ARToyConfig.preset(preset), seed, rep)


@dataclass(frozen=True)
class ARCell:
    """The official AR toy at one (τ, budget, |S|) for one seed.

    Attributes:
        preset (str): ``smoke`` | ``reduced`` | ``paper`` (sizes of :class:`~studies.official_ar.toy.ARToyConfig`).
        sampler (str): a temperature in the text syntax: ``std-temperature=τ`` (σ → τσ, the
            notebook's) or ``temperature=T`` (p^(1/T); τ = √T for this Gaussian toy).
        ft_epochs (int | None): fine-tuning epochs (the budget); None = the preset's first.
        n_synthetic (int | None): |S|; None = the preset's.
        cosine (bool): also measure the P-cosine (Adam P, CRN) at τ.
        best_w (bool): also run Brent on the FD and on the population NLL (``loss_rows`` fixed rows).
        auto_w (bool): also choose w without a metric search (:func:`neon_theory.autow.auto_w`, both
            variants, on ``loss_rows`` fresh real draws in 20 batches), with the FD and the NLL there.
        directions (bool): also merge along the other directions of :data:`neon_theory.directions.DIRECTION_ARMS`
            (the exact −αP r_s with Adam's P from the probe's quadrature; one full-batch Adam step on S
            at lr α; a random direction), each scaled to the step's norm, with Brent's best w on the
            population NLL and the FD along each.
        w_values (tuple): w at which to report FD, precision and recall.
        n_pr (int): samples per side for precision/recall (prdc, k = 5).
        estimator_rep (int): in [0, inf); the P-cosine's estimator noise (population and
            synthetic draws, Adam minibatches, loss noise) on the same base model: 0 is the
            standard, other values repeat the estimate with fresh noise.
    """

    preset: str = "smoke"
    sampler: str = "std-temperature=0.5"
    ft_epochs: int | None = None
    n_synthetic: int | None = None
    cosine: bool = True
    best_w: bool = True
    auto_w: bool = False
    directions: bool = False
    w_values: tuple = ()
    n_pr: int = 2000
    estimator_rep: int = 0

    RENAMED = {"tau": "write sampler: std-temperature=TAU"}

    def __post_init__(self):
        check_choice("preset", self.preset, PRESETS)
        spec = sampler_field(self, AR_SAMPLERS, allowed=(Temperature,))
        if not isinstance(spec, Temperature):
            raise ValueError(f"sampler {self.sampler!r}: ARCell takes one temperature (std-temperature=TAU or temperature=T)")
        if spec.convention != "std":  # one spelling per sampler: one cache key, one column (tau)
            object.__setattr__(self, "sampler", sampler_text(Temperature(density_to_std_temperature(spec.value), "std")))
        if self.ft_epochs is not None:
            check_int("ft_epochs", self.ft_epochs, lo=1)
        if self.n_synthetic is not None:
            check_int("n_synthetic", self.n_synthetic, lo=2)
        check_ws("w_values", self.w_values)
        for name in ("cosine", "best_w", "auto_w", "directions"):
            check_bool(name, getattr(self, name))
        check_int("n_pr", self.n_pr, lo=10)
        check_int("estimator_rep", self.estimator_rep, lo=0)


    @property
    def tau(self) -> float:
        """The sampler as a std temperature τ (the toy's streams and fine-tuning sets are named by it)."""
        return parse_sampler(self.sampler).value

def _fd_and_precision_recall(toy, n_pr: int, seed: int, log: list):
    """A metric for :func:`w_sweep`: returns the FD on ``n_eval`` samples and logs prdc precision
    and recall (k = 5) of the first ``n_pr`` of the same samples against fixed truth samples."""
    from neon_theory.metrics import frechet_distance_from_samples, precision_recall
    target = official_gaussian()
    real = target.sample(n_pr, generator(seed, "pr-real"))

    def metric(model, g):
        x = model.sample(max(toy.n_eval, n_pr), Temperature(1.0, "std"), g).double()
        if not bool(torch.isfinite(x).all()):
            log.append((math.nan, math.nan))
            return 1e6
        log.append(precision_recall(real, x[:n_pr]))
        return frechet_distance_from_samples(x[: toy.n_eval], target.mean(), target.cov())

    return metric


@experiment("ar-cell", config=ARCell, results=results_of(
    *PROBE_RESULTS, *BEST_FD_RESULTS, *BEST_LOSS_RESULTS, *AUTO_RESULTS, "alpha", "fd_at_w", "precision_at_w", "recall_at_w",
    loss_at_auto="the population NLL at auto_w (loss_rows fixed target rows)", fd_at_auto="the FD at auto_w (the best-w search's evaluation noise)",
    loss_at_auto_three_point="the population NLL at auto_w_three_point", fd_at_auto_three_point="the FD at auto_w_three_point",
    **direction_results({"loss": "the population NLL", "fd": "the FD"}),
    ft_epochs_used="the fine-tuning epochs used (ft_epochs, or the preset's first)",
    n_synthetic_used="|S| used (n_synthetic, or the preset's)",
))
def ar_cell(cfg: ARCell, seed: int) -> dict:
    from neon_theory.neon import brent_best_w, w_sweep

    toy = ARToyConfig.preset(cfg.preset)
    epochs = toy.ft_epochs[0] if cfg.ft_epochs is None else cfg.ft_epochs
    model = _ar_base(cfg.preset, seed)
    n_s = toy.n_synthetic if cfg.n_synthetic is None else cfg.n_synthetic
    out = {"ft_epochs_used": epochs, "n_synthetic_used": n_s, "alpha": toy.ft_lr * epochs * math.ceil(n_s / toy.ft_batch)}
    if cfg.cosine:
        out.update(probe_record(_ar_probe(cfg.preset, seed, cfg.estimator_rep).rows_at((cfg.tau,))[0], parse_sampler(cfg.sampler).is_neutral()))
    if not (cfg.best_w or cfg.w_values or cfg.auto_w or cfg.directions):
        return clean(out)
    if epochs in toy.ft_epochs:  # the preset's budgets come from one fine-tuning run, shared across cells
        theta_s = _ar_theta_s(cfg.preset, seed, cfg.tau, cfg.n_synthetic)[epochs]
    else:
        toy = ARToyConfig(**{**toy.to_dict(), "ft_epochs": (epochs,)})
        theta_s = ar_finetune(model, toy, seed, cfg.tau, cfg.n_synthetic)[epochs]
    metric, loss_metric = ar_fd_metric(toy), ar_loss_metric(toy)  # the loss's 2^18 target rows drawn once a cell
    eval_seed = child_seed(seed, f"eval/{cfg.tau}/{epochs}")
    if cfg.best_w:
        best = brent_best_w(model, theta_s, metric, bracket=toy.bracket, xtol=toy.xtol, eval_seed=eval_seed)
        out.update(best_w=best.w, best_fd=best.value, base_fd=best.base_value, gain=best.gain, at_boundary=best.at_boundary)
        out.update(best_loss_record(model, theta_s, loss_metric, toy, eval_seed))
    if cfg.auto_w:
        line = {"n": toy.loss_rows, "n_batches": AUTO_BATCHES, "seed": child_seed(seed, f"auto/{cfg.tau}/{epochs}")}
        out.update(auto_record(model, theta_s, official_gaussian(), {"loss": (loss_metric, eval_seed), "fd": (metric, eval_seed)}, line))
    if cfg.directions:
        searches = {"loss": (toy.loss_bracket, LOSS_XTOL), "fd": (toy.bracket, toy.xtol)}
        metrics = {"loss": (loss_metric, eval_seed), "fd": (metric, eval_seed)}
        directions = adam_directions(model, theta_s, _ar_probe(cfg.preset, seed, cfg.estimator_rep), cfg.tau,
                                     ar_synthetic_set(model, toy, seed, cfg.tau, cfg.n_synthetic), out["alpha"], seed, epochs)
        out.update(direction_record(model, directions, metrics, searches,
                                    {"step": epochs * math.ceil(n_s / toy.ft_batch) * min(toy.ft_batch, n_s), "one-step": n_s}))
    if cfg.w_values:
        log: list = []
        pr_metric = _fd_and_precision_recall(toy, cfg.n_pr, seed, log)
        out["fd_at_w"] = list(w_sweep(model, theta_s, cfg.w_values, pr_metric, eval_seed=eval_seed).values)
        out["precision_at_w"] = [p for p, _ in log]
        out["recall_at_w"] = [r for _, r in log]
    return clean(out)
