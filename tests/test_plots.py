"""Figure helpers: the seed bands against scipy's t-interval, exploding list columns, errors."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neon_theory.run import plots


def _frame(values_by_x: dict) -> pd.DataFrame:
    rows = [{"T": x, "seed": i, "status": "ok", "result.s": v} for x, vs in values_by_x.items() for i, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_seed_bands_match_scipy_t_intervals():
    data = {0.5: [1.0, 2.0, 4.0], 1.5: [-1.0, -3.0, -2.5, -2.0, 0.5]}
    bands = plots.seed_bands(_frame(data), x="T", y="result.s").set_index("T")
    for x, vs in data.items():
        lo, hi = stats.t.interval(0.95, len(vs) - 1, loc=np.mean(vs), scale=stats.sem(vs))
        # float64 arithmetic on O(1) numbers: equal to a few ulps
        assert bands.loc[x, "mean"] == pytest.approx(np.mean(vs), rel=1e-12, abs=1e-12)
        assert bands.loc[x, "mean"] - bands.loc[x, "half"] == pytest.approx(lo, rel=1e-12, abs=1e-12)
        assert bands.loc[x, "mean"] + bands.loc[x, "half"] == pytest.approx(hi, rel=1e-12, abs=1e-12)
        assert bands.loc[x, "n_seeds"] == len(vs)


def test_a_single_seed_uses_the_within_record_se():
    df = _frame({1.0: [0.3]}).assign(**{"result.s_se": [0.1]})
    band = plots.seed_bands(df, x="T", y="result.s").iloc[0]
    assert band.se == pytest.approx(0.1, rel=1e-12, abs=0) and band.half == pytest.approx(stats.norm.ppf(0.975) * 0.1, rel=1e-12, abs=0)


def test_failed_records_are_left_out_of_the_bands():
    df = _frame({1.0: [1.0, 3.0]})
    df.loc[1, "status"] = "error"
    assert plots.seed_bands(df, x="T", y="result.s").iloc[0]["mean"] == 1.0


def test_explode_w_pairs_list_cells_with_their_w():
    df = pd.DataFrame({"w_values": [(0.0, 1.0), (0.0, 1.0)], "result.m": [[5.0, 6.0], [7.0, 8.0]], "seed": [0, 1], "status": "ok"})
    long = plots.explode_w(df, ["result.m"])
    assert list(long.w) == [0.0, 1.0, 0.0, 1.0] and list(long["result.m"]) == [5.0, 6.0, 7.0, 8.0]


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ValueError, match="result.cosine"):
        plots.seed_bands(_frame({1.0: [1.0]}), x="T", y="result.cosine")
    fig = plots.panels(dict(df=_frame({0.5: [1.0, 2.0], 1.5: [0.0, 1.0]}), x="T", y="result.s", zero=1.0, title="t"))
    paths = plots.save(fig, tmp_path / "f")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in paths)
