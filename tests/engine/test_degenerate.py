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
from neon_theory.rng import draw

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


@pytest.mark.slow
def test_the_results_table_counts_the_flag_per_setting(tmp_path):
    table = tmp_path / "t.csv"
    pd.DataFrame({"tau": [0.5, 0.5, 1.6, 1.6], "seed": [0, 1, 0, 1], "status": ["ok"] * 4,
                  "result.cosine": [0.1, 0.2, 0.3, 0.4], "result.degenerate": [False, True, True, True]}).to_csv(table, index=False)
    out = subprocess.run([sys.executable, "-m", "neon_theory.run.cli", "results", str(table), "--json"], capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)["rows"]  # plain keys: one row per (setting, field)
    counts = {r["tau"]: r["n_true"] for r in rows if r["field"] == "degenerate"}
    assert counts == {0.5: 1, 1.6: 2}


def test_the_cosine_figure_crosses_out_degenerate_cells():
    from studies.drawing import cosine_panels

    df = pd.DataFrame({"tau": [0.5, 0.5, 1.6, 1.6], "seed": [0, 1, 0, 1], "status": ["ok"] * 4,
                       "result.cosine": [-0.4, -0.5, 0.97, 0.3], "result.degenerate": [False, False, True, False]})
    fig = cosine_panels({"AR": (df, "tau", None)}, ncols=1)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "degenerate: 1 of 4 cells" in labels


# ---- the flag means something when it fires (issue: round-off ties, zero and noise-only gradients) ----


def test_a_round_off_tie_at_one_half_is_not_degenerate():
    """The bare `align` case: two coordinates carry one half each, and round-off puts one at
    0.5000000000000009; a tie is not a majority (SHARE_TOLERANCE)."""
    from neon_theory.preconditioners import identity
    from neon_theory.samplers import Temperature
    from toy_models.gaussian import GaussianModel, GaussianTarget, exact_alignment

    cov = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=F64)
    rep = exact_alignment(GaussianTarget(torch.zeros(2, dtype=F64), cov), GaussianModel(torch.zeros(2, dtype=F64), 0.8 * cov), Temperature(0.7), identity())
    assert rep.max_share_d == pytest.approx(0.5, abs=1e-12) and not rep.degenerate
    # a real majority by more than round-off is still flagged
    assert alignment(torch.tensor([1.0, 0.999], dtype=F64), torch.tensor([1.0, 1.0], dtype=F64), Diagonal(torch.ones(2, dtype=F64))).degenerate


def test_a_gradient_below_round_off_carries_no_coordinate():
    """r_d = 0 up to round-off (a model equal to the data): its 'shares' are of round-off."""
    rep = alignment(torch.tensor([1e-17, 3e-18, 1e-18], dtype=F64), torch.tensor([1.0, 1.1, 0.9], dtype=F64), Diagonal(torch.ones(3, dtype=F64)))
    assert rep.max_share_d > 0.9 and not rep.resolved_d and rep.resolved_s and not rep.degenerate
    assert not any("carries" in n for n in rep.notes)


def test_a_noise_only_estimate_is_unresolved_and_not_flagged_while_a_resolved_one_is():
    """An estimate whose P-norm is within RESOLVED_NOISE_RATIO of its noise's: which coordinate
    'carries' it is noise.  The same dominant coordinate with a clear signal is flagged."""
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([10.0, 1.0, 1.0], dtype=F64)  # coordinate 0 is noisier: it dominates the noise
    batches = draw(torch.randn, 16, 3, generator=g, dtype=F64) * scale
    noise = GradientEstimate.from_batch_sums(batches, torch.ones(16, dtype=F64), 1600)
    r_s = GradientEstimate.from_batch_sums(torch.ones(16, 3, dtype=F64) + 1e-3 * batches, torch.ones(16, dtype=F64), 1600)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateCosineWarning)
        rep = alignment(noise, r_s, Diagonal(torch.ones(3, dtype=F64)))
    assert rep.max_share_d > 0.5 and not rep.resolved_d and not rep.degenerate
    signal = GradientEstimate.from_batch_sums(batches * 1e-3 + torch.tensor([5.0, 0.1, 0.1], dtype=F64), torch.ones(16, dtype=F64), 1600)
    with pytest.warns(DegenerateCosineWarning):
        flagged = alignment(signal, r_s, Diagonal(torch.ones(3, dtype=F64)))
    assert flagged.resolved_d and flagged.degenerate


def test_the_resolution_threshold_is_the_noise_of_the_mean():
    """For r = 0 the noise P-norm² that `_resolved` compares with is E‖r̂‖²_P: over 400 seeded
    repeats the mean of ‖r̂‖²_P matches the mean of the noise estimate within k = 4 SE, and the
    decision equals ‖r̂‖_P > RESOLVED_NOISE_RATIO · noise computed here by hand (equal batches:
    Σ_b ‖m_b − m‖²_P / (nb (nb − 1)))."""
    from neon_theory.alignment import RESOLVED_NOISE_RATIO, _resolved

    P = Diagonal(torch.tensor([1.0, 4.0, 0.25], dtype=F64))
    nb, norms2, noises2 = 10, [], []
    for seed in range(400):
        bm = draw(torch.randn, nb, 3, generator=torch.Generator().manual_seed(seed), dtype=F64)
        est = GradientEstimate.from_batch_sums(bm, torch.ones(nb, dtype=F64), 1000)
        norm2 = float((est.mean * P.apply(est.mean)).sum())
        dev = bm - bm.mean(0)
        noise2 = float((dev * P.apply(dev)).sum()) / (nb * (nb - 1))
        assert _resolved(est, P, norm2**0.5, 0.0) == (norm2**0.5 > RESOLVED_NOISE_RATIO * noise2**0.5)
        norms2.append(norm2)
        noises2.append(noise2)
    diff = torch.tensor(norms2, dtype=F64) - torch.tensor(noises2, dtype=F64)
    assert abs(float(diff.mean())) < 4 * float(diff.std()) / len(diff) ** 0.5
