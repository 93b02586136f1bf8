"""Neon beside its neighbours: score-space self-guidance, a random direction, self-consuming loops, and
the budget as the summed learning rate (``mixture-neighbours-cell``, ``mixture-loop-cell``,
``diffusion-neighbours-cell``)."""

from __future__ import annotations

from dataclasses import dataclass

from neon_theory.checks import check_bool, check_choice, check_int, check_real
from neon_theory.loops import LOOP_FORMS
from neon_theory.neon import LR_SCHEDULES
from neon_theory.rng import child_seed
from neon_theory.run.experiments import experiment
from neon_theory.sampler_text import parse_sampler
from neon_theory.samplers import ScoreScale, Temperature

from ..common import POSITIVE, best_loss_record, clean, direction_record, direction_results, per_device, random_directions, results_of, sampler_field
from ..presets import PRESETS
from .toy import MixtureToyConfig


@per_device(16)
def _mixture_base(preset: str, seed: int):
    from .toy import mixture_base

    return mixture_base(MixtureToyConfig.preset(preset), seed)


def _theta_model(model, state):
    """A working copy of ``model`` at the state dict ``state`` (θ_s, for the guidance's second score)."""
    from neon_theory.neon import working_copy

    other = working_copy(model)
    other.module.load_state_dict(state)
    return other


def guidance_record(sample_metric, base_sampler, self_sampler, eval_seed: int, bracket: tuple, xtol: float) -> dict:
    """Brent's best guidance weight ω for (1 + ω) ε̂_base − ω ε̂_self on a sample metric (the FD, the W₂),
    with the evaluation noise of the merge's search on it (``eval_seed``), so Neon and the guidance meet the same draws."""
    import torch

    from neon_theory.neon import brent_minimize
    from toy_models.diffusion import SelfGuidedDiffusion

    def metric_at(omega: float) -> float:
        return float(sample_metric(SelfGuidedDiffusion(base_sampler, self_sampler, omega), torch.Generator().manual_seed(eval_seed)))

    best = brent_minimize(metric_at, bracket=bracket, xtol=xtol)
    return {"guidance_best_omega": best.w, "guidance_gain": best.gain, "guidance_best": best.value, "guidance_at_boundary": best.at_boundary}


GUIDANCE_RESULTS = {
    "guidance_best_omega": "Brent's best omega of the score-space self-guidance (1 + omega) eps_base - omega eps_self on the sample metric "
                           "(SIMS-style; the FD on the diffusion toy, the W2 on the mixture)",
    "guidance_gain": "the sample metric of the base minus that at the best omega (the merge's evaluation noise)",
    "guidance_best": "the sample metric at the best omega",
    "guidance_at_boundary": "true when the best omega lies at an edge of its bracket",
    "sampling_evals_neon": "network (score) evaluations per draw of the merged model: the sampler's steps",
    "sampling_evals_guidance": "network (score) evaluations per draw of the guided sampler: twice the steps",
    "train_examples": "per-example gradients of the fine-tuning both arms share (steps x |S| for full batch)",
}


@dataclass(frozen=True)
class MixtureNeighboursCell:
    """Neon on the exact 2-D mixture beside its neighbours, for one seed.

    Attributes:
        preset (str): ``smoke`` | ``reduced`` | ``paper`` (:class:`~studies.neighbours.toy.MixtureToyConfig`).
        sampler (str): ``std-temperature=τ`` (each component's std × τ; τ < 1 mode-seeking), τ in (0, inf).
        schedule (str): the fine-tune's learning-rate schedule, ``constant`` or ``ramp`` (:data:`neon_theory.neon.LR_SCHEDULES`).
        lr (float | None): the fine-tune's peak rate, in (0, inf); None: the preset's ``ft_lr``.
        arms (bool): also Neon's best w on the FD, the two random directions (NLL and FD) and the
            score-space self-guidance's best ω on the FD; False: Neon on the NLL only (the budget cells).
    """

    preset: str = "smoke"
    sampler: str = "std-temperature=0.7"
    schedule: str = "constant"
    lr: float | None = None
    arms: bool = True

    def __post_init__(self):
        check_choice("preset", self.preset, PRESETS)
        spec = sampler_field(self, allowed=(Temperature,))
        if spec.convention != "std":
            raise ValueError(f"sampler {self.sampler!r}: MixtureNeighboursCell takes one std-temperature=TAU")
        check_choice("schedule", self.schedule, tuple(LR_SCHEDULES))
        if self.lr is not None:
            check_real("lr", self.lr, *POSITIVE, lo_open=True)
        check_bool("arms", self.arms)


@experiment("mixture-neighbours-cell", config=MixtureNeighboursCell, results=results_of(
    "s", "cosine", "alpha", "best_w_loss", "best_loss", "base_loss", "gain_loss", "at_boundary_loss",
    **GUIDANCE_RESULTS,
    **direction_results({"nll": "the population NLL", "w2": "the W2 (POT, two finite samples) of the exact-score DDIM sampler's draws to QMC truth rows"}),
    step_cosine="cos(Delta, -r_s): how well the realised step is the first-order step (SGD: P = I)",
    w_alpha="the best w on the NLL times alpha (the merge's reach in summed-learning-rate units: equal across schedules if the summed rate is the budget)",
    precision_base="prdc precision of the base's exact-score DDIM draws", recall_base="prdc recall of those draws",
    precision_neon="prdc precision at Neon's best w on the W2", recall_neon="prdc recall there",
    precision_guidance="prdc precision at the guidance's best omega", recall_guidance="prdc recall there",
))
def mixture_neighbours_cell(cfg: MixtureNeighboursCell, seed: int) -> dict:
    from neon_theory.neon import self_train, step_displacement
    from neon_theory.rng import generator

    from .toy import exact_s, exact_score_sampler, nll_metric, w2_of

    toy = MixtureToyConfig.preset(cfg.preset)
    tau = float(parse_sampler(cfg.sampler).value)
    model = _mixture_base(cfg.preset, seed)
    S = model.sample(toy.n_synthetic, Temperature(tau, "std"), generator(seed, f"S/{tau}"))
    lr = toy.ft_lr if cfg.lr is None else cfg.lr
    st = self_train(model, S, steps=toy.ft_steps, lr=lr, optimizer="sgd", schedule=cfg.schedule, generator=generator(seed, f"ft/{tau}"))
    exact = exact_s(toy, model, tau)
    delta = step_displacement(model, st.state_dict)
    r_s = exact.pop("r_s").to(delta)
    out = {**exact, "alpha": st.alpha, "step_cosine": float(-(delta @ r_s) / (delta.norm() * r_s.norm()))}
    if Temperature(tau, "std").is_neutral():  # r_s = 0 in population at the model's own law: s is QMC noise there
        out.update(s=None, cosine=None, step_cosine=None)
    nll = nll_metric(toy)
    out.update(best_loss_record(model, st.state_dict, nll, toy, 0))
    out["w_alpha"] = out["best_w_loss"] * st.alpha
    if not cfg.arms:
        return clean(out)
    w2, eval_seed = w2_of(toy), child_seed(seed, f"eval/{tau}")
    directions = {"step": delta, **random_directions(delta, seed, f"nb-random/{tau}")}
    searches = {"nll": (toy.bracket, toy.xtol), "w2": (toy.bracket, toy.xtol)}
    out.update(direction_record(model, directions, {"nll": (nll, 0), "w2": (w2, eval_seed)}, searches, {"step": toy.ft_steps * toy.n_synthetic}))
    base_sampler, self_sampler = exact_score_sampler(model), exact_score_sampler(_theta_model(model, st.state_dict))
    out.update(guidance_record(w2_of(toy, sampler_of=lambda m: m), base_sampler, self_sampler, eval_seed, toy.bracket, toy.xtol))
    out.update(sampling_evals_neon=toy.ddim_steps, sampling_evals_guidance=2 * toy.ddim_steps, train_examples=toy.ft_steps * toy.n_synthetic)
    out.update(_precision_recall(toy, seed, model, st.state_dict, out, base_sampler, self_sampler))
    return clean(out)


def _precision_recall(toy, seed: int, model, theta_s, out: dict, base_sampler, self_sampler) -> dict:
    """prdc precision and recall of the base, of Neon at its best w on the W₂ and of the guidance at its best ω (one initial noise for all three)."""
    from neon_theory.neon import merge
    from neon_theory.rng import generator
    from toy_models.diffusion import SelfGuidedDiffusion

    from .toy import exact_score_sampler, precision_recall

    def draws(sampler):
        return sampler.sample(toy.prdc_rows, toy.sampler, generator(seed, "prdc-draws"))

    merged = _theta_model(model, merge(model.module.state_dict(), theta_s, out["dir_step_best_w_w2"]))
    samplers = {"base": base_sampler, "neon": exact_score_sampler(merged),
                "guidance": SelfGuidedDiffusion(base_sampler, self_sampler, out["guidance_best_omega"])}
    res = {}
    for name, sampler in samplers.items():
        pr = precision_recall(toy, draws(sampler), seed)
        res.update({f"precision_{name}": pr["precision"], f"recall_{name}": pr["recall"]})
    return res


@dataclass(frozen=True)
class MixtureLoopCell:
    """A self-consuming loop on the exact 2-D mixture, for one seed: every generation refitted from scratch
    (the base's recipe) on its training set (:func:`neon_theory.loops.self_consuming_loop`).

    Attributes:
        preset (str): ``smoke`` | ``reduced`` | ``paper``.
        sampler (str): ``std-temperature=τ``, the sampler-bias knob (τ < 1 mode-seeking).
        form (str): ``replace``, ``accumulate`` or ``fresh`` (:data:`neon_theory.loops.LOOP_FORMS`).
        generations (int): retrainings after the base (generation 0), in [1, 50].
        fresh_fraction (float): the share of fresh real rows in a ``fresh`` loop, in [0, 1] (1: real data only, the control).
        stream (int): in [0, inf); an independent replicate of the loop's draws on the same base.
    """

    preset: str = "smoke"
    sampler: str = "std-temperature=0.7"
    form: str = "replace"
    generations: int = 5
    fresh_fraction: float = 0.5
    stream: int = 0

    def __post_init__(self):
        check_choice("preset", self.preset, PRESETS)
        spec = sampler_field(self, allowed=(Temperature,))
        if spec.convention != "std":
            raise ValueError(f"sampler {self.sampler!r}: MixtureLoopCell takes one std-temperature=TAU")
        check_choice("form", self.form, tuple(LOOP_FORMS))
        check_int("generations", self.generations, lo=1, hi=50)
        check_real("fresh_fraction", self.fresh_fraction, 0.0, 1.0)
        check_int("stream", self.stream, lo=0)


@experiment("mixture-loop-cell", config=MixtureLoopCell, results=results_of(
    nll_by_generation="the population NLL of generations 0 (the base) .. k",
    fd_by_generation="the exact FD of each generation's own law to the truth (mixture moments, no sampling)",
    precision_by_generation="prdc precision of each generation's draws", recall_by_generation="prdc recall of each generation's draws",
    s_by_generation="s = <r_d, r_s> with P = I by convention (the refits use Adam) of each generation at the loop's sampler",
    n_train_by_generation="rows each generation was fitted to",
    nll_change="the last generation's population NLL minus the base's (positive: the loop degraded the model)",
    fd_change="the last generation's FD minus the base's",
))
def mixture_loop_cell(cfg: MixtureLoopCell, seed: int) -> dict:
    from neon_theory.loops import LoopSpec, self_consuming_loop
    from neon_theory.metrics import gaussian_frechet_distance
    from neon_theory.rng import generator

    from .toy import exact_s, fit_mixture, nll_metric, precision_recall, training_set, truth

    toy = MixtureToyConfig.preset(cfg.preset)
    tau = float(parse_sampler(cfg.sampler).value)
    nll, target = nll_metric(toy), truth()
    tag = f"loop/{cfg.stream}/{tau}"
    streams = lambda name: generator(seed, f"{tag}/{name}")  # noqa: E731  (the loop's forms share draws on one stream)

    def train(data, g, previous):  # generation 0 is the base every cell of the seed shares
        return _mixture_base(cfg.preset, seed) if g == 0 else fit_mixture(toy, data, seed, stream=f"{tag}/fit/{g}")

    def evaluate(model):
        law = model.gmm()
        draws = law.sample(toy.prdc_rows, generator(seed, "prdc-draws"))
        return {"nll": nll(model, None), "fd": gaussian_frechet_distance(law.mean(), law.cov(), target.mean(), target.cov()),
                "s": exact_s(toy, model, tau)["s"], **precision_recall(toy, draws, seed)}

    spec = LoopSpec(cfg.form, cfg.generations, toy.n_train, cfg.fresh_fraction)
    records = self_consuming_loop(
        training_set(toy, seed), spec, train=train, sample=lambda m, n, g: m.sample(n, Temperature(tau, "std"), g), evaluate=evaluate,
        fresh_real=lambda n, g: target.sample(n, g), streams=streams,
    )
    out = {f"{k}_by_generation": [r[k] for r in records] for k in ("nll", "fd", "precision", "recall", "s", "n_train")}
    out["nll_change"] = records[-1]["nll"] - records[0]["nll"]
    out["fd_change"] = records[-1]["fd"] - records[0]["fd"]
    return clean(out)


@dataclass(frozen=True)
class DiffusionNeighboursCell:
    """The official diffusion toy's Neon beside score-space self-guidance and a random direction, for one seed.

    Attributes:
        preset (str): ``smoke`` | ``reduced`` | ``paper`` (the diffusion toy's).
        sampler (str): ``score-scale=ζ`` (S's sampler, as in ``diffusion-cell``; ζ > 1 mode-seeking).
        ft_steps (int | None): the budget, one of the preset's; None: its first.
    """

    preset: str = "smoke"
    sampler: str = "score-scale=1.1"
    ft_steps: int | None = None

    def __post_init__(self):
        from ..official_diffusion.toy import DiffusionToyConfig

        check_choice("preset", self.preset, PRESETS)
        spec = sampler_field(self, allowed=(ScoreScale,))
        if spec.where != "x0":
            raise ValueError(f"sampler {self.sampler!r}: DiffusionNeighboursCell takes one score scale inside x̂₀ (score-scale=ZETA)")
        if self.ft_steps is not None:
            check_choice("ft_steps", check_int("ft_steps", self.ft_steps, lo=1), DiffusionToyConfig.preset(self.preset).ft_steps)


@experiment("diffusion-neighbours-cell", config=DiffusionNeighboursCell, results=results_of(
    **GUIDANCE_RESULTS, **direction_results({"fd": "the FD"}),
    ft_steps_used="the fine-tuning steps used (ft_steps, or the preset's first)",
))
def diffusion_neighbours_cell(cfg: DiffusionNeighboursCell, seed: int) -> dict:
    from neon_theory.neon import step_displacement

    from ..official_diffusion.cells import _diffusion_base, _diffusion_theta_s
    from ..official_diffusion.toy import DiffusionToyConfig, diffusion_fd_metric

    toy = DiffusionToyConfig.preset(cfg.preset)
    zeta = float(parse_sampler(cfg.sampler).zeta)
    steps = toy.ft_steps[0] if cfg.ft_steps is None else cfg.ft_steps
    model, theta_s = _diffusion_base(cfg.preset, seed), _diffusion_theta_s(cfg.preset, seed, zeta)[steps]
    fd, eval_seed = diffusion_fd_metric(toy), child_seed(seed, f"eval/{zeta}/{steps}")  # diffusion-cell's FD noise
    step = step_displacement(model, theta_s)
    directions = {"step": step, **random_directions(step, seed, f"dir-random/{zeta}/{steps}")}  # diffusion-cell's random arms
    out = {"ft_steps_used": steps, "sampling_evals_neon": toy.sample_steps, "sampling_evals_guidance": 2 * toy.sample_steps,
           "train_examples": steps * toy.n_synthetic}
    out.update(direction_record(model, directions, {"fd": (fd, eval_seed)}, {"fd": (toy.bracket, toy.xtol)}, {"step": steps * toy.n_synthetic}))
    out.update(guidance_record(fd, model, _theta_model(model, theta_s), eval_seed, toy.bracket, toy.xtol))
    return clean(out)
