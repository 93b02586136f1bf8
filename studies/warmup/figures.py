"""The Gaussian warm-up's sweeps and figure (App. B.1)."""

from __future__ import annotations

from neon_theory.run import plots
from neon_theory.run.figures import register_figure
from neon_theory.run.sweeps import SweepSpec

from ..drawing import warmup_finding
from ..presets import by_preset, preset_seeds


def warmup_curve_spec(preset: str) -> SweepSpec:
    return SweepSpec("warmup-cell", grid={"dim": [1, 2, 10]}, seeds=preset_seeds(preset), fixed={"n": 30, "draws": 2000 if preset == "smoke" else 20000})


def warmup_rate_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "warmup-cell",
        grid={"dim": [1, 2, 5, 10], "n": by_preset((15, 30, 100), (12, 15, 20, 30, 50, 100, 200, 500), preset)},
        seeds=preset_seeds(preset),
        fixed={"a_values": (), "draws": 2000 if preset == "smoke" else 20000},
    )


def draw_warmup(f: dict):
    curve = plots.explode_w(f["curve"], ["result.curve_mean"], w_col="a_values", name="a")
    curve["per_dim"] = curve["result.curve_mean"] / curve["dim"]
    return plots.panels(
        dict(df=curve, x="a", y="per_dim", hue="dim", zero=True, title="loss along Σ̂ + aΣ̂⁻¹, n = 30"),
        dict(
            df=f["rate"],
            x="n",
            y="result.improvement_rate",
            hue="dim",
            logx=True,
            ylabel="P(ΔL_pop < 0) per draw",
            title="per-draw improvement rate at a = 0.02",
        ),
        title=f"Gaussian warm-up (App. B.1): {warmup_finding(f['rate'])}",
    )


register_figure(
    "warmup",
    "Gaussian warm-up: loss along Σ̂ + aΣ̂⁻¹ and the per-draw improvement rate vs D and n",
    {"curve": warmup_curve_spec, "rate": warmup_rate_spec},
    draw_warmup,
)
