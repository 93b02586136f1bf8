"""Figure helpers: the t-interval against scipy, seaborn lines over seeds, list columns, the reviewer's checks, fonts."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neon_theory.run import plots
from neon_theory.run.summary import t_interval


def _frame(values_by_x: dict) -> pd.DataFrame:
    rows = [{"T": x, "seed": i, "status": "ok", "result.s": v} for x, vs in values_by_x.items() for i, v in enumerate(vs)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("values", [[1.0, 2.0, 4.0], [-1.0, -3.0, -2.5, -2.0, 0.5], [0.3, 0.31]])
def test_the_t_interval_matches_scipy(values):
    mean, se, lo, hi = t_interval(values)
    s_lo, s_hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values), rel=1e-12, abs=1e-12) and se == pytest.approx(stats.sem(values), rel=1e-12)
    assert (lo, hi) == pytest.approx((s_lo, s_hi), rel=1e-12, abs=1e-12)


def test_one_seed_has_no_interval():
    mean, se, lo, hi = t_interval([0.3])
    assert mean == 0.3 and np.isnan(se) and np.isnan(lo) and np.isnan(hi)


def test_the_drawn_band_is_the_t_interval_and_failed_records_are_left_out():
    data = {0.5: [1.0, 2.0, 4.0], 1.5: [-1.0, -3.0, -2.5]}
    df = _frame(data)
    df = pd.concat([df, pd.DataFrame([{"T": 0.5, "seed": 9, "status": "error", "result.s": 100.0}])], ignore_index=True)
    ax = plots.line(df, x="T", y="result.s")
    (mean_line,) = ax.lines
    assert list(mean_line.get_ydata()) == pytest.approx([np.mean(v) for v in data.values()], rel=1e-12)
    band = ax.collections[0].get_paths()[0].vertices
    for x, vs in data.items():
        lo, hi = stats.t.interval(0.95, len(vs) - 1, loc=np.mean(vs), scale=stats.sem(vs))
        ys = band[np.isclose(band[:, 0], x), 1]
        assert ys.min() == pytest.approx(lo, rel=1e-9) and ys.max() == pytest.approx(hi, rel=1e-9)
    assert ax.get_xlabel() == "T (density temperature)" and ax.get_ylabel() == "s = ⟨r_d, P r_s⟩"


def test_explode_w_pairs_list_cells_with_their_w():
    df = pd.DataFrame({"w_values": [(0.0, 1.0), (0.0, 1.0)], "result.m": [[5.0, 6.0], [7.0, 8.0]], "seed": [0, 1], "status": "ok"})
    long = plots.explode_w(df, ["result.m"])
    assert list(long.w) == [0.0, 1.0, 0.0, 1.0] and list(long["result.m"]) == [5.0, 6.0, 7.0, 8.0]


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ValueError, match="result.cosine"):
        plots.line(_frame({1.0: [1.0]}), x="T", y="result.cosine")
    fig = plots.panels(dict(df=_frame({0.5: [1.0, 2.0], 1.5: [0.0, 1.0]}), x="T", y="result.s", zero=1.0, title="t"))
    paths = plots.save(fig, tmp_path / "f")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in paths)


def test_panels_state_the_number_of_seeds_and_pass_the_checks():
    fig = plots.panels(dict(df=_frame({0.5: [1.0, 2.0, 3.0], 1.5: [0.0, 1.0, 2.0]}), x="T", y="result.s"))
    assert "mean over 3 seeds" in fig._suptitle.get_text() and plots.figure_problems(fig) == []


def test_the_checks_catch_what_a_reviewer_would():
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2)
    a.plot([0, 1], [0, 1], label="preconditioner=identity")
    a.set_xlabel("value")
    a.set_ylabel("P-cosine")
    a.legend()
    b.plot([0, 1], [1, 0])
    problems = plots.figure_problems(fig)
    assert any("x axis is named 'value'" in p for p in problems)
    assert any("column=value pair" in p for p in problems)
    assert any("axes 1" in p and "no name" in p for p in problems)
    assert "no text of the figure states the number of seeds" in problems
    a.set_xlabel("k (top-k)")
    b.set_xlabel("w")
    b.set_ylabel("FID")
    a.legend(labels=["natural"])
    fig.suptitle("mean over 2 seeds")
    fig.tight_layout()  # the default spacing puts b's y-label on a's frame
    assert plots.figure_problems(fig) == []
    plt.close(fig)


def test_pdfs_embed_truetype_fonts_not_type3(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("τ (std temperature)")
    (pdf,) = plots.save(fig, tmp_path / "f", formats=("pdf",))
    body = pdf.read_bytes()
    assert b"/FontFile2" in body and b"/Type3" not in body  # FontFile2: an embedded TrueType program


def test_register_label_names_an_axis_and_rejects_empty_text(monkeypatch):
    monkeypatch.setattr(plots, "LABELS", dict(plots.LABELS))  # the registry is restored afterwards
    plots.register_label("my_knob", "κ (my knob)")
    assert plots.label("result.my_knob") == "κ (my knob)"
    with pytest.raises(ValueError, match="non-empty text"):
        plots.register_label("my_knob", " ")
