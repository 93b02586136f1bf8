"""Figures that compare studies: cosine-vs-sharpness (every family and sampler), best-w-vs-budget and gain-vs-size."""

from __future__ import annotations

from neon_theory.run import plots
from neon_theory.run.figures import register_figure

from ..drawing import cosine_panels
from ..flow.figures import flow_specs
from ..gaussian.figures import gaussian_budget_spec, gaussian_size_spec, gaussian_temperature_spec
from ..official_ar.figures import ar_budget_spec, ar_cosine_spec, ar_size_spec
from ..official_diffusion.figures import diffusion_cosine_spec
from ..tokens.figures import token_specs


def draw_cosine(f: dict):
    tok = [f[f"tokens/{k}"] for k in ("temperature", "top_k", "top_p")]
    return cosine_panels(
        {
            "Gaussian (exact, P = I), temperature T": (f["gaussian"], "T", "base"),
            "tokens (exact, add-½ MLE base), temperature T": (tok[0], "T", "preconditioner"),
            "tokens (exact, add-½ MLE base), top-k": (tok[1], "top_k", "preconditioner"),
            "tokens (exact, add-½ MLE base), top-p": (tok[2], "top_p", "preconditioner"),
            "AR toy (Adam P), std temperature τ": (f["ar"], "tau", None),
            "diffusion toy (Adam P), score scale ζ": (f["diffusion"], "zeta", None),
            "flow, two-class GMM (Adam P), guidance γ": (f["flow/guidance"], "guidance", None),
            "flow, two-class GMM (Adam P), Euler steps (γ = 1)": (f["flow/steps"], "steps", None),
        },
        # Only where the whole sampler is neutral (q = p_θ).  ζ = 1 and γ = 1 on a finite DDIM or
        # Euler grid are still mode-seeking (discretisation), so their cosines are measurements.
        neutral={
            "Gaussian (exact, P = I), temperature T": 1.0,
            "tokens (exact, add-½ MLE base), temperature T": 1.0,
            "AR toy (Adam P), std temperature τ": 1.0,
        },
    )


def draw_budget(f: dict):
    g = f["gaussian"]
    return plots.panels(
        [
            dict(df=g, x="result.alpha", y="result.best_w", name="best w (Brent)", logx=True),
            dict(
                df=g,
                x="result.alpha",
                y="result.w_star",
                name="predicted w* = −s/(αz)",
                logx=True,
                zero=True,
                ylabel="w",
                title="Gaussian, T = 0.5, SGD (α = lr × steps)",
            ),
        ],
        dict(df=f["ar"], x="ft_epochs", y="result.best_w", hue="tau", logx=True, zero=True, ylabel="best w", title="AR toy, Adam"),
        title="best w vs fine-tuning budget",
    )


def draw_size(f: dict):
    return plots.panels(
        dict(df=f["gaussian"], x="n_synthetic", y="result.gain", logx=True, zero=True, ylabel="gain in NLL at the best w", title="Gaussian, T = 0.5"),
        dict(df=f["ar"], x="n_synthetic", y="result.gain", hue="tau", logx=True, zero=True, ylabel="gain in FD at the best w", title="AR toy"),
        title="gain of Neon at its best w vs |S|",
    )


register_figure(
    "cosine-vs-sharpness",
    "P-cosine vs sampler sharpness for every family and sampler, CI bands over seeds",
    {
        "gaussian": gaussian_temperature_spec,
        **{f"tokens/{k}": (lambda p, k=k: token_specs(p)[k]) for k in ("temperature", "top_k", "top_p")},
        "ar": ar_cosine_spec,
        "diffusion": diffusion_cosine_spec,
        **{f"flow/{k}": (lambda p, k=k: flow_specs(p)[k]) for k in ("guidance", "steps")},
    },
    draw_cosine,
)

register_figure(
    "best-w-vs-budget",
    "best w vs fine-tuning budget, with the predicted w* ∝ 1/α (Gaussian) and the AR toy",
    {"gaussian": gaussian_budget_spec, "ar": ar_budget_spec},
    draw_budget,
)

register_figure("gain-vs-size", "gain at the best w vs |S| (Gaussian, AR toy)", {"gaussian": gaussian_size_spec, "ar": ar_size_spec}, draw_size)
