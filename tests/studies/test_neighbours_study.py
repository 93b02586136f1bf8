"""Neon beside its neighbours: the mixture and diffusion cells, and the judges on made-up tables whose truth is known
(a law that holds passes, a broken one fails and names its cells, the control does not pass)."""

import numpy as np
import pandas as pd
import pytest

from neon_theory.run.claims import FAIL, PASS
from studies.neighbours import claims as nb
from studies.neighbours.cells import MixtureLoopCell, MixtureNeighboursCell, mixture_loop_cell, mixture_neighbours_cell


@pytest.fixture(scope="module")
def smoke_cell():
    """The smoke mixture cell with every arm, on development seed 2."""
    return mixture_neighbours_cell(MixtureNeighboursCell(), 2)


def test_on_the_mixture_guidance_is_neon_to_first_order(smoke_cell):
    """The guided score (1 + ω)s_r − ωs_s and the merged mixture's score agree to first order in the step, so their best
    ω and w on one W₂ with one noise should be close: development seeds 0 and 1 gave ω/w of 1.0 and 1.0 at smoke."""
    r = smoke_cell
    assert r["guidance_best_omega"] == pytest.approx(r["dir_step_best_w_w2"], rel=0.25)
    assert r["guidance_gain"] == pytest.approx(r["dir_step_gain_w2"], rel=0.5)
    assert r["sampling_evals_guidance"] == 2 * r["sampling_evals_neon"]


def test_the_mixture_cell_records_s_the_step_and_every_arm_consistently(smoke_cell):
    """SGD: the step is −α∇L_S(θ_r) to first order, so its cosine with −r_s is near 1; the step's best w on the NLL is the
    record's own best w (two searches of one minimum); each gain is a decrease (w = 0 is in the bracket)."""
    r = smoke_cell
    assert r["step_cosine"] > 0.9 and r["alpha"] == pytest.approx(0.01 * 20)
    # the same minimum, searched to 1e-4 (best_loss_record) and to the preset's xtol (0.05 at smoke) along the step
    assert r["dir_step_best_w_nll"] == pytest.approx(r["best_w_loss"], abs=2 * 0.05) and r["w_alpha"] == pytest.approx(r["best_w_loss"] * r["alpha"])
    for key in ("gain_loss", "dir_step_gain_w2", "dir_random_gain_nll", "dir_random_2_gain_w2", "guidance_gain"):
        assert r[key] >= -1e-12, key
    assert -1 <= r["cosine"] <= 1 and r["s"] < 0  # τ = 0.7 sharpens a base that is too sharp already at smoke
    assert all(0 <= r[f"{k}_{arm}"] <= 1 for k in ("precision", "recall") for arm in ("base", "neon", "guidance"))


def test_the_budget_cell_summed_rate_is_recorded_and_a_ramp_at_twice_the_peak_matches_the_constant_rate():
    """At smoke size (α = 0.2, SGD, 20 steps) a ramp at 2·lr sums to 2·lr·n(n + 2)/(2(n + 1)) = 1.048 α; development seed 0 gave best w ratios (ramp / constant)
    of 0.97 at the same summed rate and 1.35 at the same peak."""
    constant = mixture_neighbours_cell(MixtureNeighboursCell(arms=False), 4)
    ramp = mixture_neighbours_cell(MixtureNeighboursCell(arms=False, schedule="ramp", lr=0.02), 4)
    peak = mixture_neighbours_cell(MixtureNeighboursCell(arms=False, schedule="ramp"), 4)
    assert "guidance_gain" not in constant and ramp["alpha"] == pytest.approx(0.02 * 20 * 22 / 42) and peak["alpha"] == pytest.approx(ramp["alpha"] / 2)
    assert 0.8 <= ramp["best_w_loss"] / constant["best_w_loss"] <= 1.25
    assert peak["best_w_loss"] / constant["best_w_loss"] > 1.25


def test_a_replacing_loop_at_a_mode_seeking_sampler_collapses_and_a_real_data_loop_does_not():
    """Development seed 0 at smoke: the replacing loop's NLL rose from 3.56 to 8.55 in 5 generations and its recall fell
    from 0.97 to 0.55; a loop on fresh real data only stayed within 0.3 nats of the base."""
    replace = mixture_loop_cell(MixtureLoopCell(generations=3), 5)
    real = mixture_loop_cell(MixtureLoopCell(generations=3, form="fresh", fresh_fraction=1.0), 5)
    assert len(replace["nll_by_generation"]) == 4 and replace["n_train_by_generation"] == [200] * 4
    assert replace["nll_by_generation"][0] == real["nll_by_generation"][0]  # one base
    assert replace["nll_change"] > 0.5 and abs(real["nll_change"]) < 0.5
    assert replace["recall_by_generation"][-1] < replace["recall_by_generation"][0]


def test_bad_cell_fields_are_refused_naming_the_field():
    with pytest.raises(ValueError, match="std-temperature"):
        MixtureNeighboursCell(sampler="temperature=0.5")
    with pytest.raises(ValueError, match="schedule"):
        MixtureNeighboursCell(schedule="cosine")
    with pytest.raises(ValueError, match="lr"):
        MixtureNeighboursCell(lr=0.0)
    with pytest.raises(ValueError, match="form"):
        MixtureLoopCell(form="mix")
    with pytest.raises(ValueError, match="fresh_fraction"):
        MixtureLoopCell(fresh_fraction=1.5)
    with pytest.raises(ValueError, match="generations"):
        MixtureLoopCell(generations=0)


# -- the judges on made-up tables ----------------------------------------------------------------------------------------

def _cells(n_seeds: int, *, step: float, random: float, random_2: float, guidance: float, metric: str = "w2") -> pd.DataFrame:
    """One cell a seed with the arms' gains times a seeded factor in (0.9, 1.1); the sample metric's gains are the loss's
    in reverse order for the random arms, so a judge reading the wrong column gets it wrong."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(100, 100 + n_seeds):
        f = lambda: rng.uniform(0.9, 1.1)  # noqa: E731
        row = {"seed": seed, "sampler": "std-temperature=0.7", "status": "ok", "result.guidance_gain": guidance * f(),
               "result.guidance_best_omega": 1.0, "result.guidance_at_boundary": False, "result.s": -1.0}
        for arm, g in (("step", step), ("random", random), ("random_2", random_2)):
            row[f"result.dir_{arm}_gain_nll"] = g * f()
            row[f"result.dir_{arm}_gain_{metric}"] = (g if arm == "step" else step - g) * f()
            row[f"result.dir_{arm}_best_w_{metric}"] = 1.0
        rows.append(row)
    return pd.DataFrame(rows)


def test_neon_beats_random_passes_when_the_step_gains_most_and_its_control_fails():
    e = nb.judge_random({"cells": _cells(30, step=1.0, random=0.1, random_2=0.1, guidance=1.0)}, family="mixture")
    assert e.test.outcome == PASS and e.control.outcome == FAIL
    e = nb.judge_random({"cells": _cells(30, step=1.0, random=0.8, random_2=0.8, guidance=1.0)}, family="mixture")
    assert e.test.outcome == FAIL


def test_guidance_matches_neon_reads_the_sample_metric_and_names_the_failing_cells():
    """On W₂ the step gains 1 and the random arm 1 − 0.9 = 0.1 (on the NLL, 0.9: a judge reading the NLL would let the
    control pass); with guidance at 3 the test fails and lists the cells."""
    e = nb.judge_guidance({"cells": _cells(30, step=1.0, random=0.9, random_2=0.1, guidance=1.0)}, family="mixture")
    assert e.test.outcome == PASS and e.control.outcome == FAIL  # random's W₂ gain is 0.1: outside the band
    e = nb.judge_guidance({"cells": _cells(30, step=1.0, random=0.1, random_2=0.1, guidance=3.0)}, family="mixture")
    assert e.test.outcome == FAIL and "fails at" in e.condition and "seed = 100" in e.condition


def _loops(n_seeds: int, change: float, *, seed0: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(seed0)
    rows = []
    for seed in range(seed0, seed0 + n_seeds):
        c = change + rng.normal(0, 0.1)
        rows.append({"seed": seed, "sampler": "std-temperature=0.7", "status": "ok", "result.nll_change": c, "result.nll_by_generation": [3.0, 3.0 + c],
                     "result.recall_by_generation": [1.0, 0.9], "result.s_by_generation": [-0.1, -0.2]})
    return pd.DataFrame(rows)


def test_the_loop_judges_on_made_up_loops():
    e = nb.judge_loop({"replace": _loops(30, 2.0), "fresh_real": _loops(30, 0.0)}, claim="replace-degrades")
    assert e.test.outcome == PASS and e.control.outcome == FAIL
    e = nb.judge_loop({"replace": _loops(30, -1.0), "fresh_real": _loops(30, 0.0)}, claim="replace-degrades")
    assert e.test.outcome == FAIL
    frames = {"replace": _loops(30, 2.0), "accumulate": _loops(30, 0.2), "replace_2": _loops(30, 2.0, seed0=100)}
    frames["replace_2"]["result.nll_change"] += np.random.default_rng(7).normal(0, 0.5, 30)  # an independent replicate: a coin flip
    e = nb.judge_loop(frames, claim="accumulate-beats-replace")
    assert e.test.outcome == PASS and e.control.outcome != PASS and "median NLL by generation" in e.notes


def test_the_budget_judge_pairs_seeds_and_reads_the_ratio_of_best_w():
    def table(w, edge=False):
        return pd.DataFrame({"seed": range(100, 130), "sampler": "std-temperature=0.7", "status": "ok", "result.best_w_loss": w, "result.alpha": 0.2,
                             "result.at_boundary_loss": edge})
    e = nb.judge_budget({"constant": table(1.0), "ramp": table(1.05), "ramp_peak": table(1.9)})
    assert e.test.outcome == PASS and e.control.outcome == FAIL and e.seeds == tuple(range(100, 130))
    e = nb.judge_budget({"constant": table(1.0), "ramp": table(1.5), "ramp_peak": table(1.9)})
    assert e.test.outcome == FAIL
    # both searches clipped at the bracket's edge give a ratio of exactly 1: a miss, not a pass (the review found this)
    e = nb.judge_budget({"constant": table(20.0, edge=True), "ramp": table(20.0, edge=True), "ramp_peak": table(20.0, edge=True)})
    assert e.test.outcome == FAIL and e.control.outcome == FAIL and "60 pairs with a search at the bracket's edge" in e.notes


def test_a_gain_of_nothing_neither_beats_random_nor_matches_the_guidance():
    """Neon gaining 0 against a random direction's −1e-6 (Brent just off w = 0), and two gains of nothing in the band: misses."""
    cells = _cells(30, step=0.0, random=-1e-6, random_2=-1e-6, guidance=0.0)
    assert nb.judge_random({"cells": cells}, family="mixture").test.outcome == FAIL
    cells = _cells(30, step=-1e-3, random=0.1, random_2=0.1, guidance=-1e-3)
    assert nb.judge_guidance({"cells": cells}, family="mixture").test.outcome == FAIL


def test_the_diffusion_toys_replacing_loop_collapses_and_its_real_data_loop_does_not():
    """Development seed 6 at smoke (ζ = 1.1, 80 warm-started steps a generation): the replacing loop's FD went 0.069 → 2.1
    → 3.3 in two generations and its recall 0.99 → 0.06; a loop on fresh real data only ended 0.05 above the base's FD (0.10
    at its worst generation).  ζ = 1.1 draws of the toy's 20-step DDIM have about a tenth of the target's covariance: the
    knob is strong."""
    from studies.neighbours.diffusion_loop import DiffusionLoopCell, diffusion_loop_cell

    replace = diffusion_loop_cell(DiffusionLoopCell(generations=2), 6)
    real = diffusion_loop_cell(DiffusionLoopCell(generations=2, form="fresh", fresh_fraction=1.0), 6)
    assert replace["fd_by_generation"][0] == real["fd_by_generation"][0]  # one base, one evaluation stream
    assert replace["n_train_by_generation"] == [1000] * 3  # the toy's n_base rows a generation
    assert replace["steps_per_generation_used"] == 80 and len(replace["loss_by_generation"]) == 3
    assert replace["fd_change"] > 1.0 and abs(real["fd_change"]) < 0.15
    assert replace["recall_by_generation"][-1] < 0.5 < real["recall_by_generation"][-1]
    assert replace["loss_change"] > real["loss_change"]


def test_the_loop_judges_read_the_diffusion_toys_fd():
    """Made-up loops whose NLL column says the opposite of their FD: the diffusion family's judge must read the FD."""
    def fd_loops(n_seeds, change, seed0=100):
        t = _loops(n_seeds, change, seed0=seed0).drop(columns=["result.s_by_generation"])
        t["result.fd_change"], t["result.nll_change"] = t["result.nll_change"], -t["result.nll_change"]
        t["result.fd_by_generation"] = t["result.nll_by_generation"]
        return t

    e = nb.judge_loop({"replace": fd_loops(30, 2.0), "fresh_real": fd_loops(30, 0.0)}, claim="replace-degrades", family="diffusion")
    assert e.test.outcome == PASS and e.control.outcome == FAIL and "median FD by generation" in e.notes
    frames = {"replace": fd_loops(30, 2.0), "accumulate": fd_loops(30, 0.2), "replace_2": fd_loops(30, 2.0)}
    frames["replace_2"]["result.fd_change"] += np.random.default_rng(7).normal(0, 0.5, 30)
    e = nb.judge_loop(frames, claim="accumulate-beats-replace", family="diffusion")
    assert e.test.outcome == PASS and e.control.outcome != PASS
    e = nb.judge_loop({"replace": fd_loops(30, -1.0), "fresh_real": fd_loops(30, 0.0)}, claim="replace-degrades", family="diffusion")
    assert e.test.outcome == FAIL


def test_the_diffusion_loop_cell_refuses_bad_fields_naming_them():
    from studies.neighbours.diffusion_loop import DiffusionLoopCell

    for bad, name in ((dict(sampler="std-temperature=0.7"), "sampler"), (dict(steps_per_generation=0), "steps_per_generation"),
                      (dict(form="grow"), "form"), (dict(generations=0), "generations"), (dict(fresh_fraction=1.5), "fresh_fraction")):
        with pytest.raises(ValueError, match=name):
            DiffusionLoopCell(**bad)
