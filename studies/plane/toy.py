"""Paper Fig. 2 on the official AR toy: the Neon direction against a 4x-more-real-data direction."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from neon_theory.checks import check_choice, check_int
from neon_theory.neon import self_train
from neon_theory.rng import child_seed, generator
from neon_theory.samplers import Temperature
from toy_models.gmm import official_gaussian

from ..official_ar.toy import ARToyConfig, ar_base
from ..presets import PRESETS


@dataclass(frozen=True)
class PlaneConfig:
    """Paper Fig. 2 on the AR toy: the plane θ_r + w_s(θ_r − θ_s) + w_o(θ_o − θ_r).

    θ_s is fine-tuned on |S| = n_synthetic samples at std temperature ``tau``; θ_o is fine-tuned
    with the same optimiser and number of steps on ``real_factor`` × n_base real samples (the
    base's own data plus fresh draws).  The metric is log₁₀ W₂ to the truth, W₂ from POT:
    Bures–Wasserstein between the Gaussian fitted to ``n_eval`` samples and the truth
    (``w2="gaussian"``), or exact empirical W₂ on ``n_eval`` samples (``w2="empirical"``,
    whose sampling floor is large in 2-D).
    """

    ar: ARToyConfig = field(default_factory=ARToyConfig)
    tau: float = 0.5
    ft_epochs: int = 50
    real_factor: int = 4
    w_s: tuple = tuple(np.round(np.linspace(-0.5, 1.0, 16), 6).tolist())
    w_o: tuple = tuple(np.round(np.linspace(-0.5, 1.5, 21), 6).tolist())
    n_eval: int = 50_000
    w2: str = "gaussian"

    def __post_init__(self):
        check_choice("w2", self.w2, ("gaussian", "empirical"))
        check_int("real_factor", self.real_factor, lo=1)

    @classmethod
    def preset(cls, name: str) -> "PlaneConfig":
        check_choice("preset", name, PRESETS)
        if name in ("paper", "reduced"):
            return cls()
        return cls(ar=ARToyConfig.preset("smoke"), ft_epochs=10, w_s=(-0.5, 0.0, 0.5, 1.0), w_o=(-0.5, 0.0, 0.5, 1.0, 1.5), n_eval=10_000)


def _w2_metric(kind: str, n_eval: int):
    from neon_theory.metrics import bures_wasserstein, sample_moments, wasserstein2_empirical

    target = official_gaussian()

    def metric(model, g):
        x = model.sample(n_eval, Temperature(1.0, "std"), g).double()
        if not bool(torch.isfinite(x).all()):
            return 1e6
        if kind == "gaussian":
            m, c = sample_moments(x)
            return bures_wasserstein(m, c, target.mean(), target.cov())
        return wasserstein2_empirical(x, target.sample(n_eval, torch.Generator().manual_seed(g.initial_seed() + 1)))

    return metric


def run_plane(cfg: PlaneConfig, seed: int, *, progress: bool = False) -> pd.DataFrame:
    """The Fig. 2 grid for one seed: columns w_s, w_o, value (= W₂), log10_w2, seed."""
    from neon_theory.neon import plane_sweep

    target = official_gaussian()
    a = cfg.ar
    model = ar_base(a, seed)
    real = target.sample(a.n_base, generator(seed, "real")).float()
    steps = cfg.ft_epochs * math.ceil(a.n_synthetic / a.ft_batch)
    S = model.sample(a.n_synthetic, Temperature(cfg.tau, "std"), generator(seed, "plane-S"))
    theta_s = self_train(model, S, steps=steps, lr=a.ft_lr, batch_size=min(a.ft_batch, a.n_synthetic), generator=generator(seed, "plane-ft-s")).state_dict
    more = torch.cat([real, target.sample((cfg.real_factor - 1) * a.n_base, generator(seed, "more-real")).float()])
    theta_o = self_train(model, more, steps=steps, lr=a.ft_lr, batch_size=min(a.ft_batch, more.shape[0]), generator=generator(seed, "plane-ft-o")).state_dict
    df = plane_sweep(model, theta_s, theta_o, cfg.w_s, cfg.w_o, _w2_metric(cfg.w2, cfg.n_eval), eval_seed=child_seed(seed, "plane-eval"), progress=progress)
    df["log10_w2"] = np.log10(df["value"])
    df["seed"] = seed
    return df


def plane_summary(df: pd.DataFrame) -> dict:
    """Best log₁₀ W₂ along the Neon axis (w_o = 0), along the real-data axis (w_s = 0), and overall."""
    base = df[(df.w_s == 0) & (df.w_o == 0)].log10_w2.mean()
    neon = df[df.w_o == 0].groupby("w_s").log10_w2.mean()
    real = df[df.w_s == 0].groupby("w_o").log10_w2.mean()
    both = df.groupby(["w_s", "w_o"]).log10_w2.mean()
    return {
        "base": float(base),
        "neon_axis_best": float(neon.min()), "neon_axis_best_w_s": float(neon.idxmin()),
        "real_axis_best": float(real.min()), "real_axis_best_w_o": float(real.idxmin()),
        "plane_best": float(both.min()), "plane_best_at": tuple(float(v) for v in both.idxmin()),
        "neon_matches_real": bool(neon.min() <= real.min()),
    }
