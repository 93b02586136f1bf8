"""The figure catalogue: each figure is a set of sweeps (at a preset) and one plotting function.

``make_figure(name, preset)`` runs the sweeps through the cached, resumable sweep engine
(so a figure re-drawn later, or a second figure sharing a sweep, recomputes nothing) and
writes ``figures/<name>_<preset>.png`` and ``.pdf``.  ``neon-theory figures NAME|all`` calls it.

Presets: ``smoke`` (CI-sized: 2 seeds, coarse grids, the toys' smoke sizes) and ``paper``
(5 seeds, fine grids, the official sizes; hours on a CPU, mostly the diffusion toy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from neon_theory import plots
from neon_theory._validation import check_choice
from neon_theory.sweeps import Executor, ResultStore, SweepFailed, SweepSpec, failure_summary, run_sweep

from . import experiments  # noqa: F401  (registers the experiments)

PRESETS = ("smoke", "paper")


def _grid(smoke, paper, preset):
    return tuple(smoke if preset == "smoke" else paper)


def _seeds(preset: str, paper: int = 5) -> tuple:
    return (0, 1) if preset == "smoke" else tuple(range(paper))


def _toy(preset: str) -> str:
    return "smoke" if preset == "smoke" else "paper"


def _round(values) -> tuple:
    return tuple(float(v) for v in np.round(values, 6))


# ---- sweeps ------------------------------------------------------------------------------


def gaussian_temperature_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "gaussian-cell",
        grid={
            "T": _grid((0.5, 0.8, 1.25, 1.6), (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.05, 1.1, 1.25, 1.4, 1.6), preset),
            "base": ["under-dispersed", "over-dispersed"],
        },
        seeds=_seeds(preset),
        fixed={"n_synthetic": 2000 if preset == "smoke" else 20000},
    )


def _token_spec(knob: str, values, preset: str) -> SweepSpec:
    return SweepSpec("token-cell", grid={"value": values, "preconditioner": ["natural", "identity"]}, seeds=_seeds(preset, 10), fixed={"knob": knob})


def token_specs(preset: str) -> dict:
    return {
        "temperature": _token_spec("temperature", _grid((0.5, 0.8, 1.25, 1.6), (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.25, 1.4, 1.6, 2.0), preset), preset),
        "top_k": _token_spec("top_k", (1, 2, 3), preset),
        "top_p": _token_spec("top_p", _grid((0.5, 0.8, 1.0), (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0), preset), preset),
    }


def ar_cosine_spec(preset: str) -> SweepSpec:
    taus = _grid((0.7, 1.0, 1.3), _round(np.linspace(0.6, 1.4, 17)), preset)
    return SweepSpec("ar-cell", grid={"tau": taus}, seeds=_seeds(preset), fixed={"preset": _toy(preset), "best_w": False})


def diffusion_cosine_spec(preset: str) -> SweepSpec:
    zetas = _grid((0.85, 1.0, 1.15), _round(np.linspace(0.8, 1.2, 17)), preset)
    return SweepSpec("diffusion-cell", grid={"zeta": zetas}, seeds=_seeds(preset), fixed={"preset": _toy(preset)})


def flow_specs(preset: str) -> dict:
    return {
        "guidance": SweepSpec(
            "flow-cell",
            grid={"value": _grid((0.5, 1.0, 2.0, 3.0), (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0), preset)},
            seeds=_seeds(preset),
            fixed={"preset": preset, "knob": "guidance"},
        ),
        "steps": SweepSpec(
            "flow-cell", grid={"value": _grid((2, 5, 20), (1, 2, 3, 5, 10, 20, 50), preset)}, seeds=_seeds(preset), fixed={"preset": preset, "knob": "steps"}
        ),
    }


def gaussian_w_spec(preset: str) -> SweepSpec:
    ws = _round(np.linspace(-4, 5, 10 if preset == "smoke" else 37))
    return SweepSpec(
        "gaussian-cell",
        grid={"T": [0.5, 1.6], "base": ["under-dispersed", "over-dispersed"]},
        seeds=_seeds(preset),
        fixed={"w_values": ws, "n_synthetic": 2000 if preset == "smoke" else 20000},
    )


def gaussian_budget_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "gaussian-cell",
        grid={"steps": _grid((2, 5, 10, 20, 40), (1, 2, 5, 10, 20, 40, 80), preset)},
        seeds=_seeds(preset),
        fixed={"T": 0.5, "n_synthetic": 2000 if preset == "smoke" else 20000},
    )


def ar_budget_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "ar-cell",
        grid={"ft_epochs": _grid((5, 20), (25, 50, 100, 250), preset), "tau": [0.5, 1.6]},
        seeds=_seeds(preset),
        fixed={"preset": _toy(preset), "cosine": False},
    )


def gaussian_size_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "gaussian-cell",
        grid={"n_synthetic": _grid((20, 200, 2000), (10, 30, 100, 300, 1000, 3000, 10000, 30000), preset)},
        seeds=_seeds(preset),
        fixed={"T": 0.5},
    )


def ar_size_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "ar-cell",
        grid={"n_synthetic": _grid((1024, 4096), (1000, 3000, 10000, 30000, 100000), preset), "tau": [0.5, 1.6]},
        seeds=_seeds(preset),
        fixed={"preset": _toy(preset), "cosine": False},
    )


def warmup_curve_spec(preset: str) -> SweepSpec:
    return SweepSpec("warmup-cell", grid={"dim": [1, 2, 10]}, seeds=_seeds(preset), fixed={"n": 30, "draws": 2000 if preset == "smoke" else 20000})


def warmup_rate_spec(preset: str) -> SweepSpec:
    return SweepSpec(
        "warmup-cell",
        grid={"dim": [1, 2, 5, 10], "n": _grid((15, 30, 100), (12, 15, 20, 30, 50, 100, 200, 500), preset)},
        seeds=_seeds(preset),
        fixed={"a_values": (), "draws": 2000 if preset == "smoke" else 20000},
    )


def plane_spec(preset: str) -> SweepSpec:
    return SweepSpec("plane-cell", seeds=_seeds(preset), fixed={"preset": _toy(preset)})


def precision_recall_spec(preset: str) -> SweepSpec:
    ws = _round(np.linspace(-1, 1, 5 if preset == "smoke" else 21))
    return SweepSpec(
        "ar-cell",
        grid={"tau": [0.5, 1.6]},
        seeds=_seeds(preset),
        fixed={"preset": _toy(preset), "cosine": False, "best_w": False, "w_values": ws, "n_pr": 2000 if preset == "smoke" else 10000},
    )


# ---- figures -----------------------------------------------------------------------------


def _draw_cosine(f: dict):
    tok = f["tokens/temperature"], f["tokens/top_k"], f["tokens/top_p"]
    return plots.cosine_panels(
        {
            "Gaussian (exact, P = I), temperature T": (f["gaussian"], "T", "base"),
            "tokens (exact, add-½ MLE base), temperature T": (tok[0], "value", "preconditioner"),
            "tokens (exact, add-½ MLE base), top-k": (tok[1], "value", "preconditioner"),
            "tokens (exact, add-½ MLE base), top-p": (tok[2], "value", "preconditioner"),
            "AR toy (Adam P), std temperature τ": (f["ar"], "tau", None),
            "diffusion toy (Adam P), score scale ζ": (f["diffusion"], "zeta", None),
            "flow, two-class GMM (Adam P), guidance γ": (f["flow/guidance"], "value", None),
            "flow, two-class GMM (Adam P), Euler steps (γ = 1)": (f["flow/steps"], "value", None),
        },
        neutral={
            "flow, two-class GMM (Adam P), guidance γ": 1.0,
            "Gaussian (exact, P = I), temperature T": 1.0,
            "tokens (exact, add-½ MLE base), temperature T": 1.0,
            "AR toy (Adam P), std temperature τ": 1.0,
            "diffusion toy (Adam P), score scale ζ": 1.0,
        },
    )


def _draw_metric_vs_w(f: dict):
    fig = plots.metric_vs_w_figure(f["gaussian"], metric="result.nll_at_w", by=["base", "T"], predicted="result.w_star", best="result.best_w")
    fig.suptitle("Gaussian: population NLL of θ_Neon(w); predicted w* = −s/(αz) vs Brent's best w", fontsize=9)
    return fig


def _draw_budget(f: dict):
    g = f["gaussian"]
    return plots.panels(
        [
            dict(df=g, x="result.alpha", y="result.best_w", label="best w (Brent)", logx=True),
            dict(
                df=g,
                x="result.alpha",
                y="result.w_star",
                label="predicted w* = −s/(αz)",
                logx=True,
                zero=True,
                ylabel="w",
                title="Gaussian, T = 0.5, SGD (α = lr × steps)",
            ),
        ],
        dict(df=f["ar"], x="ft_epochs", y="result.best_w", hue="tau", logx=True, zero=True, ylabel="best w", title="AR toy, Adam"),
        title="best w vs fine-tuning budget (mean over seeds, 95% t-band)",
    )


def _draw_size(f: dict):
    return plots.panels(
        dict(df=f["gaussian"], x="n_synthetic", y="result.gain", logx=True, zero=True, ylabel="gain in NLL at the best w", title="Gaussian, T = 0.5"),
        dict(df=f["ar"], x="n_synthetic", y="result.gain", hue="tau", logx=True, zero=True, ylabel="gain in FD at the best w", title="AR toy"),
        title="gain of Neon at its best w vs |S| (mean over seeds, 95% t-band)",
    )


def _draw_warmup(f: dict):
    curve = plots.explode_w(f["curve"], ["result.curve_mean"], w_col="a_values").drop(columns="a").rename(columns={"w": "a"})
    curve["per_dim"] = curve["result.curve_mean"] / curve["dim"]
    return plots.panels(
        dict(df=curve, x="a", y="per_dim", hue="dim", zero=True, ylabel="mean ΔL_pop over draws / D", title="loss along Σ̂ + aΣ̂⁻¹, n = 30"),
        dict(
            df=f["rate"],
            x="n",
            y="result.improvement_rate",
            hue="dim",
            logx=True,
            ylabel="P(ΔL_pop < 0) per draw",
            title="per-draw improvement rate at a = 0.02",
        ),
        title="Gaussian warm-up (App. B.1): E[ΔL] < 0, yet a single draw often gets worse in low D",
    )


def _draw_overdispersed(f: dict):
    g = f["gaussian"]
    return plots.panels(
        dict(df=g, x="T", y="result.s", hue="base", zero=1.0, ylabel="s (exact, P = I)", title="s = ⟨r_d, P r_s⟩"),
        dict(df=g, x="T", y="result.best_w", hue="base", zero=1.0, ylabel="best w (Brent on the NLL)", title="best w"),
        title="over-dispersed base: a mode-seeking sampler (T < 1) gives s > 0 and negative best w",
    )


def _draw_plane(f: dict):
    return plots.plane_from_records(f["plane"])


def _draw_precision_recall(f: dict):
    return plots.precision_recall_vs_w(f["ar"], by="tau")


@dataclass(frozen=True)
class Figure:
    """A figure: what it shows, its sweeps (label → spec builder of the preset) and its drawing function."""

    description: str
    sweeps: dict
    draw: Callable[[dict], object]


FIGURES: dict[str, Figure] = {
    "cosine-vs-sharpness": Figure(
        "P-cosine vs sampler sharpness for every family and sampler, CI bands over seeds",
        {
            "gaussian": gaussian_temperature_spec,
            **{f"tokens/{k}": (lambda p, k=k: token_specs(p)[k]) for k in ("temperature", "top_k", "top_p")},
            "ar": ar_cosine_spec,
            "diffusion": diffusion_cosine_spec,
            **{f"flow/{k}": (lambda p, k=k: flow_specs(p)[k]) for k in ("guidance", "steps")},
        },
        _draw_cosine,
    ),
    "metric-vs-w": Figure("population NLL vs w with the predicted w* and Brent's best w marked (Gaussian)", {"gaussian": gaussian_w_spec}, _draw_metric_vs_w),
    "best-w-vs-budget": Figure(
        "best w vs fine-tuning budget, with the predicted w* ∝ 1/α (Gaussian) and the AR toy",
        {"gaussian": gaussian_budget_spec, "ar": ar_budget_spec},
        _draw_budget,
    ),
    "gain-vs-size": Figure("gain at the best w vs |S| (Gaussian, AR toy)", {"gaussian": gaussian_size_spec, "ar": ar_size_spec}, _draw_size),
    "warmup": Figure(
        "Gaussian warm-up: loss along Σ̂ + aΣ̂⁻¹ and the per-draw improvement rate vs D and n",
        {"curve": warmup_curve_spec, "rate": warmup_rate_spec},
        _draw_warmup,
    ),
    "over-dispersed": Figure(
        "the over-dispersed counterexample: s and best w vs T for both bases", {"gaussian": gaussian_temperature_spec}, _draw_overdispersed
    ),
    "plane": Figure("paper Fig. 2: log10 W2 over the (Neon, more-real-data) plane on the AR toy", {"plane": plane_spec}, _draw_plane),
    "precision-recall-vs-w": Figure("prdc precision and recall of θ_Neon(w) samples vs w (AR toy)", {"ar": precision_recall_spec}, _draw_precision_recall),
}


def figure_specs(name: str, preset: str) -> dict[str, SweepSpec]:
    check_choice("figure", name, tuple(FIGURES))
    check_choice("preset", preset, PRESETS)
    return {label: build(preset) for label, build in FIGURES[name].sweeps.items()}


def make_figure(
    name: str,
    preset: str = "smoke",
    *,
    store: ResultStore | str | Path = "results/store",
    out: str | Path = "figures",
    executor: Executor | None = None,
    progress: bool = False,
) -> dict:
    """Run (or load from the cache) the sweeps of figure ``name`` and write it as PNG and PDF.

    Returns:
        dict: ``paths`` (written files), ``frames`` (label → sweep table) and ``failed`` (0).

    Raises:
        SweepFailed: some job failed (the message names the first error and its job); the
            finished records stay cached, so a re-run retries only the failed ones.
    """
    specs = figure_specs(name, preset)
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    for spec in specs.values():
        spec.validate()  # every sweep is checked before any of them runs
    frames: dict[str, pd.DataFrame] = {label: run_sweep(spec, store, executor=executor, progress=progress) for label, spec in specs.items()}
    failed = sum(int((f.status != "ok").sum()) for f in frames.values())
    for label, frame in frames.items():
        summary = failure_summary(frame)
        if summary is not None:
            raise SweepFailed(f"figure {name!r}, sweep {label!r}: {summary}")
    fig = FIGURES[name].draw(frames)
    paths = plots.save(fig, Path(out) / f"{name}_{preset}")
    return {"paths": paths, "frames": frames, "failed": failed}
