"""The studies' claim judges on made-up sweep tables whose truth is known: a law that holds passes,
a flipped sign fails, and the controls do not pass."""

import numpy as np
import pandas as pd
import pytest

from neon_theory.run.claims import CONDITIONAL, FAIL, HOLDS, INCONCLUSIVE, PASS, REFUTED, verdict
from studies.official_ar import claims as ar
from studies.official_diffusion import claims as diff
from studies.scoring import permuted, scoring_seeds, sign, sign_agreement


def _cells(n_seeds: int, flip: bool = False, axes=("tau",), values=(0.5, 1.6)):
    rows = []
    rng = np.random.default_rng(0)
    for seed in range(100, 100 + n_seeds):
        for v in values:
            s = (1 if v > 1 else -1) * rng.uniform(0.1, 1)
            w = -np.sign(s) * rng.uniform(0.1, 1) * (-1 if flip else 1)
            rows.append({"seed": seed, axes[0]: v, "status": "ok", "result.s": s, "result.cosine": s / 2, "result.best_w": w})
    return pd.DataFrame(rows)


def test_thirty_seeds_of_a_law_that_holds_pass_and_its_coin_control_does_not():
    e = sign_agreement(_cells(30), "t", ["tau"])
    assert e.test.outcome == PASS and e.test.estimate == 1 and e.control.outcome != PASS
    assert verdict(e) == HOLDS and e.condition == "" and len(e.seeds) == 30


def test_a_flipped_sign_refutes_the_law_and_names_the_cells():
    e = sign_agreement(_cells(30, flip=True), "t", ["tau"])
    assert e.test.outcome == FAIL and verdict(e) == REFUTED
    assert "disagrees at seed = 100" in e.condition and "(and 54 more)" in e.condition


def test_the_ar_sign_law_judge_reads_the_sign_of_the_cosine_against_tau():
    frame = _cells(30, values=(0.5, 0.8, 1.25, 1.6))
    assert verdict(ar.judge_sign_law({"cosine": frame})) == HOLDS
    frame.loc[frame.tau == 0.8, "result.cosine"] *= -1
    e = ar.judge_sign_law({"cosine": frame})
    assert verdict(e) == REFUTED and "τ = +0.8" in e.condition


def test_the_budget_judge_finds_w_inverse_in_the_budget_and_refutes_a_flat_w():
    rows = []
    for seed in range(100, 110):
        for tau in (0.5, 1.6):
            for epochs in (25, 50, 100, 250):
                w = 10.0 / epochs * (1 + 0.02 * ((seed + epochs) % 3 - 1))
                rows.append({"seed": seed, "tau": tau, "ft_epochs": epochs, "status": "ok", "result.best_w": w if tau < 1 else -w, "result.base_fd": 0.1})
    frame = pd.DataFrame(rows)
    e = ar.judge_budget({"cells": frame})
    assert e.test.outcome == PASS and e.test.estimate == pytest.approx(-1, abs=0.03) and e.control.outcome == FAIL
    flat = frame.assign(**{"result.best_w": 0.3})
    assert verdict(ar.judge_budget({"cells": flat})) == REFUTED


def test_the_diffusion_judge_reports_how_often_neon_helps_where_s_is_positive():
    frame = _cells(30, axes=("zeta",), values=(0.9, 1.1))
    frame["ft_steps"] = 50
    assert verdict(diff.judge_best_w_sign({"cells": frame})) == HOLDS
    frame.loc[frame.zeta > 1, "result.best_w"] = 0.5  # Neon helps at ζ = 1.1 whatever s says (s > 0 there)
    e = diff.judge_best_w_sign({"cells": frame})
    assert verdict(e) == REFUTED and "positive in 100% of cells while s < 0 in 0%" in e.notes


def test_the_permutation_is_fixed_and_keeps_the_values():
    values = list(range(50))
    p = permuted(values, "x")
    assert p == permuted(values, "x") and p != permuted(values, "y") and sorted(p) == values and p != values


def test_missing_values_never_agree_with_the_law():
    frame = _cells(30)
    frame["result.s"] = np.nan
    frame["result.best_w"] = np.float32("nan")
    e = sign_agreement(frame, "t", ["tau"])
    assert e.test.estimate == 0 and verdict(e) != HOLDS
    assert sign(np.float32(2.0)) == 1 and sign(np.int64(-3)) == -1 and sign(np.nan) == 0 and sign(None) == 0


def test_a_sign_that_never_changes_makes_the_control_pass_and_the_claim_inconclusive():
    """Every cell mode-seeking: s < 0 and best w > 0 everywhere, so pairing s with any other cell
    agrees as well: the data cannot credit s with the prediction."""
    frame = _cells(30, values=(0.5, 0.7))
    e = sign_agreement(frame, "t", ["tau"])
    assert e.test.outcome == PASS and e.control.outcome == PASS and verdict(e) == INCONCLUSIVE


def test_scoring_seeds_never_overlap_the_development_seeds():
    for preset in ("smoke", "reduced", "paper"):
        assert min(scoring_seeds(preset, paper=30)) >= 100
    assert len(scoring_seeds("smoke")) == 2 and len(scoring_seeds("paper", paper=30)) == 30


def test_the_theorem_1_claims_name_their_counterexamples():
    from studies.theory import claims as t1

    printed, first = t1.judge_printed({}), t1.judge_first_order({})
    assert verdict(printed) == CONDITIONAL and "plain gradient" in printed.condition
    assert verdict(first) == CONDITIONAL and "Gaussian natural gradient" in first.condition and "categorical" in first.condition
    assert printed.control.outcome == FAIL and first.control.outcome == FAIL


def test_the_remainder_of_theorem_1_is_second_order_not_third():
    from studies.theory import claims as t1

    e = t1.judge_remainder({})
    assert verdict(e) == REFUTED and e.test.estimate == pytest.approx(2.0, abs=0.02) and e.test.n == 14
    assert e.control.estimate == pytest.approx(1.0, abs=0.02) and e.control.outcome == FAIL


def test_the_spread_judge_asks_whether_the_training_set_predicts_the_sign_of_s():
    rows = []
    for seed in range(100, 130):
        v = 0.9 if seed % 2 else 1.1
        rows.append({"seed": seed, "zeta": 1.1, "ft_steps": 50, "status": "ok", "result.s": v - 1, "result.train_var_major": v})
    frame = pd.DataFrame(rows)
    e = diff.judge_spread({"cells": frame})
    assert verdict(e) == HOLDS and "+1.00" in e.notes and e.control.outcome == FAIL  # shuffled spreads predict half the seeds
    frame["result.s"] = -frame["result.s"]
    assert verdict(diff.judge_spread({"cells": frame})) == REFUTED


def test_the_first_order_domain_claim_gives_the_grid_its_doubt_and_fails_a_domain_far_short():
    from studies.images import claims as img

    def frame(domain, best):
        rows = [{"seed": s, "status": "ok", "sampler": "x", "result.first_order_w_step": domain, "result.first_order_resolved_step": 1e-4,
                 "result.first_order_w_neon": 2e-4, "result.best_w_loss": best} for s in range(100, 110)]
        return {"cells": pd.DataFrame(rows)}

    near = img.judge_domain(frame(0.003, 0.028))  # the domain lies in [0.003, 0.01): it may reach 0.2 x 0.028
    assert near.test.outcome == PASS and near.control.outcome == FAIL and verdict(near) == HOLDS
    far = img.judge_domain(frame(0.001, 0.1))  # in [0.001, 0.003): short of 0.02 whatever the grid hides
    assert far.test.outcome == FAIL and verdict(far) == REFUTED and "seed = 100" in far.condition
    unresolved = img.judge_domain({"cells": frame(0.003, 0.028)["cells"].assign(**{"result.first_order_resolved_step": None})})
    assert unresolved.test.estimate == 0  # no resolved point: no domain to credit
    # a domain of 0: the smallest resolved |w| (here 0.01) failed, so the domain lies in [0, 0.01), which may reach 0.2 x 0.04
    zero = img.judge_domain({"cells": frame(0.0, 0.04)["cells"].assign(**{"result.first_order_resolved_step": 0.01})})
    assert zero.test.outcome == PASS
    short = img.judge_domain({"cells": frame(0.0, 0.1)["cells"].assign(**{"result.first_order_resolved_step": 0.01})})
    assert short.test.outcome == FAIL  # [0, 0.01) cannot reach 0.02


def test_the_magnitude_rule_passes_the_published_sizes_and_its_swapped_control_fails():
    from studies.scoring import judge_magnitudes

    published = {(0.5, 50): 0.2, (1.6, 50): -0.25}
    rng = np.random.default_rng(1)
    rows = pd.DataFrame([{"seed": s, "tau": t, "ft_epochs": 50, "status": "ok", "result.best_w": v * rng.uniform(0.9, 1.1)}
                         for s in range(100, 130) for (t, _), v in published.items()])
    e = judge_magnitudes(rows, published, ("tau", "ft_epochs"))
    assert e.test.outcome == PASS and e.control.outcome == FAIL and verdict(e) == HOLDS
    small = judge_magnitudes(rows.assign(**{"result.best_w": rows["result.best_w"] / 4}), published, ("tau", "ft_epochs"))
    assert small.test.outcome == FAIL and verdict(small) == REFUTED and "0.25x" in small.condition


def test_the_a_mono_rule_refutes_a_widening_solver_and_holds_for_the_first_order_ones():
    from studies.solvers import claims as sv

    rng = np.random.default_rng(2)
    shift = {"ddim": -1.0, "euler": -2.0, "heun": +3.0, "midpoint": -0.5, "exact": 0.0}
    rows = pd.DataFrame([{"seed": s, "target": "gaussian", "solver": k, "steps": n, "status": "ok",
                          "result.trace_shift": shift[k] * 5 / n + rng.normal(0, 0.001)}
                         for s in range(100, 110) for k in shift for n in (5, 10, 20, 40)])
    e = sv.judge_a_mono({"cells": rows})
    assert e.test.outcome == FAIL and e.conditional.outcome == PASS and e.control.outcome != PASS
    assert verdict(e) == CONDITIONAL and "gaussian/heun" in e.condition and "gaussian/ddim: 1.00" in e.notes


def test_the_se_calibration_passes_an_honest_se_and_fails_a_doubled_one():
    from studies.images import claims as img

    rng = np.random.default_rng(3)
    # 400 honest draws: the ratio's SE is about 3.5%, so its interval (±7%) lies inside (0.8, 1.25) unless the draw is 5 SE off
    frames = {f: pd.DataFrame([{"seed": 100, "status": "ok", "result.s": rng.normal(5, 2), "result.s_se": 2.0} for _ in range(400)]) for f in ("a", "b")}
    e = img.judge_se(frames)
    assert e.test.outcome == PASS and e.control.outcome == FAIL and verdict(e) == HOLDS
    assert 0.9 < e.test.estimate < 1.1 and "a: " in e.notes and "b: " in e.notes
    doubled = img.judge_se({f: df.assign(**{"result.s_se": 4.0}) for f, df in frames.items()})
    assert doubled.test.outcome == FAIL
    halved_in_one = img.judge_se({"a": frames["a"], "b": frames["b"].assign(**{"result.s_se": 1.0})})
    assert halved_in_one.test.outcome == FAIL and halved_in_one.test.estimate > 1.8  # the least favourable family decides


def _pr_cells(n_seeds: int, *, precision_slope: float, recall_curvature: float, noise: float = 0.002, values=(0.5, 1.6), other_slope=None):
    """AR-toy records with precision = 0.8 + slope·w and recall = 0.6 + curvature·(w - 0.2)², plus noise; at
    τ = 1.6 the precision slope is ``other_slope``, by default reversed (negative extrapolation sharpens there)."""
    rng = np.random.default_rng(1)
    ws = list(np.round(np.linspace(-1, 1, 21), 6))
    rows = []
    for seed in range(100, 100 + n_seeds):
        for tau in values:
            slope = precision_slope if tau < 1 else -precision_slope if other_slope is None else other_slope
            p = [0.8 + slope * w + rng.normal(0, noise) for w in ws]
            r = [0.6 + recall_curvature * (w - 0.2) ** 2 + rng.normal(0, noise) for w in ws]
            rows.append({"seed": seed, "tau": tau, "status": "ok", "w_values": ws, "result.precision_at_w": p, "result.recall_at_w": r})
    return pd.DataFrame(rows)


def test_the_precision_and_recall_reading_holds_on_curves_that_have_it_and_fails_on_mutations():
    good = {"cells": _pr_cells(30, precision_slope=-0.05, recall_curvature=-0.1)}
    falls, peaks = ar.judge_precision_falls(good), ar.judge_recall_inverted_u(good)
    assert falls.test.outcome == PASS and falls.control.outcome == FAIL and verdict(falls) == HOLDS
    assert peaks.test.outcome == PASS and peaks.control.outcome == FAIL and verdict(peaks) == HOLDS
    assert "median vertex +0.2" in peaks.notes and "concave in 30 of 30" in peaks.notes
    rising = {"cells": _pr_cells(30, precision_slope=+0.05, recall_curvature=+0.1, other_slope=+0.05)}  # precision rises at both τ, recall is a U
    for e in (ar.judge_precision_falls(rising), ar.judge_recall_inverted_u(rising)):
        assert e.test.outcome == FAIL and verdict(e) == REFUTED and "at seed = 100" in e.condition
    flat = {"cells": _pr_cells(30, precision_slope=0.0, recall_curvature=0.0, noise=0.01)}  # noise only: neither reading
    assert ar.judge_precision_falls(flat).test.outcome == FAIL
    everywhere = ar.judge_precision_falls({"cells": _pr_cells(30, precision_slope=-0.05, recall_curvature=-0.1, other_slope=-0.05)})
    assert everywhere.test.outcome == PASS and everywhere.control.outcome == PASS and verdict(everywhere) == INCONCLUSIVE  # no tie to the sampler


def test_the_image_precision_recall_judge_splits_the_settings_by_sharpening():
    from studies.images import claims as img

    rows = _pr_cells(10, precision_slope=-0.05, recall_curvature=-0.1)
    rows = rows.assign(sampler=rows.tau.map({0.5: "guidance=3.0", 1.6: "guidance=0.5"}),
                       **{"result.sharpening": rows.tau.map({0.5: "mode-seeking", 1.6: "mixed"}), "preset": "reduced"})
    e = img.judge_precision_recall({"cells": rows}, family="diffusion", which=0)
    assert verdict(e) == HOLDS and "at guidance=3.0" in e.test.what and "reduced (8×8 digits)" in e.notes
    swapped = rows.assign(**{"result.sharpening": rows.tau.map({0.5: "mixed", 1.6: "mode-seeking"})})
    assert img.judge_precision_recall({"cells": swapped}, family="diffusion", which=0).test.outcome == FAIL
    peaks = img.judge_precision_recall({"cells": rows}, family="diffusion", which=1)
    assert verdict(peaks) == HOLDS and peaks.test.estimate == 1
    u_shaped = rows.assign(**{"result.recall_at_w": [[2 - v for v in r] for r in rows["result.recall_at_w"]]})
    assert img.judge_precision_recall({"cells": u_shaped}, family="diffusion", which=1).test.outcome == FAIL


def test_the_sharpness_judge_wants_the_cosine_to_fall_as_the_sampler_sharpens():
    from studies.images import claims as img

    rng = np.random.default_rng(2)
    temps = (0.5, 0.7, 0.9, 1.0, 1.1, 1.5)
    rows = pd.DataFrame([{"seed": seed, "T": t, "status": "ok", "preset": "reduced",
                          "result.cosine": None if t == 1.0 else 0.3 * np.log(t) + rng.normal(0, 0.01)}
                         for seed in range(100, 110) for t in temps])
    e = img.judge_sharpness({"cells": rows}, family="pixel-ar")  # lower temperature is sharper: the cosine rises with T
    assert verdict(e) == HOLDS and "T = 1.5: mean P-cosine +0.12" in e.notes and "neutral at 1" in e.notes
    flipped = rows.assign(**{"result.cosine": -rows["result.cosine"].astype(float)})
    e = img.judge_sharpness({"cells": flipped}, family="pixel-ar")
    assert verdict(e) == REFUTED and "seeds [100, 101" in e.condition
    as_guidance = rows.rename(columns={"T": "guidance"})  # for guidance a larger value is sharper: the same numbers now rise with sharpness
    assert img.judge_sharpness({"cells": as_guidance}, family="diffusion").test.outcome == FAIL
