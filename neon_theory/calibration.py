"""Is a reported standard error honest?  Compare it with the spread over repeats.

Repeat an estimator R times with fresh, independent noise; an honest standard error
matches the empirical standard deviation of the estimates, so

    ratio = SD(estimates) / mean(reported SEs)

is close to 1 (slightly above 1 for batch-means and jackknife SEs with few batches, whose
mean is below σ since E[√·] ≤ √E[·]).  ``ratio`` > 1 means the SE is too small (intervals
too narrow), < 1 too large.

The ratio's own standard error comes from the delta method: the sample SD over R
independent repeats has relative SE ≈ √((κ − 1)/(4R)) with κ the kurtosis of the
estimates (√(1/(2(R−1))) for Gaussian estimates), and the mean SE has relative SE
SD(SEs)/(√R·mean(SEs)); the two are combined as independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from .checks import check_real


@dataclass(frozen=True)
class SECalibration:
    """SD over repeats vs the mean reported SE.

    Attributes:
        sd (float): the empirical standard deviation of the estimates (ddof = 1).
        mean_se (float): the mean reported standard error.
        ratio (float): sd / mean_se.
        ratio_se (float): the delta-method standard error of ``ratio``.
        repeats (int): R.
    """

    sd: float
    mean_se: float
    ratio: float
    ratio_se: float
    repeats: int

    def consistent(self, k: float = 4.0, slack: float = 0.0) -> bool:
        """|ratio − 1| ≤ k·ratio_se + slack (``slack`` allows a known small bias of the SE)."""
        k = check_real("k", k, 0.0, math.inf, lo_open=True)
        slack = check_real("slack", slack, 0.0, math.inf)
        return abs(self.ratio - 1.0) <= k * self.ratio_se + slack


def se_calibration(estimates, ses) -> SECalibration:
    """Compare the spread of ``estimates`` over independent repeats with their reported ``ses``.

    Args:
        estimates: shape (R,), one estimate per repeat, R in [3, inf), finite (a tensor on any device, or array-like).
        ses: shape (R,), the standard error each repeat reported, finite and positive.

    Returns:
        :class:`SECalibration`.
    """
    x, se = (np.asarray(v.detach().cpu() if isinstance(v, Tensor) else v, dtype=np.float64).reshape(-1) for v in (estimates, ses))
    if x.shape != se.shape:
        raise ValueError(f"estimates and ses must have the same length; got {x.size} and {se.size}")
    if x.size < 3:
        raise ValueError(f"estimates must hold at least 3 repeats (R in [3, inf)); got {x.size}")
    if not (np.isfinite(x).all() and np.isfinite(se).all()):
        raise ValueError("estimates and ses must be finite (found NaN or inf)")
    if (se <= 0).any():
        raise ValueError("ses must be positive (in (0, inf))")
    R = x.size
    sd, mean_se = float(x.std(ddof=1)), float(se.mean())
    centred = x - x.mean()
    m2 = float((centred**2).mean())
    kurtosis = float((centred**4).mean()) / m2**2 if m2 > 0 else 3.0
    rel_sd = math.sqrt(max(kurtosis - 1.0, 0.0) / (4 * R))
    rel_se = float(se.std(ddof=1)) / (math.sqrt(R) * mean_se)
    ratio = sd / mean_se
    return SECalibration(sd, mean_se, ratio, ratio * math.sqrt(rel_sd**2 + rel_se**2), R)


def grouped_se_calibration(df, by, value: str, se: str, *, level: float = 0.95):
    """SD over repeats vs mean SE within each group (e.g. one base model and one sampler setting),
    and pooled over groups.

    The pooled ratio is the root mean square of the groups' SD / mean-SE ratios, weighted by
    their degrees of freedom R_g − 1: √(Σ_g (R_g − 1) ratio_g² / Σ_g (R_g − 1)).  If the SEs
    were exact and honest, Σ_g (R_g − 1) ratio_g² would be χ² with Σ_g (R_g − 1) degrees of
    freedom, which gives ``interval_if_honest`` (an estimated SE only widens it).

    Args:
        df (DataFrame): one row per repeat.
        by (list[str]): the columns that define a group; every group needs R_g ≥ 3 rows.
        value, se (str): the estimate's and its reported SE's columns.
        level (float): in (0, 1).

    Returns:
        (DataFrame, dict): one row per group (``by`` columns, repeats, mean, sd, mean_se, ratio,
        ratio_se) and the pooled summary (ratio, median group ratio, interval, degrees of
        freedom, groups, estimates).
    """
    import pandas as pd
    from scipy import stats

    level = check_real("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in (*by, value, se) if c not in df.columns]
    if missing:
        raise ValueError(f"df has no column(s) {missing}; it has {sorted(df.columns)}")
    rows = []
    for key, g in df.groupby(by, sort=True):
        cal = se_calibration(g[value].to_numpy(), g[se].to_numpy())
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), "repeats": cal.repeats, "mean": float(g[value].mean()), "sd": cal.sd,
                     "mean_se": cal.mean_se, "ratio": cal.ratio, "ratio_se": cal.ratio_se})
    table = pd.DataFrame(rows)
    dof_g = table["repeats"] - 1
    dof = int(dof_g.sum())
    lo, hi = stats.chi2.ppf([(1 - level) / 2, (1 + level) / 2], dof)
    pooled = {"ratio": math.sqrt(float((dof_g * table["ratio"] ** 2).sum()) / dof), "median_ratio": float(table["ratio"].median()),
              "interval_if_honest": (math.sqrt(lo / dof), math.sqrt(hi / dof)), "dof": dof, "groups": len(rows),
              "estimates": int(table["repeats"].sum()), "level": level}
    return table, pooled


__all__ = ["SECalibration", "grouped_se_calibration", "se_calibration"]
