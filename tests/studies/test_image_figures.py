"""The image figures on made-up records whose numbers are known: s is drawn at its value with
± 1.96 SE bars (no sideways offset), the FID floor with its ± 1.96 SE band, the counts in the
titles are counted from the records, and a reviewer's checks pass."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from neon_theory.run import plots
from studies.images import figures as F

matplotlib.use("Agg")

FLOOR, FLOOR_SE = 4.8, 1.06


def _records(family: str, seed0: int = 100, n: int = 10, w_values=None) -> pd.DataFrame:
    setting = F.column(F.IMAGE_FAMILIES[family].neon)
    rng = np.random.default_rng(seed0)
    rows = []
    for seed in range(seed0, seed0 + n):
        for value in F.IMAGE_FAMILIES[family].neon.full:
            s = float(rng.normal(0, 5))
            row = {"seed": seed, setting: float(value), "status": "ok", "result.s": s, "result.s_se": float(rng.uniform(0.5, 2)),
                   "result.best_w_loss": -np.sign(s) * 0.1 if seed % 4 else np.sign(s) * 0.1, "result.best_w_fid": float(rng.normal(0, 0.2)),
                   "result.fid_floor": FLOOR, "result.fid_floor_se": FLOOR_SE, "result.fid_floor_n": 719, "result.n_eval": 1000,
                   "result.base_fid": 3.0 + seed % 3, "result.base_fid_se": 0.6, "result.base_fid_at_floor_n": 3.1 + seed % 3,
                   "result.w_star": 0.01, "result.w_star_displacement": 0.1, "result.at_boundary_loss": False, "result.at_boundary_fid": False}
            if w_values is not None:
                k = len(w_values)
                row |= {"w_values": list(w_values), "result.loss_at_w": list(np.linspace(1, 2, k)), "result.fid_at_w": list(np.linspace(3, 6, k)),
                        "result.precision_at_w": [0.5] * k, "result.recall_at_w": [0.4] * k}
            rows.append(row)
    return pd.DataFrame(rows)


def _errorbars(ax):
    """(x, y, x half-widths) of each errorbar container of ``ax``."""
    out = []
    for c in ax.containers:
        if isinstance(c, matplotlib.container.ErrorbarContainer):
            line, _, (bars, *_) = c
            x, y = line.get_data()
            half = [abs(seg[1][0] - seg[0][0]) / 2 for seg in bars.get_segments()]
            out.append((np.asarray(x), np.asarray(y), np.asarray(half)))
    return out


def _floor_bands(ax):
    return [p for p in ax.patches if "FID floor" in str(p.get_label())]


def test_the_claims_figure_draws_s_with_its_error_bars_and_the_fid_floor_band():
    frames = {f: _records(f) for f in F.IMAGE_FAMILIES}
    fig = F._draw_best_w(frames)
    assert plots.figure_problems(fig) == []
    fams = list(F.IMAGE_FAMILIES)
    axes = np.asarray(fig.axes).reshape(3, len(fams))
    for j, family in enumerate(fams):
        ok = frames[family]
        drawn = _errorbars(axes[0, j])
        x = np.concatenate([d[0] for d in drawn])
        half = np.concatenate([d[2] for d in drawn])
        # every cell at its own s (no offset), with a bar of 1.96 SE on each side
        assert sorted(x) == pytest.approx(sorted(ok["result.s"]), abs=1e-12)
        by_s = dict(zip(ok["result.s"], ok["result.s_se"]))
        assert [h for _, h in sorted(zip(x, half))] == pytest.approx([1.96 * by_s[v] for v in sorted(x)], rel=1e-9)
        agree = int((np.sign(ok["result.best_w_loss"]) == -np.sign(ok["result.s"])).sum())
        assert f"in {agree}/{len(ok)} cells" in axes[0, j].get_title() and agree < len(ok)
        (band,) = _floor_bands(axes[2, j])
        ys = band.get_patch_transform().transform(band.get_path().vertices)[:, 1]  # a Polygon or a Rectangle, by matplotlib version
        assert (min(ys), max(ys)) == pytest.approx((FLOOR - 1.96 * FLOOR_SE, FLOOR + 1.96 * FLOOR_SE), rel=1e-9)
        (bases,) = _errorbars(axes[2, j])
        assert sorted(bases[0]) == list(range(100, 110))  # one base per seed, at the floor's sample size
        assert list(bases[1]) == pytest.approx([3.1 + s % 3 for s in range(100, 110)])


def test_the_catalogue_neon_figure_has_no_sideways_offsets_and_shows_the_floor():
    frames = {f: _records(f, seed0=0, n=4, w_values=(-1.0, 0.0, 1.0)) for f in F.IMAGE_FAMILIES}
    fig = F._draw_neon(frames)
    assert plots.figure_problems(fig) == []
    fams = list(F.IMAGE_FAMILIES)
    axes = np.asarray(fig.axes).reshape(4, len(fams))
    for j, family in enumerate(fams):
        x = np.concatenate([d[0] for d in _errorbars(axes[0, j])])
        assert sorted(x) == pytest.approx(sorted(np.repeat(frames[family]["result.s"].to_numpy(), 2)), abs=1e-12)  # loss and FID at s itself
        assert len(_floor_bands(axes[2, j])) == 1 and not _floor_bands(axes[1, j])  # the floor on the FID panel only
