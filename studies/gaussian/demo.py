"""The main demo: the full Neon loop on the exact Gaussian family.

For an under-dispersed and an over-dispersed base model and several temperatures on
both sides of T = 1, it computes the exact s, P-cosine, z and predicted
w* = −s/(αz), then runs the generic loop — draw a finite S from q, fine-tune with SGD
(so P = I and α = lr × steps), merge — and finds the empirical best w by Brent search on
the exact population NLL R_data.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import pandas as pd
import torch

from neon_theory.checks import check_choice, check_int, check_real
from neon_theory.neon import brent_best_w, displacement_w_star, self_train, w_sweep
from neon_theory.params import state_vector
from neon_theory.preconditioners import identity
from neon_theory.progress import tqdm
from neon_theory.rng import child_seed, generator
from neon_theory.samplers import Temperature, undefined_at_neutral
from toy_models.gaussian import GaussianModel, GaussianTarget, exact_quantities, oracle_alignment, population_nll


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo (all serialisable).

    Attributes:
        temperatures: density temperatures T to sweep (T < 1 mode-seeking, T > 1 diversity-seeking).
        bases: name → per-axis std factors a; the base model is Σ_r = A Σ* A with A = diag(a),
            μ_r = μ* + mean_offset.
        n_synthetic: |S|.
        lr, steps: SGD fine-tuning recipe (α = lr × steps).
        bracket: Brent search interval for w.
        seed: master seed (S is drawn from the stream named after the base and T).
        w: ``"best"`` (Brent on the exact NLL only) or ``"auto"``: also w chosen without a metric
            search (:func:`~neon_theory.autow.auto_w` on ``n_auto`` real draws), with its interval
            and the exact NLL it gives away against the best w.
        n_auto: real draws for ``w="auto"``.
    """

    temperatures: tuple = (0.5, 0.7, 0.9, 1.0, 1.25, 1.6)
    bases: dict = field(default_factory=lambda: {"under-dispersed": (0.85, 0.75), "over-dispersed": (1.15, 1.25)})
    data_cov: tuple = ((2.0, 1.0), (1.0, 2.0))
    mean_offset: tuple = (0.05, -0.05)
    n_synthetic: int = 20000
    lr: float = 0.02
    steps: int = 10
    bracket: tuple = (-20.0, 20.0)
    seed: int = 0
    w: str = "best"
    n_auto: int = 20000

    def __post_init__(self):
        check_choice("w", self.w, ("best", "auto"))
        check_int("n_auto", self.n_auto, lo=20)
        if not self.temperatures:
            raise ValueError("temperatures must be non-empty")
        for T in self.temperatures:
            check_real("temperature", T, 0.0, math.inf, lo_open=True)
        check_int("n_synthetic", self.n_synthetic, lo=2)
        check_real("lr", self.lr, 0.0, math.inf, lo_open=True)
        check_int("steps", self.steps, lo=1)
        check_int("seed", self.seed, lo=0)

    @property
    def alpha(self) -> float:
        return self.lr * self.steps

    def to_dict(self) -> dict:
        return asdict(self)


def base_model(target: GaussianTarget, factors, offset) -> GaussianModel:
    A = torch.diag(torch.tensor(factors, dtype=torch.float64))
    if A.shape[0] != target.dim:
        raise ValueError(f"base factors must have length D={target.dim}; got {A.shape[0]}")
    return GaussianModel(target.mean + torch.tensor(offset, dtype=torch.float64), A @ target.cov @ A)


def _verdict(best) -> str:
    if best.at_boundary:
        return "best w at bracket edge"
    if best.gain <= 0:
        return "no gain"
    return "Neon helps" if best.w > 0 else "self-training helps"


def demo_target(config: DemoConfig) -> GaussianTarget:
    cov = torch.tensor(config.data_cov, dtype=torch.float64)
    return GaussianTarget(torch.zeros(cov.shape[0], dtype=torch.float64), cov)


def synthetic_set(config: DemoConfig, model: GaussianModel, base_name: str, T: float) -> torch.Tensor:
    """S for one (base, T) cell: ``n_synthetic`` draws of θ_r at T on the cell's own stream."""
    return model.sample(config.n_synthetic, Temperature(T), generator(config.seed, f"S/{base_name}/{T}"))


def self_trained(config: DemoConfig, target: GaussianTarget, base_name: str, T: float):
    """The base model and its self-trained state for one (base, T) cell (S drawn from its own stream)."""
    model = base_model(target, config.bases[base_name], config.mean_offset)
    S = synthetic_set(config, model, base_name, T)
    st = self_train(model, S, steps=config.steps, lr=config.lr, optimizer="sgd", generator=generator(config.seed, "train"))
    return model, st


def demo_row(config: DemoConfig, base_name: str, T: float) -> tuple[dict, object, object]:
    """One (base, T) cell: exact s, cosine, z, w*, and the empirical best w and gain (s, the cosine
    and w* are None at the neutral T = 1, with the field ``undefined`` saying so).

    Returns:
        (row, model, self_trained): the table row, θ_r and its self-training result (for curves).
    """
    target = demo_target(config)
    model, st = self_trained(config, target, base_name, T)
    o = exact_quantities(target, model, Temperature(T))
    rep = oracle_alignment(o, identity(), alpha=config.alpha)
    delta = state_vector(model.module, st.state_dict) - model.theta()  # the realised step θ_s − θ_r (App. B.10)
    best = brent_best_w(model, st.state_dict, lambda m, _g: population_nll(target, m), bracket=config.bracket)
    row = {
        "base": base_name,
        "T": T,
        "sampler": Temperature(T).sharpening().value,
        "s": rep.s,
        "cosine": rep.cosine,
        "z": rep.z,
        "w_star": rep.w_star,
        "w_star_displacement": displacement_w_star(o.r_d, delta, o.H_hat @ delta),
        "best_w": best.w,
        "gain": best.gain,
        "base_nll": best.base_value,
        "verdict": _verdict(best),
    }
    if config.w == "auto":
        row.update(_auto_columns(config, target, model, st, delta, best, f"auto/{base_name}/{T}"))
    return undefined_at_neutral(row, Temperature(T).is_neutral()), model, st


def _auto_columns(config: DemoConfig, target: GaussianTarget, model: GaussianModel, st, delta, best, stream: str) -> dict:
    """w from the real loss along the step (Monte Carlo, as a user without the closed form would
    have it), its interval, whether it holds the exact best w, and the exact NLL it gives away."""
    from ..common import auto_record

    line = {"n": config.n_auto, "n_batches": 20, "seed": child_seed(config.seed, stream)}  # each row its own draws
    rec = auto_record(model, st.state_dict, target, {"nll": (lambda m, _g: population_nll(target, m), 0)}, line, methods=("displacement",))
    lo, hi, at_auto = rec["auto_w_low"], rec["auto_w_high"], rec["nll_at_auto"]
    covers = math.isfinite(lo) and math.isfinite(hi) and lo <= best.w <= hi  # an unbounded interval covers nothing (AutoW.covers)
    return {"auto_w": rec["auto_w"], "auto_w_low": lo, "auto_w_high": hi, "auto_covers_best": covers, "auto_nll_gap": at_auto - best.value}


def run_demo(config: DemoConfig = DemoConfig(), progress: bool = True) -> pd.DataFrame:
    """One row per (base, T) of :func:`demo_row`."""
    jobs = [(b, T) for b in config.bases for T in config.temperatures]
    return pd.DataFrame([demo_row(config, b, T)[0] for b, T in tqdm(jobs, disable=not progress, desc="demo")])


def metric_curves(config: DemoConfig, temperature: float, ws) -> pd.DataFrame:
    """R_data(θ_Neon(w)) along w for each base model at one temperature (common S per base)."""
    target = demo_target(config)
    out = []
    for base_name in config.bases:
        model, st = self_trained(config, target, base_name, temperature)
        sweep = w_sweep(model, st.state_dict, ws, lambda m, g: population_nll(target, m))
        out.append(pd.DataFrame({"base": base_name, "w": sweep.ws, "nll": sweep.values}))
    return pd.concat(out, ignore_index=True)
