"""The image families' claims: does the sign of s predict the best w, on the held-out loss and on FID?"""

from __future__ import annotations

import dataclasses
import functools
import math

from neon_theory.run.claims import Claim, Evidence, SDOverSE, SignCount, every, register_claim
from neon_theory.run.sweeps import SweepSpec
from neon_theory.sampler_text import SAMPLER_NAMES

from ..presets import sampler_grid
from ..scoring import (
    BAND,
    FIRST_SCORING_SEED,
    INVERTED_U,
    MONOTONE_RHO,
    PR_SOURCE,
    listing,
    ok_rows,
    per_seed,
    permuted,
    precision_recall_evidence,
    seed_list,
    sign_agreement,
    within_band,
)
from . import families  # noqa: F401  (registers the built-in families)
from .cells import DOMAIN_WS
from .family import IMAGE_FAMILIES
from .figures import SCORED_SIZES, best_w_figure, scoring_spec, sharpness_spec

#: the bar of the image claims' sign counts: "in most seeds".  With 10 seeds a bar of 0.8 cannot be
#: passed (10 of 10 give a Clopper-Pearson lower bound of 0.69); 0.5 is passed by 9 or 10 of 10.
BAR = 0.5
#: what each metric's claim reads from an image cell
METRICS = {"loss": ("result.best_w_loss", "the held-out loss"), "fid": ("result.best_w_fid", "FID against the held-out images")}


def scored_cells():
    """((size, the claims' name part, the set in words), family) of every digit size the image claims are scored at
    and every family scored there: ``images`` at 8×8 (the first paper run's names), ``images16`` at 16×16."""
    return [((size, "images" if size == 8 else f"images{size}", f"{size}×{size} digits"), family)
            for size, scored in SCORED_SIZES.items() for family in scored]


def _set_of(rows) -> str:
    """The preset and image set of the rows, in words."""
    size = int(rows["size"].iloc[0]) if "size" in rows else 8
    return f"image preset {rows['preset'].iloc[0]} ({size}×{size} digits)"


def judge(frames: dict, *, family: str, metric: str) -> Evidence:
    rows = ok_rows(frames["cells"])
    best, what = METRICS[metric]
    e = sign_agreement(rows, f"best-w-sign-images-{family}-{metric}", ["sampler"], best=best, metric=what, at_least=BAR)
    notes = ""
    if metric == "fid" and "result.base_fid_at_floor_n" in rows:
        n = int(rows["result.fid_floor_n"].iloc[0])
        notes = (f"base FID {rows['result.base_fid'].mean():.3g} on {int(rows['result.n_eval'].iloc[0])} samples (mean); at the floor's size, "
                 f"{n} samples, base {rows['result.base_fid_at_floor_n'].mean():.3g} against the floor {rows['result.fid_floor'].mean():.3g} ± "
                 f"{rows['result.fid_floor_se'].mean():.2g} (two real sets the feature net never saw)")
    sizes = _set_of(rows) if len(rows) else ""
    return dataclasses.replace(e, notes="; ".join(x for x in (sizes, notes) if x))


for (_size, _set, _words), _family in scored_cells():
    for _metric, (_, _what) in METRICS.items():
        register_claim(Claim(
            name=f"best-w-sign-{_set}-{_family}-{_metric}",
            statement=f"On images ({_family}, {_words}), the sign of s predicts the sign of the best w on {_what}.",
            source="Thm B.1 with Thm 2, carried to image models",
            rule=SignCount(BAR, "fraction of seeds where it holds at both settings").rule(),
            control="the same rule with s permuted over all cells (a seeded permutation), which must fail",
            sweeps={"cells": functools.partial(scoring_spec, _family, size=_size)},
            judge=functools.partial(judge, family=_family, metric=_metric),
            figure=best_w_figure(_size),
            test=("tests/studies/test_counterexamples.py::test_neon_helps_fid_on_16x16_digits_where_s_says_it_should_not"
                  if (_size, _family, _metric) == (16, "diffusion", "fid") else ""),
            order=70 if _metric == "loss" else 71,
        ))


PREDICTIONS = {
    "w-star-images": ("result.w_star", "Thm B.1's w* = -s/(αz), with α = lr × steps", "Thm B.1 (w* = -s/(αz))"),
    "w-star-step-images": ("result.w_star_displacement", "the quadratic model along the realised step Δ = θ_s - θ_r, <r_d, Δ>/<Δ, ĤΔ>",
                           "App. B.10 (the plug-in ŝ, ẑ of the displacement)"),
}


def judge_prediction(frames: dict, *, column: str) -> Evidence:
    rows = ok_rows(frames["cells"])
    rule = SignCount(BAR, f"fraction of seeds where the prediction is within {BAND[0]:g}-{BAND[1]:g}x of the best w on the held-out loss in every cell")

    def close(g) -> bool:
        return all(within_band(p, b) for p, b in zip(g[column], g["result.best_w_loss"]))

    test = rule.judge(per_seed(rows, close))
    control = rule.judge(per_seed(rows.assign(**{column: permuted(rows[column], f"prediction/{column}")}), close))
    ratios = (rows[column] / rows["result.best_w_loss"]).abs()
    notes = f"|prediction / best w| from {ratios.min():.3g} to {ratios.max():.3g} (median {ratios.median():.3g}) over {len(rows)} cells" if len(rows) else ""
    if len(rows) and "result.first_order_w_step" in rows:
        notes += ("; the first-order domain (largest |w| with the loss change within 10% of its first-order prediction): median "
                  f"{rows['result.first_order_w_step'].median():.3g} along the realised step, {rows['result.first_order_w_neon'].median():.3g} "
                  f"along -αP r_s, against a median |best w| of {rows['result.best_w_loss'].abs().median():.3g}")
    outside = rows[[not within_band(p, b) for p, b in zip(rows[column], rows["result.best_w_loss"])]]
    shown = {"seed": "seed", "sampler": "sampler", "prediction": column, "best w": "result.best_w_loss"}
    condition = "" if test.outcome != "fail" or outside.empty else "outside the band at " + listing(outside, shown)
    return Evidence(test, control, seeds=seed_list(rows), condition=condition, notes=notes)


for (_size, _set, _words), _family in scored_cells():
    for _name, (_column, _what, _source) in PREDICTIONS.items():
        register_claim(Claim(
            name=f"{_name.replace('images', _set)}-{_family}",
            statement=f"On images ({_family}, {_words}), {_what} predicts the best w on the held-out loss (within a factor of 2).",
            source=_source,
            rule=f"the 95% Clopper–Pearson interval of the fraction of seeds with every cell's prediction within {BAND[0]:g}-{BAND[1]:g}x of the "
                 f"best w lies at or above {BAR:g}",
            control="the same rule with the predictions permuted over all cells (a seeded permutation), which must fail",
            sweeps={"cells": functools.partial(scoring_spec, _family, size=_size)},
            judge=functools.partial(judge_prediction, column=_column),
            figure=best_w_figure(_size),
            test="tests/studies/test_counterexamples.py::test_thm_b1s_w_star_misses_the_best_w_on_images" if _name == "w-star-images" else "",
            order=72 if _name == "w-star-images" else 73,
        ))


#: an exact quadratic's first-order prediction is off by 10% at 0.2 of its minimiser: the first-order domain
#: of a loss that is quadratic out to the best w reaches at least this share of |best w|
QUADRATIC_SHARE = 0.2


def _domain_bound(domain: float) -> float:
    """The grid point above a measured domain: the domain lies in [domain, bound) (the grid's steps are 3x)."""
    above = [w for w in DOMAIN_WS if w > domain]
    return above[0] if above else math.inf


def _reaches(d, resolved, best, share: float) -> bool:
    """The domain may reach share·|best w|: its upper bound does (the benefit of the grid's doubt goes to the claim).
    A domain of 0 means the smallest resolved |w| already failed: the domain lies in [0, resolved)."""
    if resolved is None or not math.isfinite(float(resolved)) or not math.isfinite(float(d)):
        return False
    bound = float(resolved) if float(d) == 0 else _domain_bound(float(d))
    return bound >= share * abs(best)


def _cells_reaching(rows, share: float) -> list[bool]:
    """Per cell (row), whether its first-order domain along the realised step may reach share·|best w|."""
    cells = zip(rows["result.first_order_w_step"], rows["result.first_order_resolved_step"], rows["result.best_w_loss"])
    return [_reaches(d, r, b, share) for d, r, b in cells]


def judge_domain(frames: dict) -> Evidence:
    rows = ok_rows(frames["cells"])
    rule = SignCount(BAR, f"fraction of seeds where the first-order domain along the realised step may reach {QUADRATIC_SHARE:g}·|best w| in every cell")
    test = rule.judge(per_seed(rows, lambda g: all(_cells_reaching(g, QUADRATIC_SHARE))))
    control = rule.judge(per_seed(rows, lambda g: all(_cells_reaching(g, 10.0))))  # ten times the best w: a quadratic's first order is off by 500% there
    short = rows[[not ok for ok in _cells_reaching(rows, QUADRATIC_SHARE)]]
    med = rows[["result.first_order_w_step", "result.first_order_w_neon"]].median() if len(rows) else None
    return Evidence(
        test, control, seeds=seed_list(rows),
        condition="" if test.outcome != "fail" else "the first-order domain ends short of the merge scale (its upper bound included) at " + listing(
            short, {"seed": "seed", "sampler": "sampler", "domain": "result.first_order_w_step", "best w": "result.best_w_loss"}),
        notes="" if med is None else (
            f"first-order domain (largest |w| of {list(DOMAIN_WS)} with the held-out loss change within 10% of its first-order prediction, "
            f"both signs): median {med['result.first_order_w_step']:.3g} along the realised step, {med['result.first_order_w_neon']:.3g} along "
            f"-αP r_s, against a median |best w| of {rows['result.best_w_loss'].abs().median():.3g}; a cell counts as reaching when the grid point "
            f"above its domain does (the grid's steps are 3x); {len(short)} of {len(rows)} cells fall short even so"),
    )


for (_size, _set, _words), _family in scored_cells():
    register_claim(Claim(
        name=f"first-order-domain-{_set}-{_family}",
        statement=f"On images ({_family}, {_words}), the merge lies in Thm B.1's regime: the held-out loss along the realised step follows "
                  f"its first-order prediction (within 10%) out to {QUADRATIC_SHARE:g}·|best w|, as a loss quadratic out to the best w does.",
        source="Thm B.1 (the first- and second-order expansion at the w Neon uses)",
        rule=SignCount(BAR, "fraction of seeds").rule() + f" (a seed holds when the domain reaches {QUADRATIC_SHARE:g}·|best w| in every cell)",
        control="a check of the rule rather than a control of the data: the same rule at 10·|best w|, which must fail",
        sweeps={"cells": functools.partial(scoring_spec, _family, size=_size)},
        judge=judge_domain,
        figure=best_w_figure(_size),
        order=74,
    ))


#: held-out redraws of the SE calibration: a handful at smoke (CI), 200 beyond (the ratio's SE is then about 5%)
SE_DRAWS = {"smoke": 3}
#: the first held-out draw of the calibration beyond smoke: draws 1-60 were looked at (at smoke size) when the rule was
#: replaced, so the calibration that judges the new rule reads fresh ones
SE_FIRST_DRAW = {"smoke": 1}
#: the SD/SE band the issue fixed for the image SEs
SE_BAND = (0.8, 1.25)


def se_spec(family: str, preset: str) -> SweepSpec:
    """s at the family's first mode-seeking setting on redrawn held-out sets (3 at smoke, 200 beyond), one base
    (the first scoring seed), at the scored image cells' size (smoke cells at smoke, :data:`SCORING_IMAGE_PRESET`
    beyond: a few seconds a draw once the base is trained)."""
    from .figures import SCORING_IMAGE_PRESET

    neon = IMAGE_FAMILIES[family].neon
    first = SE_FIRST_DRAW.get(preset, 61)
    draws = tuple(range(first, first + SE_DRAWS.get(preset, 200)))
    return SweepSpec("image-cell", grid={"sampler": sampler_grid(neon.name, neon.smoke[:1]), "held_out_draw": draws},
                     seeds=(FIRST_SCORING_SEED,), fixed={"family": family, "preset": SCORING_IMAGE_PRESET.get(preset, preset)})


def judge_se(frames: dict) -> Evidence:
    rule = SDOverSE(*SE_BAND, "SD of s over held-out redraws / its mean reported SE, in the least favourable family")
    tests, controls, ratios = [], [], []
    for family, frame in frames.items():
        rows = ok_rows(frame)
        s, se = rows["result.s"].astype(float).tolist(), rows["result.s_se"].astype(float).tolist()
        tests.append(rule.judge(s, se))
        # the SE doubled and the SE halved: mutations the rule must catch (both, so that an SE half the true spread,
        # which doubling would make look honest, still leaves a failing control and reads refuted, not inconclusive)
        controls.append(every([rule.judge(s, [2.0 * v for v in se]), rule.judge(s, [0.5 * v for v in se])]))
        if len(rows) > 1:
            ratios.append(f"{family}: {tests[-1].text()}")
    seeds = tuple(sorted({int(s) for f in frames.values() for s in f.seed.unique()}))
    presets = sorted({str(p) for f in frames.values() for p in f.get("preset", [])})
    draws = [int(d) for f in frames.values() for d in f.get("held_out_draw", [])]
    read = f"draws {min(draws)}-{max(draws)}" if draws else "no draws"
    return Evidence(every(tests), every(controls), seeds=seeds,
                    notes="SD/SE per family: " + "; ".join(ratios) + ". Each draw redraws the held-out images (with replacement), the "
                          f"loss noise and the synthetic set, with P fixed (the SE is conditional on P); image cells at {', '.join(presets) or '?'} "
                          "size (8×8 digits), one base. The first paper run judged the mean of ((s - mean s)/SE)² against (0.5625, 1.7689) on "
                          "draws 1-60 at smoke size (inconclusive: 2.27 [0.87, 3.67], SD/SE 1.20, 1.08, 1.14); that rule was replaced because an "
                          "SE from 8 jackknife batches makes the mean square (8-1)/(8-3) = 1.4 with a heavy tail even when honest. This rule "
                          f"(the issue's band on SD/SE) reads {read}, at the scored cells' size (draws 1-60 are the ones that were looked at)")


register_claim(Claim(
    name="image-se-calibration",
    statement="The image cells' standard error of s is honest: it matches the spread of s over redrawn held-out sets (SD/SE in 0.8-1.25).",
    source="the toolkit's own estimator (every reported SE is checked against the SD over repeats)",
    rule=SDOverSE(*SE_BAND, "SD of s over held-out redraws / its mean reported SE").rule() + ", in every image family",
    control="the same rule with the SE doubled and with it halved (mutated estimators), each of which must fail",
    sweeps={f: functools.partial(se_spec, f) for f in IMAGE_FAMILIES},
    judge=judge_se,
    figure="",
    test="tests/studies/test_image_error_bars.py::test_the_se_of_s_matches_its_sd_over_redrawn_held_out_sets",
    order=69,
))


#: the tests that reproduce the counterexamples of the sharpness and precision/recall claims (those refuted in the paper run)
_COUNTEREXAMPLES = "tests/studies/test_counterexamples.py::"
PR_TESTS = {
    "cosine-vs-sharpness-images-diffusion": _COUNTEREXAMPLES + "test_guidance_raises_the_p_cosine_of_the_diffusion_images",
    "recall-inverted-u-images-diffusion": _COUNTEREXAMPLES + "test_recall_of_the_images_rises_through_the_grid",
    "recall-inverted-u-images-flow": _COUNTEREXAMPLES + "test_recall_of_the_images_rises_through_the_grid",
}
#: w at which the image precision/recall claims read precision and recall: the best w on FID of the 8×8 cells lies in ±0.3
PR_WS = (-0.5, -0.375, -0.25, -0.125, 0.0, 0.125, 0.25, 0.375, 0.5)


def precision_recall_spec(family: str, preset: str) -> SweepSpec:
    """prdc precision and recall of θ_Neon(w) samples (1,000 a side at reduced, k = 5) along :data:`PR_WS` (3 points at
    smoke) at the family's two Neon settings, 8×8 digits, on the scoring seeds (10; one at smoke, where three w
    cannot show an inverted U anyway and the pixel transformer's cells are the CI's slowest)."""
    from ..scoring import scoring_seeds
    from .figures import SCORING_IMAGE_PRESET

    neon = IMAGE_FAMILIES[family].neon
    smoke = preset == "smoke"
    return SweepSpec("image-cell", grid={"sampler": sampler_grid(neon.name, neon.smoke if smoke else neon.full)},
                     seeds=scoring_seeds(preset, paper=10, smoke=1),
                     fixed={"family": family, "preset": SCORING_IMAGE_PRESET.get(preset, preset), "w_values": PR_WS[::4] if smoke else PR_WS})


def judge_precision_recall(frames: dict, *, family: str, which: int) -> Evidence:
    rows = ok_rows(frames["cells"])
    sharp = rows["result.sharpening"] == "mode-seeking"
    words = tuple(str(rows[m]["sampler"].iloc[0]) if m.any() else "?" for m in (sharp, ~sharp))
    e = precision_recall_evidence(rows[sharp], rows[~sharp], f"precision-recall-images/{family}", words, at_least=BAR)[which]
    return dataclasses.replace(e, notes=f"{e.notes}; {_set_of(rows) if len(rows) else ''}")


for _family in IMAGE_FAMILIES:
    for _which, (_claim, _says, _rule, _control) in enumerate((
        ("precision-falls", "the precision of θ_Neon(w) samples falls monotonically with w",
         f"fraction of seeds where Spearman ρ(w, precision) ≤ {MONOTONE_RHO:g}",
         "the same rule at the family's other setting, which must fail: diversity-seeking for pixel-ar (T = 1.3: negative extrapolation "
         "sharpens there, so precision should rise with w); for diffusion and flow it is mixed (γ = 0.5 on 10 steps), where the theory "
         "predicts no direction, so the control only asks whether the fall is specific to the mode-seeking setting"),
        ("recall-inverted-u", "the recall of θ_Neon(w) samples is an inverted U in w",
         f"fraction of seeds where recall is an inverted U in w ({INVERTED_U})",
         "a check of the rule rather than of the data: the same rule with each seed's recall values in a seeded random order along w, which must fail"),
    )):
        register_claim(Claim(
            name=f"{_claim}-images-{_family}",
            statement=f"On images ({_family}, 8×8 digits) with the mode-seeking setting, {_says}.",
            source=PR_SOURCE,
            rule=SignCount(BAR, _rule).rule() + f" (w in {PR_WS[0]:g}..{PR_WS[-1]:g}, {len(PR_WS)} points)",
            control=_control,
            sweeps={"cells": functools.partial(precision_recall_spec, _family)},
            judge=functools.partial(judge_precision_recall, family=_family, which=_which),
            figure="",
            test=PR_TESTS.get(f"{_claim}-images-{_family}", ""),
            order=76,
        ))


#: which way each family's first sampler sweep sharpens: +1 where a larger value is sharper (guidance), -1 where smaller is (temperature)
SHARPER = {"guidance": 1, "temperature": -1}


def judge_sharpness(frames: dict, *, family: str) -> Evidence:
    from ..scoring import falls_along

    rows = ok_rows(frames["cells"])
    sweep = IMAGE_FAMILIES[family].sweeps[0]
    col, direction = SAMPLER_NAMES[sweep.name].column, SHARPER[sweep.name]
    # the neutral sampler has no P-cosine (S is the model's own law)
    rows = rows.assign(cos=rows["result.cosine"].astype(float), value=rows[col].astype(float)).dropna(subset=["cos"])
    rule = SignCount(BAR, f"fraction of seeds where the P-cosine falls as the sampler sharpens (Spearman ρ ≤ {MONOTONE_RHO:g} against {direction:+d}·{col})")

    def falls(g) -> bool:
        return falls_along(direction * g["value"], g["cos"])

    shuffled = rows.copy()
    for seed, idx in rows.groupby("seed").groups.items():
        shuffled.loc[idx, "cos"] = permuted(rows.loc[idx, "cos"], f"cosine-vs-sharpness/{family}/{seed}")
    holds = {int(s): falls(g) for s, g in rows.groupby("seed")}
    test, control = rule.judge(list(holds.values())), rule.judge(per_seed(shuffled, falls))
    failing = [s for s, ok in holds.items() if not ok]
    values = sorted(rows["value"].unique(), key=lambda v: direction * v)
    mean = rows.assign(negative=rows["cos"] < 0).groupby("value").agg(mean=("cos", "mean"), negative=("negative", "sum"), size=("cos", "size"))
    return Evidence(
        test, control, seeds=seed_list(rows),
        condition="" if test.outcome != "fail" else f"the P-cosine does not fall with sharpness at seeds {failing}",
        notes=f"{sweep.name} from the most diverse to the sharpest: " + "; ".join(
            f"{col} = {v:g}: mean P-cosine {mean.loc[v, 'mean']:+.3f}, < 0 in {int(mean.loc[v, 'negative'])} of {int(mean.loc[v, 'size'])}" for v in values)
              + (f"; neutral at {sweep.neutral:g}" if sweep.neutral is not None else "; no value is neutral (γ = 1 on 10 steps is not)")
              + f"; {_set_of(rows) if len(rows) else ''}",
    )


for _family in [f for f, fam in IMAGE_FAMILIES.items() if fam.sweeps and fam.sweeps[0].name in SHARPER]:  # the direction must be known
    register_claim(Claim(
        name=f"cosine-vs-sharpness-images-{_family}",
        statement=f"On images ({_family}, 8×8 digits), the sharper the sampler, the lower the P-cosine of r_d and r_s "
                  "(the trend behind the sign law; the notes count the negative cosines per setting).",
        source="Thm 2 / Lemma B.6 and App. B.9, as a trend in the sampler's sharpness",
        rule=SignCount(BAR, f"fraction of seeds where Spearman ρ(sharpness, P-cosine) ≤ {MONOTONE_RHO:g}").rule(),
        control="the same rule with each seed's P-cosines in a seeded random order along the sweep, which must fail",
        sweeps={"cells": functools.partial(sharpness_spec, _family)},
        judge=functools.partial(judge_sharpness, family=_family),
        figure="images-sharpness",
        test=PR_TESTS.get(f"cosine-vs-sharpness-images-{_family}", ""),
        order=67,
    ))


def judge_sign_law(frames: dict) -> Evidence:
    rows = ok_rows(frames["cells"])
    rule = SignCount(BAR, "fraction of seeds with s < 0 at the mode-seeking setting")
    sharp = rows[rows["result.sharpening"] == "mode-seeking"]
    other = rows[rows["result.sharpening"] != "mode-seeking"]
    test = rule.judge((sharp["result.s"] < 0).tolist())
    control = rule.judge((other["result.s"] < 0).tolist())
    clear = sharp[sharp["result.s"].abs() > 2 * sharp["result.s_se"]]
    wrong = sharp[sharp["result.s"] >= 0]
    setting = sharp["sampler"].iloc[0] if len(sharp) else "?"
    return Evidence(
        test, control, seeds=seed_list(rows),
        condition="" if test.outcome != "fail" else f"s ≥ 0 at {setting} in " + listing(wrong, {"seed": "seed", "s": "result.s", "SE": "result.s_se",
                                                                                               "P-cosine": "result.cosine"}),
        notes=f"mode-seeking setting {setting}: s < 0 in {int((sharp['result.s'] < 0).sum())} of {len(sharp)} seeds, P-cosine < 0 in "
              f"{int((sharp['result.cosine'] < 0).sum())}; |s| > 2 SE in {len(clear)}, of which s < 0 in {int((clear['result.s'] < 0).sum())}. "
              f"The other setting ({other['sampler'].iloc[0] if len(other) else '?'}, {other['result.sharpening'].iloc[0] if len(other) else '?'}): "
              f"s < 0 in {int((other['result.s'] < 0).sum())} of {len(other)}. (Registered with a bar of 0.8 in the first paper run, which 10 seeds "
              "cannot pass even at 10 of 10; set to the image claims' 0.5 before the second)",
    )


for (_size, _set, _words), _family in scored_cells():
    register_claim(Claim(
        name=f"sign-law-{_set}-{_family}",
        statement=f"On images ({_family}, {_words}), a mode-seeking sampler makes s = <r_d, P r_s> negative (Adam P, held-out r_d).",
        source="Thm 2 / Lemma B.6, carried to image models",
        rule=SignCount(BAR, "fraction of seeds with s < 0 at the mode-seeking setting").rule() + " (the image claims' bar: 0.8 cannot be passed by 10 seeds)",
        control="the same rule at the family's other setting (diversity-seeking, or mixed: few steps with γ = 0.5), which must fail",
        sweeps={"cells": functools.partial(scoring_spec, _family, size=_size)},
        judge=judge_sign_law,
        figure=best_w_figure(_size),
        test=("tests/studies/test_counterexamples.py::test_guidance_with_few_steps_gives_a_positive_s_on_images"
              if _family == "diffusion" and _size == 8 else ""),
        order=68,
    ))
