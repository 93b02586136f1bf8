"""Self-consuming loops on the official diffusion toy (``diffusion-loop-cell``): the mixture's loops
(``mixture-loop-cell``) carried to a trained network whose law has no closed form.

Generation 0 is the toy's base θ_r (``diffusion-cell``'s, trained on the seed's 1,000 real rows).
Generation g + 1 starts from generation g and is trained on its set by full-batch Adam at the base's
learning rate for ``steps_per_generation`` steps: a tenth of the base's by default, a warm start, since
retraining the MLP from scratch for the base's 10,000 steps would cost ten times the training.  Each
generation is measured with the toy's FD sampler (20-step DDIM at ζ = 1, as ``diffusion_fd_metric``;
on that finite grid still a little mode-seeking): the FD to the target on the
toy's evaluation points (one evaluation stream for every generation and form), the population
denoising loss, and prdc precision and recall against fresh target rows.  No exact population
gradient exists for this network, so no s is logged (``diffusion-cell`` holds the probe's s).
"""

from __future__ import annotations

from dataclasses import dataclass

from neon_theory.checks import check_choice, check_int, check_real
from neon_theory.loops import LOOP_FORMS
from neon_theory.rng import child_seed
from neon_theory.run.experiments import experiment
from neon_theory.sampler_text import parse_sampler
from neon_theory.samplers import ScoreScale

from ..common import clean, results_of, sampler_field
from ..presets import PRESETS

#: rows of each generation's draws and of the fresh target rows prdc compares them with
PRDC_ROWS = 2000


@dataclass(frozen=True)
class DiffusionLoopCell:
    """A self-consuming loop on the official diffusion toy, for one seed.

    Attributes:
        preset (str): ``smoke`` | ``reduced`` | ``paper`` (the diffusion toy's sizes).
        sampler (str): ``score-scale=ζ`` inside x̂₀, the sampler-bias knob of the draws each generation
            trains on (ζ > 1 mode-seeking; the toy's published ζ are 0.9 and 1.1).
        form (str): ``replace``, ``accumulate`` or ``fresh`` (:data:`neon_theory.loops.LOOP_FORMS`).
        generations (int): retrainings after the base (generation 0), in [1, 50].
        fresh_fraction (float): the share of fresh real rows in a ``fresh`` loop, in [0, 1] (1: real data only, the control).
        steps_per_generation (int | None): Adam steps of each warm-started generation, in [1, inf); None: a tenth of the base's.
        stream (int): in [0, inf); an independent replicate of the loop's draws on the same base.
    """

    preset: str = "smoke"
    sampler: str = "score-scale=1.1"
    form: str = "replace"
    generations: int = 5
    fresh_fraction: float = 0.5
    steps_per_generation: int | None = None
    stream: int = 0

    def __post_init__(self):
        check_choice("preset", self.preset, PRESETS)
        if sampler_field(self, allowed=(ScoreScale,)).where != "x0":
            raise ValueError(f"sampler {self.sampler!r}: DiffusionLoopCell takes one score scale inside x̂₀ (score-scale=ZETA)")
        check_choice("form", self.form, tuple(LOOP_FORMS))
        check_int("generations", self.generations, lo=1, hi=50)
        check_real("fresh_fraction", self.fresh_fraction, 0.0, 1.0)
        if self.steps_per_generation is not None:
            check_int("steps_per_generation", self.steps_per_generation, lo=1)
        check_int("stream", self.stream, lo=0)

    def steps(self, base_steps: int) -> int:
        """Adam steps a generation trains for."""
        return max(1, base_steps // 10) if self.steps_per_generation is None else self.steps_per_generation


@experiment("diffusion-loop-cell", config=DiffusionLoopCell, results=results_of(
    fd_by_generation="the FD to the target of each generation's zeta = 1 DDIM draws (0 = the base), on one evaluation stream",
    loss_by_generation="the population denoising loss of each generation (regressed on the exact E[eps | x_t]: the loss up to a constant)",
    precision_by_generation="prdc precision of each generation's zeta = 1 draws", recall_by_generation="prdc recall of each generation's zeta = 1 draws",
    n_train_by_generation="rows each generation was trained on",
    fd_change="the last generation's FD minus the base's (positive: the loop degraded the model)",
    loss_change="the last generation's population loss minus the base's",
    steps_per_generation_used="Adam steps each warm-started generation trained for",
))
def diffusion_loop_cell(cfg: DiffusionLoopCell, seed: int) -> dict:
    import torch

    from neon_theory.loops import LoopSpec, self_consuming_loop
    from neon_theory.metrics import precision_recall
    from neon_theory.neon import fit, working_copy
    from neon_theory.rng import generator
    from neon_theory.samplers import Steps
    from toy_models.gmm import official_gaussian

    from ..official_diffusion.cells import _diffusion_base
    from ..official_diffusion.toy import DiffusionToyConfig, diffusion_fd_metric, diffusion_loss_metric, diffusion_sampler, training_set

    toy = DiffusionToyConfig.preset(cfg.preset)
    zeta = float(parse_sampler(cfg.sampler).zeta)
    steps = cfg.steps(toy.base_steps)
    fd, loss, target = diffusion_fd_metric(toy), diffusion_loss_metric(toy), official_gaussian()
    eval_seed = child_seed(seed, "loop-eval")  # every generation and form meets the same evaluation noise
    tag = f"loop/{cfg.stream}/{zeta}"
    streams = lambda name: generator(seed, f"{tag}/{name}")  # noqa: E731  (the loop's forms share draws on one stream)
    real_rows = target.sample(PRDC_ROWS, generator(seed, "prdc-real")).float()

    def train(data, g, previous):  # generation 0 is the base every cell of the seed shares
        if g == 0:
            return _diffusion_base(cfg.preset, seed)
        model = working_copy(previous)
        fit(model, data, steps=steps, lr=toy.base_lr, generator=generator(seed, f"{tag}/fit/{g}"))
        return model

    def evaluate(model):
        with torch.no_grad():
            draws = model.sample(PRDC_ROWS, Steps(toy.sample_steps, "ddim", eta=toy.eta), generator(seed, "prdc-draws"))
        precision, recall = precision_recall(real_rows, draws)
        at = lambda: torch.Generator().manual_seed(eval_seed)  # noqa: E731
        return {"fd": float(fd(model, at())), "loss": float(loss(model, at())), "precision": precision, "recall": recall}

    records = self_consuming_loop(
        training_set(toy, seed), LoopSpec(cfg.form, cfg.generations, toy.n_base, cfg.fresh_fraction), train=train,
        sample=lambda m, n, g: m.sample(n, diffusion_sampler(toy, zeta), g), evaluate=evaluate,
        fresh_real=lambda n, g: target.sample(n, g).float(), streams=streams,
    )
    out = {f"{k}_by_generation": [r[k] for r in records] for k in ("fd", "loss", "precision", "recall", "n_train")}
    out.update(fd_change=records[-1]["fd"] - records[0]["fd"], loss_change=records[-1]["loss"] - records[0]["loss"], steps_per_generation_used=steps)
    return clean(out)
