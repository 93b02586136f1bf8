"""The AR toy's P-cosine sign per τ on held-out seeds, with the degeneracy flag.

    .venv/bin/python benchmarks/ar_signs.py --preset paper --seeds 1000-1029

For each τ: how many seeds give cosine < 0 and > 0, how many cells have |cos| > 0.9, and how
many are flagged degenerate (one coordinate carries more than half of ‖r_d‖²_P or ‖r_s‖²_P),
with the largest coordinate shares of the |cos| > 0.9 cells so they can be told apart from
a cosine driven by an unseen sample (P = 1/eps).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from neon_theory.run.cli import parse_seeds
from neon_theory.run.sweeps import ResultStore, SweepSpec, run_sweep
from studies.presets import PRESETS, sampler_grid

TAUS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.25, 1.4, 1.6)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper", choices=tuple(PRESETS))
    ap.add_argument("--seeds", default="1000-1029", help="held-out base-model seeds (default 1000-1029)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--store", default="results/calibration-store")
    ap.add_argument("--out", default="results/ar_signs")
    args = ap.parse_args(argv)
    spec = SweepSpec("ar-cell", grid={"sampler": sampler_grid("std-temperature", TAUS)}, seeds=tuple(parse_seeds(args.seeds)),
                     fixed={"preset": args.preset, "best_w": False, "cosine": True})
    df = run_sweep(spec, ResultStore(args.store), workers=args.workers)
    bad = df[df.status != "ok"]
    if len(bad):
        raise SystemExit(f"{len(bad)} jobs failed; first error: {bad.error.iloc[0]}")
    c = df["result.cosine"].astype(float)
    df = df.assign(neg=c < 0, pos=c > 0, big=c.abs() > 0.9, degenerate=df["result.degenerate"].astype(bool))
    table = df.groupby("tau").agg(seeds=("seed", "count"), negative=("neg", "sum"), positive=("pos", "sum"),
                                  abs_cos_over_0_9=("big", "sum"), degenerate=("degenerate", "sum"),
                                  mean_cos=("result.cosine", "mean")).reset_index()
    big = df[df.big][["tau", "seed", "result.cosine", "result.max_share_d", "result.max_share_s"]]
    big_text = big.to_string(index=False) if len(big) else "none"
    text = f"# AR toy P-cosine signs, preset {args.preset}, seeds {args.seeds}\n\n{table.to_string(index=False)}\n\n|cos| > 0.9 cells:\n{big_text}\n"
    out = Path(args.out + f"_{args.preset}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"table": table.to_dict(orient="records"), "abs_cos_over_0_9": big.to_dict(orient="records")}, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
