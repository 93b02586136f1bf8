"""The official diffusion toy's cell: the P-cosine at a score scale ζ and Brent's best w on the FD (``diffusion-cell``)."""

from __future__ import annotations

from dataclasses import dataclass

from neon_theory.checks import check_bool, check_choice, check_int
from neon_theory.rng import child_seed
from neon_theory.run.experiments import experiment
from neon_theory.sampler_text import parse_sampler
from neon_theory.samplers import ScoreScale
from toy_models.diffusion import PosteriorTargetDiffusion
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
    clean,
    direction_record,
    direction_results,
    per_device,
    probe_record,
    results_of,
    sampler_field,
)
from ..presets import PRESETS
from .toy import (
    DiffusionToyConfig,
    diffusion_base,
    diffusion_cosine_probe,
    diffusion_fd_metric,
    diffusion_finetune,
    diffusion_loss_metric,
    diffusion_sampler,
    diffusion_synthetic_set,
    training_spread,
)


@per_device(16)
def _diffusion_base(preset: str, seed: int):
    return diffusion_base(DiffusionToyConfig.preset(preset), seed)


@per_device(16)
def _diffusion_probe(preset: str, seed: int, rep: int):
    return diffusion_cosine_probe(_diffusion_base(preset, seed), DiffusionToyConfig.preset(preset), seed, rep)


@per_device(32)
def _diffusion_theta_s(preset: str, seed: int, zeta: float):
    return diffusion_finetune(_diffusion_base(preset, seed), DiffusionToyConfig.preset(preset), seed, zeta)


@dataclass(frozen=True)
class DiffusionCell:
    """The official diffusion toy at one score scale ζ (ζ > 1 mode-seeking) for one seed.

    Attributes:
        preset (str): ``smoke`` | ``reduced`` | ``paper``.
        sampler (str): ``score-scale=ζ`` in the text syntax (ζ inside x̂₀, the notebook's); the
            preset's DDIM grid is the rest of the chain.
        ft_steps (int | None): fine-tuning steps (the budget), one of the preset's ``ft_steps``;
            None = the preset's first.
        cosine (bool): measure the P-cosine (Adam P, CRN) at ζ.
        best_w (bool): also self-train on S drawn at ζ and run Brent on the FD and on the
            population denoising loss.
        auto_w (bool): also choose w without a metric search (:func:`neon_theory.autow.auto_w`, both
            variants, on ``loss_rows`` fresh real draws in 20 batches), with the FD and the loss there.
        directions (bool): also merge along the other directions of :data:`neon_theory.directions.DIRECTION_ARMS`
            (−αP r_s from the probe's P and r_s at ζ; one full-batch Adam step on S at lr α; a random
            direction), each scaled to the step's norm, with Brent's best w on the loss and the FD along each.
        estimator_rep (int): in [0, inf); fresh estimator noise on the same base (see :class:`ARCell`).
    """

    preset: str = "smoke"
    sampler: str = "score-scale=1.1"
    ft_steps: int | None = None
    cosine: bool = True
    best_w: bool = False
    auto_w: bool = False
    directions: bool = False
    estimator_rep: int = 0

    RENAMED = {"zeta": "write sampler: score-scale=ZETA"}

    def __post_init__(self):
        check_choice("preset", self.preset, PRESETS)
        spec = sampler_field(self, allowed=(ScoreScale,))
        if not isinstance(spec, ScoreScale) or spec.where != "x0":
            raise ValueError(f"sampler {self.sampler!r}: DiffusionCell takes one score scale inside x̂₀ (score-scale=ZETA)")
        if self.ft_steps is not None:
            budgets = DiffusionToyConfig.preset(self.preset).ft_steps
            check_choice("ft_steps", check_int("ft_steps", self.ft_steps, lo=1), budgets)
        check_int("estimator_rep", self.estimator_rep, lo=0)
        for name in ("cosine", "best_w", "auto_w", "directions"):
            check_bool(name, getattr(self, name))


    @property
    def zeta(self) -> float:
        """The score scale ζ (the toy's streams and fine-tuning sets are named by it)."""
        return parse_sampler(self.sampler).zeta

@experiment("diffusion-cell", config=DiffusionCell, results=results_of(
    *PROBE_RESULTS, *BEST_FD_RESULTS, *BEST_LOSS_RESULTS, *AUTO_RESULTS, ft_steps_used="the fine-tuning steps used (ft_steps, or the preset's first)",
    loss_at_auto="the population denoising loss at auto_w (the best_w_loss search's rows and noise)", fd_at_auto="the FD at auto_w (the best-w search's noise)",
    loss_at_auto_three_point="the population denoising loss at auto_w_three_point", fd_at_auto_three_point="the FD at auto_w_three_point",
    **direction_results({"loss": "the population denoising loss", "fd": "the FD"}),
    train_var_major="the training set's variance along (1, 1)/sqrt(2) over the target's (3): below 1, the base is trained too sharp there",
    train_var_minor="the training set's variance along (1, -1)/sqrt(2) over the target's (1)",
))
def diffusion_cell(cfg: DiffusionCell, seed: int) -> dict:
    from neon_theory.neon import brent_best_w

    toy = DiffusionToyConfig.preset(cfg.preset)
    out = training_spread(toy, seed)  # the base model's error direction, which the sign law says decides the sign of s
    if cfg.cosine:
        # the whole sampler decides: ζ = 1 on a finite DDIM grid is still mode-seeking (the paper
        # reads the toy's negative cosine at ζ = 1 as discretisation), so it is a measurement, not noise
        neutral = diffusion_sampler(toy, cfg.zeta).is_neutral()
        out.update(probe_record(_diffusion_probe(cfg.preset, seed, cfg.estimator_rep).rows_at((cfg.zeta,))[0], neutral))
    if not (cfg.best_w or cfg.auto_w or cfg.directions):
        return clean(out)
    steps = toy.ft_steps[0] if cfg.ft_steps is None else cfg.ft_steps
    model, theta_s = _diffusion_base(cfg.preset, seed), _diffusion_theta_s(cfg.preset, seed, cfg.zeta)[steps]
    on_fd = (diffusion_fd_metric(toy), child_seed(seed, f"eval/{cfg.zeta}/{steps}"))
    on_loss = (diffusion_loss_metric(toy), child_seed(seed, f"eval-loss/{cfg.zeta}/{steps}"))
    out["ft_steps_used"] = steps
    if cfg.best_w:
        best = brent_best_w(model, theta_s, on_fd[0], bracket=toy.bracket, xtol=toy.xtol, eval_seed=on_fd[1])
        out.update(best_w=best.w, best_fd=best.value, base_fd=best.base_value, gain=best.gain, at_boundary=best.at_boundary)
        out.update(best_loss_record(model, theta_s, on_loss[0], toy, on_loss[1]))
    if cfg.auto_w:  # differentiated through the loss regressed on E[eps | x_t]: the same derivatives in expectation, far less noise
        line = {"n": toy.loss_rows, "n_batches": AUTO_BATCHES, "seed": child_seed(seed, f"auto/{cfg.zeta}/{steps}")}
        target = official_gaussian()
        out.update(auto_record(model, theta_s, target, {"loss": on_loss, "fd": on_fd}, line, loss_model=PosteriorTargetDiffusion(model, target)))
    if cfg.directions:
        alpha = toy.ft_lr * steps
        searches = {"loss": (toy.bracket, LOSS_XTOL), "fd": (toy.bracket, toy.xtol)}
        rows = toy.n_pop * toy.noise_draws if toy.cos_estimator == "plain" else toy.rqmc_rows
        compute = {"step": steps * toy.n_synthetic, "first-order": rows, "one-step": toy.n_synthetic}
        directions = adam_directions(model, theta_s, _diffusion_probe(cfg.preset, seed, cfg.estimator_rep), cfg.zeta,
                                     diffusion_synthetic_set(model, toy, seed, cfg.zeta), alpha, seed, steps)
        out.update(direction_record(model, directions, {"loss": on_loss, "fd": on_fd}, searches, compute))
    return clean(out)
