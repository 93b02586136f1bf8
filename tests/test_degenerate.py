"""A P-cosine carried by one coordinate is flagged, warned about once, and carried into tables and figures."""

import json
import subprocess
import sys
import warnings

import pandas as pd
import pytest
import torch

from neon_theory.alignment import DegenerateCosineWarning, alignment, coordinate_shares
from neon_theory.gradients import GradientEstimate
from neon_theory.preconditioners import Dense, Diagonal

F64 = torch.float64


def estimate(vector, spread=1e-3):
    """A non-exact estimate around ``vector`` with 4 equal batches."""
    v = torch.as_tensor(vector, dtype=F64)
    sign = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=F64)[:, None]
    return GradientEstimate(v, torch.full_like(v, spread), v[None] + spread * sign, torch.full((4,), 0.25, dtype=F64), 400)


def test_coordinate_shares_by_hand():
    r = torch.tensor([3.0, 4.0], dtype=F64)
    torch.testing.assert_close(
        coordinate_shares(r, Diagonal(torch.tensor([1.0, 1.0], dtype=F64))), torch.tensor([9 / 25, 16 / 25], dtype=F64), rtol=0, atol=1e-15
    )
    # P = diag(4, 1): terms 36 and 16 of 52
    torch.testing.assert_close(
        coordinate_shares(r, Diagonal(torch.tensor([4.0, 1.0], dtype=F64))), torch.tensor([36 / 52, 16 / 52], dtype=F64), rtol=0, atol=1e-15
    )
    # dense P = [[2, 1], [1, 2]]: P r = (10, 11), terms 30 and 44 of 74
    torch.testing.assert_close(
        coordinate_shares(r, Dense(torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=F64))), torch.tensor([30 / 74, 44 / 74], dtype=F64), rtol=0, atol=1e-15
    )
    assert float(coordinate_shares(torch.zeros(2, dtype=F64), Diagonal(torch.ones(2, dtype=F64))).sum()) == 0.0


def test_a_huge_preconditioner_entry_makes_the_report_degenerate_and_warns_once():
    """P = 1/eps on a coordinate where r_s has a little mass: the cosine is that coordinate's."""
    r_d = [1.0, 0.9, -0.8, 0.6]
    r_s = [-0.9, -0.8, 0.7, 3e-3]
    fine = Diagonal(torch.tensor([1.0, 1.0, 1.0, 1.0], dtype=F64))
    swamped = Diagonal(torch.tensor([1.0, 1.0, 1.0, 1e8], dtype=F64))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateCosineWarning)
        ok = alignment(estimate(r_d), estimate(r_s), fine)
    assert not ok.degenerate and ok.cosine < -0.9
    with pytest.warns(DegenerateCosineWarning) as caught:
        bad = alignment(estimate(r_d), estimate(r_s), swamped)
    assert len(caught) == 1
    assert bad.degenerate and bad.max_share_s > 0.99 and bad.max_share_d > 0.99
    assert bad.cosine > 0  # the sign flipped: coordinate 3 alone decides it
    assert any("coordinate 3" in n for n in bad.notes)
    assert bad.to_dict()["degenerate"] is True


def test_an_exact_report_is_flagged_without_a_warning_and_the_threshold_is_validated():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateCosineWarning)
        rep = alignment(torch.tensor([1.0, 0.1], dtype=F64), torch.tensor([0.5, 0.2], dtype=F64), Diagonal(torch.ones(2, dtype=F64)))
    assert rep.degenerate and rep.max_share_d == pytest.approx(1 / 1.01, rel=1e-12, abs=0)
    relaxed = alignment(torch.tensor([1.0, 0.1], dtype=F64), torch.tensor([0.5, 0.2], dtype=F64), Diagonal(torch.ones(2, dtype=F64)), dominant_share=0.995)
    assert not relaxed.degenerate
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="dominant_share"):
            alignment(torch.ones(2, dtype=F64), torch.ones(2, dtype=F64), Diagonal(torch.ones(2, dtype=F64)), dominant_share=bad)


def test_the_results_table_counts_the_flag_per_setting(tmp_path):
    table = tmp_path / "t.csv"
    pd.DataFrame({"tau": [0.5, 0.5, 1.6, 1.6], "seed": [0, 1, 0, 1], "status": ["ok"] * 4,
                  "result.cosine": [0.1, 0.2, 0.3, 0.4], "result.degenerate": [False, True, True, True]}).to_csv(table, index=False)
    out = subprocess.run([sys.executable, "-m", "neon_theory.run.cli", "results", str(table), "--json"], capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)["rows"]  # plain keys: one row per (setting, field)
    counts = {r["tau"]: r["n_true"] for r in rows if r["field"] == "degenerate"}
    assert counts == {0.5: 1, 1.6: 2}


def test_the_cosine_figure_crosses_out_degenerate_cells():
    from toy_models.drivers.figures import cosine_panels

    df = pd.DataFrame({"tau": [0.5, 0.5, 1.6, 1.6], "seed": [0, 1, 0, 1], "status": ["ok"] * 4,
                       "result.cosine": [-0.4, -0.5, 0.97, 0.3], "result.degenerate": [False, False, True, False]})
    fig = cosine_panels({"AR": (df, "tau", None)}, ncols=1)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "degenerate: 1 of 4 cells" in labels
