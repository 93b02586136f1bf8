"""Experiments registered with the sweep engine (importing this module registers them)."""

from __future__ import annotations

from neon_theory.sweeps import experiment


@experiment("gaussian-demo-cell")
def gaussian_demo_cell(params: dict, seed: int) -> dict:
    """One cell of the Gaussian demo: exact s, cosine, w* and Brent's best w for (base, T)."""
    from toy_models.gaussian_demo import DemoConfig, run_demo

    cfg = DemoConfig(
        temperatures=(float(params["T"]),),
        bases={params.get("base", "under-dispersed"): tuple(params.get("factors", (0.85, 0.75)))},
        n_synthetic=int(params.get("n_synthetic", 20000)),
        lr=float(params.get("lr", 0.02)),
        steps=int(params.get("steps", 10)),
        seed=seed,
    )
    row = run_demo(cfg, progress=False).iloc[0].to_dict()
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items() if k not in ("base", "T")}
