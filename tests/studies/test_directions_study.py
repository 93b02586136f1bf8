"""The direction study: Neon along the step, −αP r_s, one step on S and a random direction, in the cells and the judges."""

import re

import numpy as np
import pandas as pd
import pytest

from neon_theory.run.claims import FAIL, HOLDS, PASS, REFUTED, verdict
from studies.directions import claims as dirs
from studies.gaussian.cells import GaussianCell, gaussian_cell
from studies.scoring import beats

ARMS = ("step", "first_order", "one_step", "random", "random_2")


@pytest.mark.parametrize("base, T", [("under-dispersed", 0.5), ("over-dispersed", 2.0)])
def test_on_the_exact_gaussian_the_first_order_step_and_one_step_on_s_track_the_step_and_random_loses(base, T):
    """SGD at α = 0.2 (P = I): development seed 3 gave cosines with the step above 0.99 for −αr_s and one full-batch
    step on S, each within 5% of the step's gain, and the random direction less than the step (in 5 parameters a random
    direction's cosine with the step is large by chance: 0.22 and -0.46 here, and it gains 19% and 62% of the step's)."""
    r = gaussian_cell(GaussianCell(sampler=f"temperature={T}", base=base, directions=True), 3)
    assert r["dir_step_cosine"] == pytest.approx(1.0) and r["dir_step_norm_ratio"] == pytest.approx(1.0)
    assert r["dir_step_best_w_nll"] == pytest.approx(r["best_w"], abs=1e-3) and r["dir_step_gain_nll"] == pytest.approx(r["gain"], rel=1e-4)
    for arm in ("first_order", "one_step"):
        assert r[f"dir_{arm}_cosine"] > 0.99 and 0.95 * r["gain"] < r[f"dir_{arm}_gain_nll"] <= r["gain"] * 1.001
    assert r["dir_random_gain_nll"] < 0.7 * r["gain"] and abs(r["dir_random_cosine"]) < 0.9
    assert r["dir_step_compute"] == 10 * 20000 and r["dir_one_step_compute"] == 20000 and r["dir_first_order_compute"] is None


def _table(n_seeds: int, gains: dict) -> pd.DataFrame:
    """Two cells a seed with each arm's gain on the loss ``gains[arm]`` times a seeded factor in (0.9, 1.1); on the FD
    the arms' gains come in the reverse order, so a judge that read the FD would get every verdict wrong."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(100, 100 + n_seeds):
        for sampler in ("std-temperature=0.5", "std-temperature=1.6"):
            row = {"seed": seed, "sampler": sampler, "status": "ok"}
            for arm in ARMS:
                for m in ("loss", "fd"):
                    value = gains[arm] if m == "loss" else 1.0 / max(gains[arm], 1e-3)
                    row[f"result.dir_{arm}_gain_{m}"] = value * rng.uniform(0.9, 1.1)
                    row[f"result.dir_{arm}_at_boundary_{m}"] = False
                row.update({f"result.dir_{arm}_cosine": 1.0 if arm == "step" else 0.5, f"result.dir_{arm}_norm_ratio": 1.0,
                            f"result.dir_{arm}_compute": 100.0})
            rows.append(row)
    return pd.DataFrame(rows)


def test_the_judges_hold_where_the_ordering_holds_and_their_controls_fail():
    t = _table(30, {"step": 1.0, "first_order": 0.5, "one_step": 0.8, "random": 0.1, "random_2": 0.1})
    for claim in dirs.RULES:
        e = dirs.judge({"cells": t}, family="ar", claim=claim)
        assert e.test.outcome == PASS and e.control.outcome == FAIL and verdict(e) == HOLDS, claim
    notes = dirs.judge({"cells": t}, family="ar", claim="one-step").notes
    share = float(re.search(r"one-step: median gain ([0-9.]+)×", notes).group(1))
    assert 0.7 < share < 0.9  # 0.8 with a seeded ±10% on each arm


@pytest.mark.parametrize("claim, gains", [
    ("step-beats-random", {"step": 1.0, "first_order": 0.5, "one_step": 0.8, "random": 0.8, "random_2": 0.8}),
    ("step-beats-first-order", {"step": 1.0, "first_order": 1.5, "one_step": 0.8, "random": 0.1, "random_2": 0.1}),
    ("one-step", {"step": 1.0, "first_order": 0.5, "one_step": 0.2, "random": 0.1, "random_2": 0.1}),
])
def test_the_judges_refute_a_broken_ordering_and_name_the_cells(claim, gains):
    e = dirs.judge({"cells": _table(30, gains)}, family="diffusion", claim=claim)
    assert e.test.outcome == FAIL and e.control.outcome == FAIL and verdict(e) == REFUTED and "fails at seed = 100" in e.condition


def test_a_random_direction_that_does_as_well_makes_the_claim_inconclusive():
    e = dirs.judge({"cells": _table(30, {"step": 1.0, "first_order": 0.5, "one_step": 0.8, "random": 0.9, "random_2": 0.9})}, family="ar", claim="one-step")
    assert e.test.outcome == PASS and e.control.outcome == PASS and verdict(e) == "inconclusive"


def test_a_missing_gain_never_holds():
    assert not beats(None, 1.0, 1.0) and not beats(float("nan"), 1.0, 0.5) and beats(1.0, 2.0, 0.5)
    assert not beats(1.0, 1.0, 1.0) and beats(1.0, 2.0, 0.5)  # "more than" is strict, "at least" is not
    # a gain of nothing beats nothing, even a random direction's small negative gain (Brent just off w = 0)
    assert not beats(0.0, -1e-6, 2.0) and not beats(-1e-3, -1e-2, 0.5) and beats(1e-3, -1e-6, 2.0)


def test_every_family_registers_three_claims_with_specs_at_every_preset():
    from neon_theory.run.claims import CLAIMS

    for family, fam in dirs.FAMILIES.items():
        for claim in dirs.RULES:
            assert f"direction-{claim}-{family}" in CLAIMS
        for preset in ("smoke", "paper"):
            spec = fam.spec(preset)
            assert spec.fixed["directions"] is True and min(spec.seeds) >= 100
            images = family.startswith("images-")
            assert len(spec.seeds) == ((10 if images else 30) if preset == "paper" else 1 if family != "gaussian" else 2)
            if images:  # the mode-seeking setting only, at the image claims' preset
                assert spec.fixed["preset"] == ("smoke" if preset == "smoke" else "reduced") and len(spec.grid["sampler"]) == 1
                assert spec.grid["sampler"][0] in ("guidance=3.0", "temperature=0.7")


def test_the_random_control_passes_when_one_random_direction_dwarfs_the_other():
    """The step-beats-random control: a second random direction twice as good as the first must make the rule pass on
    the control, and the claim inconclusive (the rule cannot tell the step from luck)."""
    t = _table(30, {"step": 1.0, "first_order": 0.5, "one_step": 0.8, "random": 0.1, "random_2": 0.5})
    e = dirs.judge({"cells": t}, family="ar", claim="step-beats-random")
    assert e.test.outcome == PASS and e.control.outcome == PASS and verdict(e) == "inconclusive"


def test_the_image_cell_merges_along_each_arm_and_agrees_with_its_own_step_fields():
    """pixel-ar at smoke size, seed 7: −αP r_s's cosine to the step is the cell's displacement_cosine, computed apart
    (to 1e-9); one Adam step on all of S moves every parameter with a nonzero gradient by α·g/(|g| + ε), so its norm is
    α·√p at most and, in a net whose every weight gets a gradient, within 1% of it; the random arms have the step's
    norm and a small cosine to it in thousands of parameters."""
    from neon_theory.params import num_parameters
    from studies.images.cells import IMAGE_PRESETS, ImageCell, _image_probe, image_cell

    cfg = ImageCell(family="pixel-ar", sampler="temperature=0.7", preset="smoke", directions=True)
    r = image_cell(cfg, 7)
    s = IMAGE_PRESETS["smoke"]
    assert r["dir_first_order_cosine"] == pytest.approx(r["displacement_cosine"], abs=1e-9)
    assert r["dir_step_cosine"] == pytest.approx(1.0) and r["dir_step_norm_ratio"] == pytest.approx(1.0)
    p = num_parameters(_image_probe(cfg.base(), "adam", 7, 0).model.module)
    one_step_norm = r["dir_one_step_norm_ratio"] * r["displacement_norm"]
    assert 0.99 * r["alpha"] * p**0.5 < one_step_norm <= r["alpha"] * p**0.5 * (1 + 1e-6)
    for arm in ("random", "random_2"):
        assert r[f"dir_{arm}_norm_ratio"] == pytest.approx(1.0) and abs(r[f"dir_{arm}_cosine"]) < 0.1
    assert r["dir_step_compute"] == s["ft_steps"] * s["batch"] and r["dir_one_step_compute"] == s["n_synthetic"]
    assert r["dir_first_order_compute"] == _image_probe(cfg.base(), "adam", 7, 0).real.shape[0]  # r_s on as many rows as r_d
    assert all(isinstance(r[f"dir_{a}_gain_loss"], float) and isinstance(r[f"dir_{a}_best_w_loss"], float) for a in ARMS)
