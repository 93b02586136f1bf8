"""Summaries of sweep tables over seeds: one convention for tables, JSON and figures.

Per setting (the parameters that vary across the table), each result field gets the number
of seeds, the mean over seeds, its standard error SD/√n and a 95% t-interval over seeds
(n − 1 degrees of freedom).  With one seed there is no spread over seeds: the SE is the
run's own (the record's ``<field>_se``, e.g. a jackknife over batches) when it has one, and
no interval is given.  A within-run SE column is never averaged as if it were a result,
a constant is stated once instead of averaged, and a yes/no flag is counted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..checks import check_real

#: The interval every summary reports, in words.
INTERVAL = (
    "mean ± SE over seeds (SE = SD/√n) and a 95% t-interval over seeds (n − 1 d.o.f.); "
    "with 1 seed, the run's own SE marked (run) if it has one, and no interval; a value the same in every seed is exact and has neither; "
    "non-finite values (a diverged seed) are counted, not averaged"
)

_BOOKKEEPING = ("seed", "status", "error")

#: The column of a record's text saying why some of its numbers are null (e.g. ``undefined at the neutral
#: sampler``): summaries show that text where the number would be, instead of a blank.
UNDEFINED = "result.undefined"


def undefined_reason(g: pd.DataFrame, column: str) -> str | None:
    """Why ``column`` has no value in any record of ``g``: the records' :data:`UNDEFINED` text when
    ``column`` is one of the quantities a neutral sampler leaves undefined and every value is
    missing (an inf, or a field missing for another reason, is not blamed on the sampler); else None."""
    from ..samplers import UNDEFINED_QUANTITIES

    if UNDEFINED not in g or column.removeprefix("result.") not in UNDEFINED_QUANTITIES or not g[column].astype(float).isna().all():
        return None
    why = g[UNDEFINED].dropna()
    return str(why.iloc[0]) if len(why) else None


def t_interval(values, level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, SE, low, high) of ``values`` over seeds: SE = SD/√n and a ``level`` t-interval
    with n − 1 degrees of freedom; SE and the bounds are NaN for fewer than 2 values."""
    from scipy import stats

    check_real("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (math.nan,) * 4
    mean = float(v.mean())
    if v.size < 2:
        return mean, math.nan, math.nan, math.nan
    se = float(v.std(ddof=1) / math.sqrt(v.size))
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1)) * se
    return mean, se, mean - half, mean + half


def _scalar(v) -> bool:
    return v is None or isinstance(v, (str, int, float, bool, np.integer, np.floating, np.bool_))


@dataclass(frozen=True)
class Summary:
    """A sweep table summarised over seeds.

    Attributes:
        table (DataFrame): one row per (setting, field): the varying parameters, ``field``,
            ``n_seeds``, ``mean``, ``se``, ``ci_low``, ``ci_high`` and ``se_kind``: ``over seeds``,
            ``within run`` (one seed) or ``exact`` (the same value in every seed, to 1e-12
            relative: no SE); a flag's row has ``n_true`` and no SE.
        varying (list): the parameters that vary (the settings).
        constants (dict): parameters and result fields that take one value in every ok record.
        left_out (dict): field → why it is not summarised (list-valued, text, ...).
        failed (int): records that did not finish (left out).
        interval (str): :data:`INTERVAL`.
    """

    table: pd.DataFrame
    varying: list
    constants: dict
    left_out: dict = field(default_factory=dict)
    failed: int = 0
    interval: str = INTERVAL


def summarise(df: pd.DataFrame, fields: list[str] | None = None, *, level: float = 0.95) -> Summary:
    """Summarise a sweep table (:func:`~neon_theory.run.store.records_frame` columns) per setting.

    Args:
        df: a sweep table with ``seed`` and ``status`` columns and ``result.<field>`` columns.
        fields: result fields to summarise (short, ``best_w``, or as the table's column, ``result.best_w``); default:
            every numeric or yes/no result that varies, within-run SE columns left out.
        level: the interval's coverage in (0, 1).

    Raises:
        ValueError: not a sweep table, no finished record, or an unknown field (named, with
            the known ones).
    """
    missing = sorted({"seed", "status"} - set(df.columns))
    if missing:
        raise ValueError(f"a sweep table needs 'seed' and 'status' columns; missing {missing}")
    n_ok = int((df["status"] == "ok").sum())
    if n_ok == 0:
        raise ValueError(f"no numeric results to summarise (0 of {len(df)} record(s) ok)")
    ok = _flags_as_bool(df[df["status"] == "ok"])
    long, axis, curves = _explode_curves(ok)
    params = [c for c in ok.columns if c not in _BOOKKEEPING and not c.startswith("result.")]
    # a list-valued parameter (w_values, a grid of dims) is a setting like any other: compared as its JSON text
    ok = ok.assign(**{c: ok[c].map(_hashable) for c in params if not ok[c].map(_scalar).all()})
    long = long.assign(**{c: long[c].map(_hashable) for c in params if c in long and not long[c].map(_scalar).all()})
    results = [c for c in ok.columns if c.startswith("result.")]
    scalar = {c: bool(ok[c].map(_scalar).all()) for c in results}
    varying = [c for c in params if ok[c].nunique(dropna=False) > 1]
    groups = ok.groupby(varying, sort=True, dropna=False) if varying else [((), ok)]
    for key, g in groups:
        if g["seed"].duplicated().any():
            setting = dict(zip(varying, key if isinstance(key, tuple) else (key,)))
            seed = int(g["seed"][g["seed"].duplicated()].iloc[0])
            raise ValueError(f"setting {setting} has seed {seed} more than once: a repeated seed would count one run twice")
    constants = {c: _plain(ok[c].iloc[0]) for c in params if c not in varying}
    if varying:  # several settings: a result equal in every record of several settings is stated once, not per setting
        constants |= {c: _plain(ok[c].iloc[0]) for c in results if scalar[c] and ok[c].nunique(dropna=False) == 1 and not c.endswith("_se")}
    left_out = {c: "a list per record" for c in results if not scalar[c] and c not in curves}
    numeric = [c for c in results if scalar[c] and (pd.api.types.is_numeric_dtype(ok[c]) or ok[c].dtype == bool)] + curves
    if fields is None:
        chosen = [c for c in numeric if not c.endswith("_se") and c not in constants]
    else:
        known = sorted(c.removeprefix("result.") for c in results)
        chosen = []
        for f in fields:
            c = f if f.startswith("result.") else f"result.{f}"
            if c not in results:
                raise ValueError(f"field {f!r} is not a result of this table; known fields: {known}")
            if c not in numeric:
                raise ValueError(f"field {f!r} cannot be summarised: {left_out.get(c, 'it is not a number')}")
            if c not in chosen:  # best_w and result.best_w name one field: summarised once
                chosen.append(c)
    left_out.update({c: "text" for c in results if scalar[c] and c not in numeric and c != UNDEFINED})
    if not chosen:
        why = "; not summarised: " + ", ".join(f"{k.removeprefix('result.')} ({v})" for k, v in left_out.items()) if left_out else ""
        raise ValueError(f"no numeric results to summarise ({n_ok} of {len(df)} record(s) ok){why}")
    rows = []
    for table, by, fields_here in ((ok, varying, [c for c in chosen if c not in curves]), (long, varying + [axis], [c for c in chosen if c in curves])):
        if not fields_here:
            continue
        for key, g in table.groupby(by, sort=True, dropna=False) if by else [((), table)]:
            setting = dict(zip(by, key if isinstance(key, tuple) else (key,)))
            rows.extend(setting | {"field": c.removeprefix("result.")} | _field_row(g, c, level) for c in fields_here)
    shown = varying + ([axis] if any(c in curves for c in chosen) else [])
    clash = sorted(set(shown) & {"field", "n_seeds", "mean", "se", "ci_low", "ci_high", "se_kind", "n_true", "n_nonfinite"})
    if clash:
        raise ValueError(f"parameter(s) {clash} share a name with a summary column; rename them in the sweep")
    return Summary(pd.DataFrame(rows), shown, constants, left_out, int(len(df) - n_ok))


def _hashable(v):
    return json.dumps(v.tolist() if isinstance(v, np.ndarray) else v, default=str) if not _scalar(v) else v


def _flags_as_bool(ok: pd.DataFrame) -> pd.DataFrame:
    """Yes/no columns as bool (a failed record's empty cell makes them objects in a table)."""
    flags = [c for c in ok.columns if ok[c].dtype == object and len(ok[c]) and ok[c].map(lambda v: isinstance(v, (bool, np.bool_))).all()]
    return ok.assign(**{c: ok[c].astype(bool) for c in flags}) if flags else ok


def require_columns(df: pd.DataFrame, cols, name: str = "table") -> None:
    """Raise a ValueError naming the columns of ``cols`` that ``df`` lacks (and the ones it has)."""
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; columns are {list(df.columns)}")


def explode_w(df: pd.DataFrame, values: list[str], w_col: str = "w_values", name: str = "w") -> pd.DataFrame:
    """One row per (record, point) from the list-valued ``w_col`` and ``values`` columns (failed
    records left out); the point goes to column ``name`` (``w``), replacing a column of that name."""
    require_columns(df, [w_col, *values])
    ok = df[df["status"] == "ok"].copy() if "status" in df else df.copy()
    for c in (w_col, *values):
        ok[c] = ok[c].map(list)
    long = ok.explode([w_col, *values], ignore_index=True)
    long[name] = long[w_col].astype(float)
    for v in values:
        long[v] = long[v].astype(float)
    return long


def _is_list(v) -> bool:
    return isinstance(v, (list, tuple, np.ndarray))


def _explode_curves(ok: pd.DataFrame) -> tuple[pd.DataFrame, str | None, list[str]]:
    """Curves as rows: with one list-valued ``<x>_values`` parameter (``w_values``), the result lists of
    the same length become one row per point, the point in column ``<x>`` (``w``).

    Returns:
        (long table, the point's column or None, the curve columns); the scalar results are
        summarised on the table as it is, so they are not repeated once per point.
    """
    axes = [c for c in ok.columns if c.endswith("_values") and not c.startswith("result.") and len(ok) and ok[c].map(_is_list).all()]
    if len(axes) != 1:
        return ok, None, []
    axis = axes[0]
    lengths = ok[axis].map(len)
    curves = [c for c in ok.columns if c.startswith("result.") and ok[c].map(_is_list).all() and (ok[c].map(len) == lengths).all()]
    if not curves or (lengths == 0).all():
        return ok, None, []
    name = axis.removesuffix("_values")
    long = explode_w(ok[[c for c in ok.columns if not c.startswith("result.") or c in curves]], curves, w_col=axis, name=name)
    return long.drop(columns=[axis]), name, curves


def _field_row(g: pd.DataFrame, c: str, level: float) -> dict:
    if g[c].dtype == bool:
        return {"n_seeds": int(g["seed"].nunique()), "n_true": int(g[c].sum())}
    mean, se, lo, hi = t_interval(g[c], level)
    raw = g[c].astype(float).to_numpy()
    finite = np.isfinite(raw)
    values, n = raw[finite], int(finite.sum())
    row = {"n_seeds": n, "n_nonfinite": int((~finite & ~np.isnan(raw)).sum())}
    why = undefined_reason(g, c)
    if why is not None:
        row["undefined"] = why
    if n > 1 and values.max() - values.min() <= 1e-12 * np.abs(values).max():  # exact: the same in every seed (0 included)
        return row | {"mean": mean, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan, "se_kind": "exact"}
    kind = "over seeds"
    if n == 1:
        kind = "one seed"
        own = float(g[f"{c}_se"].astype(float).to_numpy()[finite][0]) if f"{c}_se" in g else math.nan
        if math.isfinite(own):  # the run's own SE, from the row whose value is finite
            se, kind = own, "within run"
    return row | {"mean": mean, "se": se, "ci_low": lo, "ci_high": hi, "se_kind": kind}


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def format_number(v, digits: int = 4) -> str:
    """``v`` with ``digits`` significant digits; blank for NaN or None."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.{digits}g}"
    return str(v)


def _mean_se(mean: float, se: float, kind: str) -> str:
    if not np.isfinite(mean):
        return ""
    if kind == "exact":
        return f"{format_number(mean)} (exact)"
    if not np.isfinite(se):
        return format_number(mean)
    return f"{format_number(mean)} ± {format_number(se, 2)}" + (" (run)" if kind == "within run" else "")


def display_table(summary: Summary) -> pd.DataFrame:
    """The summary as text cells for a person: ``mean ± SE`` and ``[low, high]`` joined, short names."""
    t = summary.table
    out = t[summary.varying + ["field", "n_seeds"]].copy()
    if "n_nonfinite" in t and (t["n_nonfinite"].fillna(0) > 0).any():  # a diverged seed is counted, never dropped silently
        out["not finite"] = t["n_nonfinite"].fillna(0).astype(int)
    if "mean" in t:
        out["mean ± SE"] = [_mean_se(m, s, k) for m, s, k in zip(t["mean"].astype(float), t["se"].astype(float), t["se_kind"].fillna(""))]
        bounds = zip(t["ci_low"].astype(float), t["ci_high"].astype(float))
        out["95% CI"] = ["" if not np.isfinite(lo) else f"[{format_number(lo)}, {format_number(hi)}]" for lo, hi in bounds]
        if "undefined" in t:  # a value that has none says why (a neutral sampler), not a blank
            why = t["undefined"].notna()
            out.loc[why, "mean ± SE"] = t.loc[why, "undefined"]
    if "n_true" in t:
        flags = t["n_true"].notna()
        out.loc[flags, "mean ± SE"] = [f"{int(k)} of {int(n)} seeds" for k, n in zip(t.loc[flags, "n_true"], t.loc[flags, "n_seeds"])]
    for c in summary.varying:
        out[c] = out[c].map(format_number)
    return out.rename(columns={"n_seeds": "seeds"})
