"""Neon beside its neighbours: the claims (the exact 2-D mixture, the official diffusion toy).

- ``neighbours-neon-beats-random-F``: Neon's step gains at least twice what a random direction of its
  norm gains, each at its best w (the mixture's population NLL; the diffusion toy's FD).  Control: a
  second, independent random direction in the step's place.
- ``neighbours-guidance-matches-neon-F``: score-space negative guidance with the same self-trained model
  (SIMS-style, (1 + ω)·score_base − ω·score_self at sampling time) gains within [0.5, 2]× of what Neon
  gains on the sample metric (the mixture's W₂, the toy's FD), each at its best ω or w: the same
  training, twice the sampling evaluations.  To first order in the step the two are one move (the
  merged network's output is (1 + w)ε̂_r − wε̂_s + O(w²‖Δ‖²)).  Control: the random direction in Neon's place.
- ``neighbours-loop-replace-degrades-L``: a self-consuming loop that replaces its data with its
  own mode-seeking samples (the mixture: τ = 0.7, refitted; the diffusion toy: ζ = 1.1, warm-started)
  ends, after 5 generations, with a higher population NLL (the mixture) or FD (the diffusion toy) than
  the base (the model-collapse literature's claim).  Control: the same loop fed fresh real data only.
- ``neighbours-loop-accumulate-beats-replace-L``: accumulating the synthetic sets beside the real
  data ends with a lower NLL or FD than replacing them (the literature's remedy).  Control: an
  independent replicate of the replacing loop (its own draws) in accumulate's place.
- ``neighbours-budget-summed-lr-mixture``: the budget is the summed learning rate: a triangular ramp at
  twice the peak rate (the same summed rate) has a best w on the NLL within [0.8, 1.25]× of the
  constant rate's.  Control: the ramp at the constant's peak rate (same steps and peak, half the
  summed rate), which must fall outside.

The unit is a seed; 30 scoring seeds, bar 0.8; every cell of a seed must pass.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import pandas as pd

from neon_theory.run.claims import Claim, Evidence, SignCount, register_claim
from neon_theory.run.sweeps import SweepSpec

from ..presets import sampler_grid
from ..scoring import BAND, beats, listing, ok_rows, per_seed, scoring_seeds, seed_list, within_band

BAR = 0.8
TAU = 0.7  # the mixture's mode-seeking sampler (each component's std × 0.7)
DIFFUSION_ZETA = 1.1  # the diffusion toy's published mode-seeking score scale
GENERATIONS = 5
#: the summed-rate band: the ramp's best w over the constant's
BUDGET_BAND = (0.8, 1.25)


def mixture_spec(preset: str, **fixed) -> SweepSpec:
    return SweepSpec("mixture-neighbours-cell", grid={"sampler": [f"std-temperature={TAU}"]}, seeds=scoring_seeds(preset, paper=30, smoke=1),
                     fixed={"preset": preset, **fixed})


def diffusion_spec(preset: str) -> SweepSpec:
    """The official diffusion toy at its published ζ and first budget, 30 scoring seeds (1 at smoke)."""
    from ..official_diffusion.toy import DiffusionToyConfig

    toy = DiffusionToyConfig.preset(preset)
    return SweepSpec("diffusion-neighbours-cell", grid={"sampler": sampler_grid("score-scale", toy.zetas)}, seeds=scoring_seeds(preset, paper=30, smoke=1),
                     fixed={"preset": preset})


def loop_spec(preset: str, *, family: str = "mixture", **fixed) -> SweepSpec:
    """A loop family's cells (:data:`LOOP_FAMILIES`) at its mode-seeking sampler, 5 generations, 30 scoring seeds (1 at smoke)."""
    fam = LOOP_FAMILIES[family]
    return SweepSpec(fam.experiment, grid={"sampler": [fam.sampler]}, seeds=scoring_seeds(preset, paper=30, smoke=1),
                     fixed={"preset": preset, "generations": GENERATIONS, **fixed})


@dataclass(frozen=True)
class LoopFamily:
    """A family's self-consuming loops: where (words), how a generation is trained on its set (words), its cell, its
    mode-seeking sampler (the cell's text, and in words) and the quality it judges (the record's ``METRIC_change`` and
    ``METRIC_by_generation``, and in words)."""

    place: str
    trains: str
    experiment: str
    sampler: str
    sampler_words: str
    metric: str
    metric_words: str


LOOP_FAMILIES = {
    "mixture": LoopFamily("the exact 2-D mixture", "refits each generation to", "mixture-loop-cell", f"std-temperature={TAU}", f"τ = {TAU}",
                          "nll", "population NLL"),
    "diffusion": LoopFamily("the official diffusion toy", "trains each generation (warm-started, full-batch Adam) on", "diffusion-loop-cell",
                            f"score-scale={DIFFUSION_ZETA}", f"ζ = {DIFFUSION_ZETA}", "fd", "FD to the target"),
}


#: per family: its words, its sweep, (the loss's result tag, words), (the sample metric's tag, words)
FAMILIES = {
    "mixture": ("the exact 2-D mixture (a ring of six modes; SGD, τ = 0.7)", functools.partial(mixture_spec, arms=True),
                ("nll", "the population NLL"), ("w2", "the W₂ of exact-score DDIM draws")),
    "diffusion": ("the official diffusion toy (full-batch Adam, both published ζ)", diffusion_spec, ("fd", "the FD"), ("fd", "the FD")),
}


def _finite(*values) -> bool:
    return all(v is not None and math.isfinite(float(v)) for v in values)


def _gain_notes(rows: pd.DataFrame, loss: str, metric: str) -> str:
    if not len(rows):
        return ""
    parts = []
    for tag in dict.fromkeys((loss, metric)):
        step = rows[f"result.dir_step_gain_{tag}"]
        share = {a: (rows[f"result.dir_{a}_gain_{tag}"] / step).median() for a in ("random", "random_2")}
        parts.append(f"on {tag}: median gain of the step {step.median():.3g}, random {share['random']:.2g}× and random-2 {share['random_2']:.2g}× the step's")
    ratio = (rows["result.guidance_gain"] / rows[f"result.dir_step_gain_{metric}"]).median()
    omega = (rows["result.guidance_best_omega"] / rows[f"result.dir_step_best_w_{metric}"]).median()
    edge = int(rows["result.guidance_at_boundary"].fillna(False).astype(bool).sum())
    text = "; ".join(parts) + (f"; guidance gains a median {ratio:.2g}× Neon's on {metric}, its best ω a median {omega:.2g}× Neon's best w "
                               f"({edge} ω at the bracket's edge)")
    if "result.precision_neon" in rows:
        pr = {f"{k}_{arm}": rows[f"result.{k}_{arm}"].median() for arm in ("base", "neon", "guidance") for k in ("precision", "recall")}
        text += "; median precision/recall: " + ", ".join(f"{arm} {pr[f'precision_{arm}']:.3f}/{pr[f'recall_{arm}']:.3f}"
                                                         for arm in ("base", "neon", "guidance"))
    if "result.s" in rows:
        text += f"; s (P = I, exact up to QMC) negative in {int((rows['result.s'] < 0).sum())}/{len(rows)} cells"
    return text + f" ({len(rows)} cells)"


def _per_seed_rule(rows, words: str, law, control_law) -> tuple:
    rule = SignCount(BAR, f"fraction of seeds where {words} in every cell")
    return rule.judge(per_seed(rows, law)), rule.judge(per_seed(rows, control_law))


def judge_random(frames: dict, *, family: str) -> Evidence:
    _, _, (loss, words), (metric, _) = FAMILIES[family]
    rows = ok_rows(frames["cells"])

    def law(arm: str):
        return lambda g: all(beats(a, b, 2.0) for a, b in zip(g[f"result.dir_{arm}_gain_{loss}"], g[f"result.dir_random_gain_{loss}"]))

    test, control = _per_seed_rule(rows, f"the step gains > 2× a random direction's gain on {words}", law("step"), law("random_2"))
    return Evidence(test, control, seeds=seed_list(rows), notes=_gain_notes(rows, loss, metric))


def judge_guidance(frames: dict, *, family: str) -> Evidence:
    _, _, (loss, _), (metric, words) = FAMILIES[family]
    rows = ok_rows(frames["cells"])

    def law(arm: str):
        return lambda g: all(_matches(b, a) for a, b in zip(g[f"result.dir_{arm}_gain_{metric}"], g["result.guidance_gain"]))

    test, control = _per_seed_rule(rows, f"Neon gains and the guidance's gain on {words} is within {BAND[0]:g}-{BAND[1]:g}× Neon's",
                                   law("step"), law("random"))
    failing = rows[[not _matches(b, a) for a, b in zip(rows[f"result.dir_step_gain_{metric}"], rows["result.guidance_gain"])]] if len(rows) else rows
    shown = {"seed": "seed", "sampler": "sampler", "Neon": f"result.dir_step_gain_{metric}", "guidance": "result.guidance_gain"}
    condition = "" if test.outcome != "fail" or failing.empty else "fails at " + listing(failing, shown)
    return Evidence(test, control, seeds=seed_list(rows), condition=condition, notes=_gain_notes(rows, loss, metric))


def _matches(guidance, neon) -> bool:
    """The guidance's gain within the band of a real (finite, positive) gain of Neon's: two gains of nothing do not "match"."""
    return _finite(neon) and neon > 0 and within_band(guidance, neon)


def _paired(a: pd.DataFrame, b: pd.DataFrame, column: str, edge: str | None = None) -> pd.DataFrame:
    """One row per (seed, sampler) with ``column`` of both tables (columns ``a`` and ``b``), and whether either search
    ended at its bracket's edge (``edge``, a result column; False without one), cells in both tables only."""
    def side(frame, name):
        rows = ok_rows(frame)
        cols = {column: name, **({edge: f"{name}_edge"} if edge else {})}
        return rows[["seed", "sampler", *cols]].rename(columns=cols)

    pair = side(a, "a").merge(side(b, "b"), on=["seed", "sampler"])
    pair["edge"] = (pair["a_edge"].fillna(False).astype(bool) | pair["b_edge"].fillna(False).astype(bool)) if edge else False
    return pair


def _loop_notes(frames: dict, metric: str) -> str:
    parts = []
    for name, frame in frames.items():
        rows = ok_rows(frame)
        if not len(rows):
            continue
        by = {k: pd.DataFrame(rows[f"result.{k}_by_generation"].tolist()).median() for k in (metric, "recall", "s") if f"result.{k}_by_generation" in rows}
        text = f"{name}: median {metric.upper()} by generation {', '.join(f'{v:.3g}' for v in by[metric])}; recall {by['recall'].iloc[0]:.3f} → " \
               f"{by['recall'].iloc[-1]:.3f}"
        if "s" in by:
            text += f"; s {by['s'].iloc[0]:+.3g} → {by['s'].iloc[-1]:+.3g}"
        parts.append(text)
    return "; ".join(parts)


def judge_loop(frames: dict, *, claim: str, family: str = "mixture") -> Evidence:
    metric = LOOP_FAMILIES[family].metric
    rule = SignCount(BAR, LOOP_RULES[claim].format(metric=LOOP_FAMILIES[family].metric_words))
    column = f"result.{metric}_change"
    if claim == "replace-degrades":
        def degrades(frame):
            return [_finite(v) and v > 0 for v in ok_rows(frame)[column]]
        test, control = rule.judge(degrades(frames["replace"])), rule.judge(degrades(frames["fresh_real"]))
        seeds = seed_list(ok_rows(frames["replace"]))
    else:
        def lower(pair):
            return [_finite(a, b) and a < b for a, b in zip(pair["a"], pair["b"])]
        test = rule.judge(lower(_paired(frames["accumulate"], frames["replace"], column)))
        control = rule.judge(lower(_paired(frames["replace_2"], frames["replace"], column)))
        seeds = seed_list(ok_rows(frames["accumulate"]))
    return Evidence(test, control, seeds=seeds, notes=_loop_notes(frames, metric))


def judge_budget(frames: dict) -> Evidence:
    rule = SignCount(BAR, f"fraction of seeds where the ramp's best w on the NLL is within {BUDGET_BAND[0]:g}-{BUDGET_BAND[1]:g}× the constant rate's")

    def band(pair):  # a search that ended at its bracket's edge has no best w to compare: a miss
        return [not e and within_band(a, b, BUDGET_BAND) for a, b, e in zip(pair["a"], pair["b"], pair["edge"])]

    column, edge = "result.best_w_loss", "result.at_boundary_loss"
    same_sum, same_peak = _paired(frames["ramp"], frames["constant"], column, edge), _paired(frames["ramp_peak"], frames["constant"], column, edge)
    alphas = {name: ok_rows(f)["result.alpha"].median() for name, f in frames.items() if len(ok_rows(f))}
    notes = ""
    if len(same_sum):
        notes = (f"median ratio of best w, ramp at the same summed rate over constant: {(same_sum.a / same_sum.b).median():.3g}; ramp at the same peak: "
                 f"{(same_peak.a / same_peak.b).median():.3g}; summed rates α: " + ", ".join(f"{k} {v:.3g}" for k, v in alphas.items())
                 + f"; {int(same_sum.edge.sum() + same_peak.edge.sum())} pairs with a search at the bracket's edge")
    return Evidence(rule.judge(band(same_sum)), rule.judge(band(same_peak)), seeds=tuple(sorted(int(s) for s in same_sum.seed)), notes=notes)


LOOP_RULES = {
    "replace-degrades": "fraction of seeds where the replacing loop's {metric} after 5 generations exceeds the base's",
    "accumulate-beats-replace": "fraction of seeds where the accumulating loop ends with a lower {metric} than the replacing one",
}
TEST = "tests/studies/test_neighbours_study.py::"
_SOURCE = "this toolkit's question beyond the paper: Neon beside its neighbours (SIMS-style self-guidance; self-consuming loops)"

for _name, (_words, _spec, (_loss, _loss_words), (_metric, _metric_words)) in FAMILIES.items():
    register_claim(Claim(
        name=f"neighbours-neon-beats-random-{_name}",
        statement=f"On {_words}, Neon's step gains more than twice what a random direction of its norm gains on {_loss_words}, each at its "
                  f"best w, in every cell of {BAR:.0%} of seeds.",
        source=_SOURCE,
        rule=SignCount(BAR, "fraction of seeds where it holds in every cell").rule(),
        control="the same rule with a second, independent random direction in the step's place, which must fail",
        sweeps={"cells": _spec}, judge=functools.partial(judge_random, family=_name), order=96,
        test=TEST + "test_neon_beats_random_passes_when_the_step_gains_most_and_its_control_fails",
    ))
    register_claim(Claim(
        name=f"neighbours-guidance-matches-neon-{_name}",
        statement=f"On {_words}, score-space negative guidance with the self-trained model, (1 + ω)·score_base − ω·score_self at sampling "
                  f"time, gains within {BAND[0]:g}-{BAND[1]:g}× of Neon's gain on {_metric_words}, each at its best ω or w (the same "
                  f"fine-tune; twice the sampling evaluations), in every cell of {BAR:.0%} of seeds.",
        source=_SOURCE,
        rule=SignCount(BAR, "fraction of seeds where it holds in every cell").rule(),
        control="the same rule with a random direction of the step's norm in Neon's place, which must fail",
        sweeps={"cells": _spec}, judge=functools.partial(judge_guidance, family=_name), order=96,
        test=TEST + "test_guidance_matches_neon_reads_the_sample_metric_and_names_the_failing_cells",
    ))

LOOP_STATEMENTS = {
    "replace-degrades": ("a self-consuming loop that {trains} its predecessor's {sampler} samples only ends, after {n} generations, with a "
                         "higher {metric} than the base", "; the model-collapse literature (replacing loops degrade)",
                         "the same rule for a loop trained on fresh real data only (fresh_fraction = 1), which must fail"),
    "accumulate-beats-replace": ("a self-consuming loop that accumulates its {sampler} samples beside the real data ends, after {n} generations, "
                                 "with a lower {metric} than one that replaces the data", "; the model-collapse literature (accumulating data avoids collapse)",
                                 "the same rule with an independent replicate of the replacing loop (its own draws) in accumulate's place, "
                                 "which must fail"),
}
LOOP_TESTS = {
    "mixture": {"replace-degrades": "test_a_replacing_loop_at_a_mode_seeking_sampler_collapses_and_a_real_data_loop_does_not",
                "accumulate-beats-replace": "test_the_loop_judges_on_made_up_loops"},
    "diffusion": {"replace-degrades": "test_the_diffusion_toys_replacing_loop_collapses_and_its_real_data_loop_does_not",
                  "accumulate-beats-replace": "test_the_loop_judges_read_the_diffusion_toys_fd"},
}
for _name, _loop in LOOP_FAMILIES.items():
    _spec = functools.partial(loop_spec, family=_name)
    _sweeps = {
        "replace-degrades": {"replace": functools.partial(_spec, form="replace"), "fresh_real": functools.partial(_spec, form="fresh", fresh_fraction=1.0)},
        "accumulate-beats-replace": {"replace": functools.partial(_spec, form="replace"), "accumulate": functools.partial(_spec, form="accumulate"),
                                     "replace_2": functools.partial(_spec, form="replace", stream=1)},
    }
    for _claim, (_words, _source, _control) in LOOP_STATEMENTS.items():
        register_claim(Claim(
            name=f"neighbours-loop-{_claim}-{_name}",
            statement=f"On {_loop.place}, " + _words.format(trains=_loop.trains, sampler=_loop.sampler_words, n=GENERATIONS, metric=_loop.metric_words)
                      + f", in {BAR:.0%} of seeds.",
            source=_SOURCE + _source,
            rule=SignCount(BAR, LOOP_RULES[_claim].format(metric=_loop.metric_words)).rule(),
            control=_control, sweeps=_sweeps[_claim],
            judge=functools.partial(judge_loop, claim=_claim, family=_name), order=97, figure="neighbours-loops" if _name == "mixture" else "",
            test=TEST + LOOP_TESTS[_name][_claim],
        ))
register_claim(Claim(
    name="neighbours-budget-summed-lr-mixture",
    statement=f"On the exact 2-D mixture (SGD, τ = {TAU}), the fine-tuning budget is its summed learning rate: a triangular ramp at twice "
              f"the constant rate's peak (the same summed rate) has a best w on the population NLL within {BUDGET_BAND[0]:g}-{BUDGET_BAND[1]:g}× "
              f"of the constant rate's, in {BAR:.0%} of seeds.",
    source=_SOURCE + "; the official scripts fine-tune with ramps",
    rule=SignCount(BAR, "fraction of seeds where the ratio is in the band").rule(),
    control="the same rule for the ramp at the constant rate's peak (the same steps and peak, about half the summed rate), which must fail",
    sweeps={"constant": functools.partial(mixture_spec, arms=False, schedule="constant"),
            "ramp": lambda preset: mixture_spec(preset, arms=False, schedule="ramp", lr=2 * _ft_lr(preset)),
            "ramp_peak": functools.partial(mixture_spec, arms=False, schedule="ramp")},
    judge=judge_budget, order=97,
    test=TEST + "test_the_budget_cell_summed_rate_is_recorded_and_a_ramp_at_twice_the_peak_matches_the_constant_rate",
))


def _ft_lr(preset: str) -> float:
    from .toy import MixtureToyConfig

    return MixtureToyConfig.preset(preset).ft_lr
