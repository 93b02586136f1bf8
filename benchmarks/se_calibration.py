"""End-to-end check of the P-cosine's standard error on the official toys.

For each base model (seed) and sampler setting, the cosine probe is repeated with fresh
estimator noise (population and synthetic draws, Adam minibatches, loss noise) through the
``estimator_rep`` field of the ``ar-cell`` / ``diffusion-cell`` experiments; the SD of the
cosine over repeats is compared with the mean reported (jackknife) SE, per cell and pooled.

    .venv/bin/python benchmarks/se_calibration.py --toy ar --preset paper --seeds 100-103 --reps 10
    .venv/bin/python benchmarks/se_calibration.py --toy diffusion --preset paper --seeds 100-102 --reps 8

Records are cached in ``--store`` (resumable); the tables go to ``--out`` as markdown and JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from neon_theory.calibration import grouped_se_calibration
from neon_theory.run.cli import parse_seeds
from neon_theory.run.sweeps import ResultStore, SweepSpec, run_sweep
from studies.presets import PRESETS, sampler_grid

TOYS = {
    # experiment, the sampler's text name, its records column, the default values, fixed params
    "ar": ("ar-cell", "std-temperature", "tau", (0.5, 1.6), {"best_w": False, "cosine": True}),
    "diffusion": ("diffusion-cell", "score-scale", "zeta", (0.9, 1.1), {}),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--toy", choices=sorted(TOYS), required=True)
    ap.add_argument("--preset", default="paper", choices=tuple(PRESETS))
    ap.add_argument("--seeds", default="100-102", help="base-model seeds (default 100-102, never used by tests or figures)")
    ap.add_argument("--reps", type=int, default=8, help="repeats with fresh estimator noise per cell (default 8)")
    ap.add_argument("--values", default=None, help="comma-separated sharpness values (default: the toy's two published ones)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--store", default="results/calibration-store")
    ap.add_argument("--out", default="results/calibration", help="output prefix (default results/calibration)")
    args = ap.parse_args(argv)
    if args.reps < 3:
        ap.error("--reps must be in [3, inf)")
    name, sampler, knob, default_values, fixed = TOYS[args.toy]
    values = default_values if args.values is None else tuple(float(v) for v in args.values.split(","))
    spec = SweepSpec(name, grid={"sampler": sampler_grid(sampler, values), "estimator_rep": list(range(args.reps))},
                     seeds=tuple(parse_seeds(args.seeds)), fixed={"preset": args.preset, **fixed})
    start = time.perf_counter()
    df = run_sweep(spec, ResultStore(args.store), workers=args.workers)
    wall = time.perf_counter() - start
    bad = df[df.status != "ok"]
    if len(bad):
        raise SystemExit(f"{len(bad)} jobs failed; first error: {bad.error.iloc[0]}")
    table, pooled = grouped_se_calibration(df, ["seed", knob], "result.cosine", "result.cosine_se")
    degenerate = int(df["result.degenerate"].sum())
    out = Path(args.out + f"_{args.toy}_{args.preset}")
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"toy": args.toy, "preset": args.preset, "seeds": sorted(df.seed.unique().tolist()), "reps": args.reps,
               knob: list(values), "pooled": pooled, "degenerate_cells": degenerate, "wall_s": wall,
               "cells": table.to_dict(orient="records")}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2))
    md = table.to_markdown(index=False, floatfmt=".4g") if _has_tabulate() else table.to_string(index=False)
    lo, hi = pooled["interval_if_honest"]
    text = (
        f"# P-cosine SE calibration: {args.toy} toy, preset {args.preset}\n\n{md}\n\n"
        f"Pooled SD/SE (dof-weighted RMS of the cell ratios) = {pooled['ratio']:.3f}, median {pooled['median_ratio']:.3f}, "
        f"over {pooled['estimates']} estimates in {pooled['groups']} cells "
        f"({pooled['level']:.0%} range if the SE is honest: [{lo:.3f}, {hi:.3f}]); degenerate cells: {degenerate}; "
        f"wall {wall:.0f} s\n"
    )
    out.with_suffix(".md").write_text(text)
    print(text)
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    raise SystemExit(main())
