"""The results summary and the lines drawn from it: scalar results once per setting, a list-valued
parameter as a setting, one seed next to a gap, non-finite values counted, lines broken at the
neutral sampler, only the undefined quantities blamed on it; and the attribute docs `list` shows.
"""



import numpy as np
import pandas as pd
import pytest
from helpers import CubeCell
from scipy import stats

from neon_theory.run.cli import main
from neon_theory.run.experiments import attribute_docs
from neon_theory.samplers import UNDEFINED_AT_NEUTRAL


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_attribute_docs_join_continuation_lines_and_shared_names():
    docs = attribute_docs(CubeCell.__doc__)
    assert docs["x"] == "in [0, 10]."
    assert docs["scale"] == docs["offset"] == "y = scale * x³ + offset + seed, written on two lines."


def _summary(rows, fields=None):
    from neon_theory.run.summary import summarise

    return summarise(pd.DataFrame(rows), fields)


def test_scalar_results_are_not_repeated_once_per_w():
    rows = [{"T": T, "w_values": [0.0, 1.0], "seed": s, "status": "ok", "result.best_w": T + s, "result.nll_at_w": [s, 2.0 * s]}
            for T in (0.5, 1.5) for s in (0, 1)]
    t = _summary(rows).table
    best = t[t.field == "best_w"]
    assert len(best) == 2 and list(best.n_seeds) == [2, 2] and list(best["mean"]) == [1.0, 2.0]
    curve = t[t.field == "nll_at_w"]
    assert len(curve) == 4 and list(curve.w) == [0.0, 1.0, 0.0, 1.0] and list(curve["mean"]) == [0.5, 1.0, 0.5, 1.0]


def test_a_list_valued_parameter_that_varies_is_a_setting_and_a_repeated_seed_is_refused():
    rows = [{"dims": d, "seed": s, "status": "ok", "result.y": len(d) + s} for d in ([1], [1, 2]) for s in (0, 1)]
    t = _summary(rows).table
    assert list(t.n_seeds) == [2, 2] and sorted(t["mean"]) == [1.5, 2.5]
    with pytest.raises(ValueError, match="seed 0 more than once"):
        _summary(rows + [{"dims": [1], "seed": 0, "status": "ok", "result.y": 9.0}])


def test_one_record_and_one_seed_next_to_a_gap():
    assert _summary([{"seed": 0, "status": "ok", "result.y": 3.0}]).table["mean"].tolist() == [3.0]
    rows = [{"x": 1, "seed": 0, "status": "ok", "result.y": float("nan"), "result.y_se": 7.0},
            {"x": 1, "seed": 1, "status": "ok", "result.y": 2.0, "result.y_se": 0.2}, {"x": 2, "seed": 0, "status": "ok", "result.y": 1.0}]
    r = _summary(rows).table.set_index("x").loc[1]
    assert r.n_seeds == 1 and r.se == 0.2 and r.se_kind == "within run"  # the SE of the finite row, not of the NaN row
    assert _summary(rows).table.set_index("x").loc[2].se_kind == "one seed"


def test_non_finite_values_are_counted_and_near_zero_values_are_not_exact():
    rows = [{"x": 1, "seed": s, "status": "ok", "result.y": v} for s, v in enumerate([1.0, 2.0, float("inf")])]
    rows += [{"x": 2, "seed": s, "status": "ok", "result.y": v} for s, v in enumerate([0.0, 1e-13, 2e-13])]
    t = _summary(rows).table.set_index("x")
    assert t.loc[1].n_seeds == 2 and t.loc[1].n_nonfinite == 1 and t.loc[1]["mean"] == 1.5
    assert t.loc[2].se_kind == "over seeds" and t.loc[2].se == pytest.approx(stats.sem([0.0, 1e-13, 2e-13]), rel=1e-9)
    rows = [{"x": 3, "seed": s, "status": "ok", "result.y": 0.0} for s in range(3)] + rows
    assert _summary(rows).table.set_index("x").loc[3].se_kind == "exact"


def test_lines_break_at_the_neutral_sampler_and_bands_stay_in_bounds():
    from neon_theory.run import plots

    rows = [{"T": T, "seed": s, "status": "ok", "result.cosine": c + 0.3 * s} for T, c in ((0.5, -0.9), (0.8, -0.8), (1.0, 0.0), (1.25, 0.8), (1.6, 0.9))
            for s in (0, 1, 2)]  # 3 seeds: the fewest that get a t-band (fewer are drawn as points)
    ax = plots.line(pd.DataFrame(rows), x="T", y="result.cosine", neutral=1.0, bounds=(-1, 1))
    xs = [list(line.get_xdata()) for line in ax.lines]
    assert xs == [[0.5, 0.8], [1.25, 1.6]]  # two lines, none through T = 1
    ys = np.concatenate([c.get_paths()[0].vertices[:, 1] for c in ax.collections])
    assert ys.min() >= -1 and ys.max() <= 1 and ys.max() == 1.0  # the t-band (t = 4.3 for 3 seeds) is clipped to the cosine's range


def test_only_the_undefined_quantities_are_blamed_on_the_neutral_sampler():
    """A column missing for another reason (no Hessian: z is null) or an infinite one is not
    'undefined at the neutral sampler', even in a group whose records carry the phrase."""
    from neon_theory.run.summary import undefined_reason

    g = pd.DataFrame({"result.cosine": [np.nan, np.nan], "result.z": [np.nan, np.nan], "result.best_w": [np.inf, np.inf],
                      "result.undefined": [UNDEFINED_AT_NEUTRAL] * 2})
    assert undefined_reason(g, "result.cosine") == UNDEFINED_AT_NEUTRAL
    assert undefined_reason(g, "result.z") is None and undefined_reason(g, "result.best_w") is None
    assert undefined_reason(g.assign(**{"result.cosine": [np.nan, 0.3]}), "result.cosine") is None
