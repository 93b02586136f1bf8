"""Figures say only what their data say: titles counted from the data, seeds as points below three
seeds, published marks only where the data ran, one colour per base model, panels that keep
their labels apart, and the neutral sampler named as the tables name it.  Small synthetic tables."""

import matplotlib.collections
import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from neon_theory.run import plots
from neon_theory.samplers import UNDEFINED_AT_NEUTRAL
from studies import drawing as figures
from studies.gaussian import figures as gaussian_figures
from studies.warmup import figures as warmup_figures


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _cells(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"status": "ok", **r} for r in rows])


def _temperature_table(s_sign: float, w_sign: float, seeds=(0, 1, 2)) -> pd.DataFrame:
    """The over-dispersed figure's sweep: s and best w per (T, base, seed), with the signs given at T < 1."""
    rows = []
    for T in (0.5, 0.8, 1.25):
        for base in ("under-dispersed", "over-dispersed"):
            for seed in seeds:
                side = 1.0 if T < 1 else -1.0
                rows.append({"T": T, "base": base, "seed": seed, "result.s": side * s_sign * (1 + seed), "result.best_w": side * w_sign * (2 + seed)})
    return _cells(rows)


def _bands(ax) -> list:
    return [c for c in ax.collections if isinstance(c, matplotlib.collections.PolyCollection)]


# ---- titles are counted from the data --------------------------------------------------------


def test_the_over_dispersed_title_counts_the_signs_the_data_show():
    fig = gaussian_figures.draw_overdispersed({"gaussian": _temperature_table(s_sign=-1.0, w_sign=+1.0)})
    title = fig._suptitle.get_text()
    # 2 temperatures below 1 × 3 seeds per base: s is negative and best w positive in every one of them
    assert "over-dispersed: s > 0 in 0/6, best w < 0 in 0/6" in title, title
    assert "gives s > 0 and negative best w" not in title
    assert "s > 0 in 6/6, best w < 0 in 6/6" in figures.mode_seeking_signs(_temperature_table(s_sign=+1.0, w_sign=-1.0))


def test_the_warmup_title_counts_the_settings_the_data_show():
    curve = _cells([{"dim": d, "seed": s, "a_values": (0.0, 0.1), "result.curve_mean": [0.0, -0.01 * d]} for d in (1, 2) for s in range(3)])
    # D = 1 improves on average but a single draw is more often worse; D = 10 improves in mean and per draw
    rate = _cells([{"dim": d, "n": n, "seed": s, "result.mean_delta": -0.1 if d == 10 or n == 15 else 0.2,
                    "result.improvement_rate": 0.4 if d == 1 else 0.7} for d in (1, 10) for n in (15, 30) for s in range(3)])
    title = warmup_figures.draw_warmup({"curve": curve, "rate": rate})._suptitle.get_text()
    assert "mean ΔL_pop < 0 in 3/4 (D, n) settings" in title and "improves with P = 0.40 to 0.70 (lowest at D = 1, n = 15)" in title, title
    assert "yet a single draw often gets worse" not in title


def test_tally_counts_only_finite_values():
    assert plots.tally("s > 0", pd.Series([1.0, -1.0, np.nan, 2.0]), lambda v: v > 0, "seeds") == "s > 0 in 2/3 seeds"


# ---- under three seeds: one marker per seed, no t-band -----------------------------------------


def test_two_seeds_are_drawn_as_points_not_as_a_t_band():
    df = _cells([{"T": T, "seed": s, "result.s": v} for T, vs in {0.5: [1.0, 2.0], 1.5: [-1.0, 0.5]}.items() for s, v in enumerate(vs)])
    ax = plots.line(df, x="T", y="result.s", name="the seeds")
    assert _bands(ax) == []  # t(0.975, 1) = 12.7: a band over two seeds would span far beyond the data
    drawn = sorted((x, y) for ln in ax.lines for x, y in zip(ln.get_xdata(), ln.get_ydata()))
    assert drawn == sorted(zip(df["T"], df["result.s"]))  # one marker per seed, each at its own value
    assert ax.get_legend_handles_labels()[1] == ["the seeds"]  # one legend entry, not one per seed
    ylo, yhi = ax.get_ylim()
    assert ylo > -2 and yhi < 3  # nothing drawn far outside the data
    assert plots.seeds_name(df) == "2 seeds, one marker each"


def test_points_are_used_everywhere_a_band_would_rest_on_two_seeds():
    rows = [{"T": T, "base": b, "seed": s, "result.s": s + T} for T in (0.5, 0.8, 1.25) for b in ("under-dispersed", "over-dispersed") for s in range(2)]
    fig = plots.panels(dict(df=_cells(rows), x="T", y="result.s", hue="base", zero=1.0))
    assert _bands(fig.axes[0]) == []
    assert "2 seeds, one marker per seed" in fig._suptitle.get_text() and "t-interval" not in fig._suptitle.get_text()
    three = [{**r, "seed": s} for r in rows for s in (r["seed"], r["seed"] + 2)]  # 4 seeds: the band again
    assert _bands(plots.line(_cells(three), x="T", y="result.s", hue="base"))
    assert plots.caption(_cells(three)) == "mean over 4 seeds, band: 95% t-interval over seeds"


# ---- published marks only at budgets that ran ------------------------------------------------------


def test_published_marks_appear_only_at_budgets_that_ran():
    best = _cells([{"tau": t, "ft_epochs": e, "seed": s, "result.best_w": 0.1 * s - t} for t in (0.5, 1.6) for e in (5, 50) for s in range(3)])
    cosine = _cells([{"tau": t, "seed": s, "result.cosine": 0.5 * (t - 1)} for t in (0.7, 1.3) for s in range(3)])
    fig = figures.official_toy_figure({"best_w": best, "cosine": cosine}, "ar")
    left = fig.axes[0]
    marked = [tuple(xy) for c in left.collections if "published" in str(c.get_label()) for xy in c.get_offsets()]
    assert sorted(marked) == [(50.0, -0.25), (50.0, 0.2)]  # 250 epochs, published too, did not run here
    legend = left.get_legend()
    line_colours = {t.get_text(): h.get_color() for h, t in zip(legend.legend_handles, legend.get_texts()) if hasattr(h, "get_color")}
    for c in left.collections:
        if "published" in str(c.get_label()):  # a cross has its line's colour
            tau = c.get_label().split("= ")[1]
            assert matplotlib.colors.same_color(c.get_facecolor()[0], line_colours[tau])
    assert figures.published_marks("ar", best[best.ft_epochs == 5]).empty


# ---- one colour per base model in every figure ----------------------------------------------------


def _colours(ax) -> dict:
    legend = ax.get_legend()
    return {t.get_text(): matplotlib.colors.to_hex(h.get_color()) for h, t in zip(legend.legend_handles, legend.get_texts())
            if t.get_text().endswith("-dispersed")}


def test_each_base_model_has_one_colour_in_every_figure():
    both = _temperature_table(1.0, -1.0)
    under_only = both[both.base == "under-dispersed"]
    table = pd.DataFrame({"T": [0.5, 0.5, 1.25, 1.25], "base": ["under-dispersed", "over-dispersed"] * 2, "cosine": [0.2, -0.3, -0.1, 0.4]})
    curves = pd.DataFrame({"w": [0.0, 1.0] * 2, "nll": [1.0, 0.9, 1.1, 1.2], "base": ["under-dispersed"] * 2 + ["over-dispersed"] * 2})
    seen = [
        _colours(plots.line(both, x="T", y="result.s", hue="base")),
        _colours(plots.line(under_only, x="T", y="result.s", hue="base")),
        _colours(plots.alignment_vs_sharpness(table, x="T", y="cosine", hue="base")),
        _colours(plots.metric_vs_w(curves, metric="nll", hue="base")),
    ]
    assert sum(len(c) for c in seen) == 7
    for base in ("under-dispersed", "over-dispersed"):
        assert len({c[base] for c in seen if base in c}) == 1, (base, seen)  # whatever else the figure shows
    assert seen[0]["under-dispersed"] != seen[0]["over-dispersed"]
    assert seen[0] == plots.COLOURS  # the one place that fixes them
    w = pd.DataFrame([{"base": b, "T": 0.5, "seed": s, "status": "ok", "w_values": (0.0, 1.0), "result.nll_at_w": [1.0 + s, 0.5]}
                      for b in ("over-dispersed", "under-dispersed") for s in range(3)])
    fig = plots.metric_vs_w_figure(w, metric="result.nll_at_w", by=["base", "T"])
    assert [matplotlib.colors.to_hex(ax.lines[0].get_color()) for ax in fig.axes] == [plots.COLOURS["over-dispersed"], plots.COLOURS["under-dispersed"]]


def test_other_levels_keep_the_cycle_and_avoid_the_fixed_colours():
    colours = plots.colours_for(["natural", "over-dispersed", "identity"])
    assert colours["over-dispersed"] == plots.COLOURS["over-dispersed"]
    assert len(set(colours.values())) == 3 and colours["natural"] == matplotlib.colors.to_hex("C0")


# ---- axis labels clear of the neighbouring panel ---------------------------------------------------


def test_the_checks_catch_a_y_label_on_the_neighbouring_panel():
    fig, (a, b) = plt.subplots(1, 2, figsize=(6, 3))
    for ax, name in ((a, "P-cosine"), (b, "population NLL")):
        ax.plot([0, 1], [1000.5, 2000.5])
        ax.set_xlabel("w")
        ax.set_ylabel(name)
    fig.suptitle("mean over 3 seeds")
    fig.subplots_adjust(wspace=0.05)  # b's tick labels and y-label sit on a
    problems = plots.figure_problems(fig)
    assert any("'population NLL' overlaps axes 0" in p for p in problems), problems
    fig.tight_layout()
    assert plots.figure_problems(fig) == []


def test_the_metric_vs_w_panels_keep_their_labels_apart():
    w = pd.DataFrame([{"base": b, "T": T, "seed": s, "status": "ok", "w_values": (0.0, 1.0), "result.nll_at_w": [1000.25 + s, 1000.5]}
                      for b in ("over-dispersed", "under-dispersed") for T in (0.5, 1.6) for s in range(3)])
    fig = plots.metric_vs_w_figure(w, metric="result.nll_at_w", by=["base", "T"])
    fig.suptitle("mean over 3 seeds")
    assert plots.crowded_labels(fig) == []


# ---- the neutral sampler is named with the tables' words ------------------------------------------


def test_the_neutral_sampler_is_labelled_undefined():
    rows = [{"T": T, "base": b, "seed": s, "result.s": s - T} for T in (0.5, 1.5) for b in ("under-dispersed", "over-dispersed") for s in range(3)]
    fig = plots.panels(dict(df=_cells(rows), x="T", y="result.s", hue="base", zero=1.0))
    assert UNDEFINED_AT_NEUTRAL in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    neutral = [ln for ln in fig.axes[0].lines if ln.get_label() == UNDEFINED_AT_NEUTRAL]
    assert len(neutral) == 1 and list(neutral[0].get_xdata()) == [1.0, 1.0]
    # no drawn line has points on both sides of T = 1
    assert not any(min(ln.get_xdata(), default=1) < 1 < max(ln.get_xdata(), default=1) for ln in fig.axes[0].lines if ln is not neutral[0])
    table = pd.DataFrame({"T": [0.5, 1.0, 1.25], "base": "under-dispersed", "cosine": [0.2, np.nan, 0.4]})
    ax = plots.alignment_vs_sharpness(table, x="T", y="cosine", hue="base")
    assert UNDEFINED_AT_NEUTRAL in [t.get_text() for t in ax.get_legend().get_texts()]


def test_only_the_ar_toys_tau_1_is_left_out_as_neutral():
    """The diffusion toy's ζ = 1 runs a 20-step DDIM (mode-seeking by discretisation): its cosine
    there is a measurement and stays on the line; the AR toy's τ = 1 is its own law and is left out."""
    for toy, sharp, budget in (("diffusion", "zeta", "ft_steps"), ("ar", "tau", "ft_epochs")):
        best = _cells([{sharp: v, budget: 5, "seed": s, "result.best_w": 0.1 * s} for v in (0.9, 1.1) for s in range(3)])
        cosine = _cells([{sharp: v, "seed": s, "result.cosine": 0.3 * (v - 1) - 0.1 + 0.01 * s} for v in (0.9, 1.0, 1.1) for s in range(3)])
        right = figures.official_toy_figure({"best_w": best, "cosine": cosine}, toy).axes[1]
        data_lines = [ln for ln in right.lines if ln.get_label() != UNDEFINED_AT_NEUTRAL and any(y != 0 for y in ln.get_ydata())]  # not y = 0
        xs = sorted({float(x) for ln in data_lines for x in ln.get_xdata()})
        labels = [ln.get_label() for ln in right.lines]
        if toy == "diffusion":
            assert 1.0 in xs and UNDEFINED_AT_NEUTRAL not in labels
        else:
            assert 1.0 not in xs and UNDEFINED_AT_NEUTRAL in labels


def test_a_band_needs_three_distinct_seeds_not_three_rows():
    """Two seeds with two rows each (another column varying within a point) are still two seeds."""
    rows = [{"T": T, "k": k, "seed": s, "result.s": T + 0.1 * s + 0.01 * k} for T in (0.5, 0.8) for k in (1, 2) for s in range(2)]
    ax = plots.line(_cells(rows), x="T", y="result.s")
    assert not _bands(ax)


def test_log_axis_ticks_are_short_enough_not_to_run_into_each_other():
    assert [plots.compact_number(v) for v in (25, 0.02, 1000, 3000, 30000, 2.5e6, 1500)] == ["25", "0.02", "1k", "3k", "30k", "2.5M", "1.5k"]
    rows = [{"n": n, "seed": s, "result.gain": 0.01 * s} for n in (1000, 3000, 10000, 30000, 100000) for s in range(3)]
    ax = plots.line(_cells(rows), x="n", y="result.gain", logx=True)
    ax.figure.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()]
    assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()] == ["1k", "3k", "10k", "30k", "100k"]
    assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:]))
