"""App. B.7's claim: finite-step ODE solvers are mode-seeking (A-MONO), with a bias of order h."""

from __future__ import annotations

import numpy as np

from neon_theory.run.claims import Claim, Evidence, MeanIn, every, register_claim
from neon_theory.run.sweeps import SweepSpec

from ..presets import by_preset
from ..scoring import ok_rows, scoring_seeds, seed_list
from .cells import SOLVERS

#: the step counts the claim reads ("few steps"); the order is fitted over all of STEPS
FEW_STEPS = 20
STEPS = (5, 10, 20, 40)
#: the solvers of first order, the condition named before the run
FIRST_ORDER = ("ddim", "euler")


def solver_spec(preset: str) -> SweepSpec:
    """Every solver at 5-40 steps on both targets (exact score), 10 scoring seeds (the noise streams)."""
    return SweepSpec("solver-cell", grid={"target": by_preset(("gaussian",), ("gaussian", "ring"), preset), "solver": list(SOLVERS),
                                          "steps": by_preset((5, 20), STEPS, preset)},
                     seeds=scoring_seeds(preset, paper=10), fixed={"n": 20_000})


def judge_a_mono(frames: dict) -> Evidence:
    rows = ok_rows(frames["cells"])
    rule = MeanIn(-np.inf, 0.0, f"mean over seeds of tr Cov(samples) - tr Cov(target) at ≤ {FEW_STEPS} steps, in the least favourable (target, solver, steps)")
    few = rows[rows.steps <= FEW_STEPS]

    def judge(part):
        return every(rule.judge(g["result.trace_shift"].tolist()) for _, g in part.groupby(["target", "solver", "steps"]))

    solvers = few[few.solver != "exact"]
    test = judge(solvers)
    conditional = judge(solvers[solvers.solver.isin(FIRST_ORDER)])
    control = judge(few[few.solver == "exact"])
    means = rows.groupby(["target", "solver", "steps"])["result.trace_shift"].mean()
    orders = []
    for (target, solver), g in means.groupby(level=[0, 1]):
        if solver != "exact" and len(g) >= 2 and (g != 0).all():
            h = 1 / np.asarray(g.index.get_level_values("steps"), float)
            orders.append(f"{target}/{solver}: {np.polyfit(np.log(h), np.log(np.abs(g.to_numpy())), 1)[0]:.2f}")
    inflating = [f"{t}/{s} at {k} steps: {v:+.3g}" for (t, s, k), v in means.items() if s != "exact" and k <= FEW_STEPS and v > 0]
    return Evidence(
        test, control, conditional=conditional, seeds=seed_list(rows),
        condition="" if test.outcome != "fail" else (
            f"first-order solvers ({', '.join(FIRST_ORDER)}); counterexample, the law widens (diversity-seeking): " + "; ".join(inflating[:6])
            + (f" (and {len(inflating) - 6} more)" if len(inflating) > 6 else "")),
        notes="mean tr Cov shift per (target, solver, steps): " + "; ".join(f"{t}/{s}/{k}: {v:+.3g}" for (t, s, k), v in means.items())
              + ". Bias order (log-log slope of |mean shift| on h = 1/steps, 5-40 steps): " + "; ".join(orders)
              + ". Exact score (no learning error), n = 20,000 a seed; DDIM on the training grid, the others on an EDM ρ = 7 σ-grid",
    )


register_claim(Claim(
    name="a-mono-solvers",
    statement="A finite-step ODE sampler is mode-seeking (A-MONO): at few steps its terminal law is sharper than the model's (tr Cov "
              "below), whatever the solver. (The bias order, O(h) in the paper, is reported in the notes, not judged.)",
    source="App. B.7 (finite-step solvers reweight by exp(h/2·C̄), mode-seeking under A-MONO)",
    rule=MeanIn(-np.inf, 0.0, "mean tr Cov shift over seeds").rule() + f" for every solver, target and step count ≤ {FEW_STEPS}",
    control="the same rule for the target's own draws (the neutral sampler), which must not pass",
    sweeps={"cells": solver_spec},
    judge=judge_a_mono,
    figure="",
    test="tests/families/test_neural_toys.py::test_first_order_solvers_shrink_the_law_with_bias_of_order_h",
    order=64,
))
