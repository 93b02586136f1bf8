"""``neon-theory bench``: the toolkit's estimators against the official one, side by side in one run.

Timings on shared machines are noisy, so every figure of merit is a **ratio measured in the
same run**, with the machine, the torch version and the thread count written next to it:

* **estimator efficiency**: inverse variance of the P-cosine per CPU-second,
  1 / (Var × CPU-s per estimate), toolkit ÷ official, on the *same* base models.  The variance
  is the spread over repeats with fresh estimator noise (never a reported SE); the toolkit's
  reported SE is set against that spread too (SD / mean SE, 1 when honest).  The official
  estimator is re-implemented here from the published notebook's definitions
  (:func:`official_cosine`);
* **gradient pass**: rows per second of :func:`~neon_theory.gradients.population_gradient`
  ÷ a bare forward + backward loop over the same model, rows and minibatch;
* **memory**: peak resident memory of a streamed population gradient as N grows, each N in a
  fresh process;
* **full toys** (``--toys``): one seed of each official toy at the ``paper`` preset.

The variance ratio's 95% interval comes from the F distribution with (R − 1, R − 1) degrees
of freedom (the CPU time is taken as known).  The toolkit's SEs are checked twice: SD over
repeats ÷ mean reported SE, and the share of repeats whose reported 95% interval covers the
median of the repeats (robust when a rare repeat is far out, as happens where a rarely active
unit makes P's estimand itself sensitive).  Efficiency compares spreads only, so each row also
gives the difference of the means from the official estimator's, in combined standard errors.
"""

from __future__ import annotations

import functools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from neon_theory.checks import check_int, check_real

#: each row's target, as the issue that set them states it
TARGETS = {"efficiency": 10.0, "gradient_pass": 0.95, "diffusion_toy_5_seeds_s": 120.0, "ar_toy_5_seeds_s": 60.0, "two_workers": 1.8}


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of one bench run.

    Attributes:
        bases (int): base models (seeds 0 … bases−1) per toy, in [1, 16].
        repeats (int): estimates per estimator and base, in [4, 1000]; the variance has R − 1 degrees of freedom.
        diffusion_rows (int): population samples per estimate in the diffusion toy, each with 16 (t, ε) draws
            (default 16,384, a sixth of the official 10⁵, to keep the bench in minutes; the
            rqmc estimators get as many rows, 16 × diffusion_rows, each its own sample).
        ar_rows (int): population samples per estimate in the AR toy (the official 10⁵).
        zeta (float): the diffusion toy's score scale.
        taus (tuple): the AR toy's std temperatures.
        threads (int): torch threads.
        memory_sizes (tuple): the N of the memory rows.
        toys (bool): also time each full official toy at the paper preset (``toy_seeds`` seeds, one
            thread) and the toys' smoke catalogue with 1 vs 2 local workers.
        toy_seeds (int): seeds of the full toys, in [1, 16] (the targets are for 5).
        base_preset (str): the toys' preset whose base models are used (``paper``: the official
            10,000-step diffusion base; ``smoke`` only to check the bench itself).
        device (str): where the scaling rows run (and, when not ``cpu``, on the CPU as well);
            every ratio is measured on the CPU, in CPU-seconds.
    """

    bases: int = 4
    repeats: int = 12
    diffusion_rows: int = 16_384
    ar_rows: int = 100_000
    zeta: float = 1.1
    taus: tuple = (0.5, 1.6)
    threads: int = 1
    memory_sizes: tuple = (10_000, 100_000, 1_000_000, 10_000_000)
    toys: bool = False
    toy_seeds: int = 5
    base_preset: str = "paper"
    device: str = "cpu"

    def __post_init__(self):
        from ..presets import PRESETS

        if self.base_preset not in PRESETS:
            raise ValueError(f"base_preset must be one of {sorted(PRESETS)}; got {self.base_preset!r}")
        check_int("bases", self.bases, lo=1, hi=16)
        check_int("repeats", self.repeats, lo=4, hi=1000)
        check_int("diffusion_rows", self.diffusion_rows, lo=4096)
        check_int("ar_rows", self.ar_rows, lo=4096)
        check_real("zeta", self.zeta, 0.0, math.inf, lo_open=True)
        for t in self.taus:
            check_real("taus", t, 0.0, math.inf, lo_open=True)
        check_int("threads", self.threads, lo=1)
        check_int("toy_seeds", self.toy_seeds, lo=1, hi=16)

    @classmethod
    def preset(cls, name: str) -> "BenchConfig":
        """``smoke`` (seconds, smoke-size bases: checks the bench itself), ``reduced`` (2 bases, 8 repeats, 10⁶ rows
        in the memory rows) or ``paper`` (the defaults: 4 bases, 12 repeats, up to 10⁷ rows)."""
        from ..presets import PRESETS

        if name not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {name!r}")
        if name == "smoke":
            return cls(bases=1, repeats=4, diffusion_rows=4096, ar_rows=8192, taus=(0.5,), memory_sizes=(10_000, 100_000), base_preset="smoke", toy_seeds=1)
        if name == "reduced":
            return cls(bases=2, repeats=8, memory_sizes=(10_000, 100_000, 1_000_000))
        return cls()


def machine() -> dict:
    """What the ratios were measured on."""
    import torch

    return {
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
    }


# -- the official estimator ------------------------------------------------------------------------
def official_cosine(model, real, synthetic, *, draws: int, batch_size: int, generator, beta2: float = 0.999, eps: float = 1e-8) -> float:
    """The notebook's P-cosine: every row repeated ``draws`` times and shuffled; one pass over the
    real rows in minibatches of ``batch_size`` gives r_d (the mean minibatch gradient) and Adam's
    bias-corrected second-moment EMA v̂, so P = diag(1/(√v̂ + eps)); one pass over the synthetic
    rows gives r_s; the loss noise is drawn independently for every minibatch (no common random
    numbers); cosine = ⟨r_d, P r_s⟩ / (‖r_d‖_P ‖r_s‖_P).

    Args:
        real, synthetic (Tensor): shape (n, ...), the population and synthetic samples.
        draws (int): loss-noise draws per sample (16 in the diffusion toy, 1 for an NLL loss).
        generator: shuffles and loss noise.
    """
    import torch

    from neon_theory.params import flatten, trainable_named_parameters
    from neon_theory.rng import draw

    params = [p for _, p in trainable_named_parameters(model.module)]

    def walk(rows, second_moment: bool):
        rows = rows.repeat_interleave(draws, 0)
        rows = rows[draw(torch.randperm, rows.shape[0], generator=generator, device=rows.device)]
        total, v, steps = 0.0, 0.0, 0
        for a in range(0, rows.shape[0], batch_size):
            xb = rows[a : a + batch_size]
            loss = model.per_example_loss(xb, model.draw_noise(xb.shape[0], generator)).mean()
            g = flatten(torch.autograd.grad(loss, params, allow_unused=True), params)
            total = total + g * xb.shape[0]
            if second_moment:
                v, steps = beta2 * v + (1 - beta2) * g * g, steps + 1
        return total / rows.shape[0], (v / (1 - beta2**steps) if second_moment else None)

    r_d, v = walk(real, True)
    r_s, _ = walk(synthetic, False)
    p = 1.0 / (v.sqrt() + eps)
    return float((r_d * p * r_s).sum() / ((r_d * p * r_d).sum().sqrt() * (r_s * p * r_s).sum().sqrt()))


def _timed(fn):
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def _summary(values: list, cpu: list, ses: list | None = None, intervals: list | None = None) -> dict:
    out = {"mean": statistics.fmean(values), "sd": statistics.stdev(values), "cpu_s": statistics.fmean(cpu), "repeats": len(values)}
    out["efficiency"] = 1.0 / (out["sd"] ** 2 * out["cpu_s"]) if out["sd"] > 0 else math.inf
    if ses is not None:
        out["mean_se"] = statistics.fmean(ses)
        out["sd_over_se"] = out["sd"] / out["mean_se"] if out["mean_se"] > 0 else math.inf
    if intervals is not None:
        # heavy-tailed estimates (a rare row with a huge gradient) make SD / mean SE erratic; the share of
        # repeats whose reported 95% interval (t quantile of the jackknife) covers the median of the repeats is robust to them
        centre = statistics.median(values)
        out["coverage95"] = sum(lo <= centre <= hi for lo, hi in intervals) / len(values)
    return out


def _ratio(toolkit: dict, official: dict) -> dict:
    """Efficiency ratio with the F interval of the variance ratio (R − 1 degrees of freedom each)."""
    from scipy import stats

    ratio = toolkit["efficiency"] / official["efficiency"]
    lo_q, hi_q = stats.f.ppf([0.975, 0.025], official["repeats"] - 1, toolkit["repeats"] - 1)
    # efficiency compares spreads only: the difference of the means shows a bias of either estimator
    diff_se = math.sqrt(official["sd"] ** 2 / official["repeats"] + toolkit["sd"] ** 2 / toolkit["repeats"])
    diff = toolkit["mean"] - official["mean"]
    return {"ratio": ratio, "ratio_ci95": (ratio / lo_q, ratio / hi_q), "mean_difference": diff, "mean_difference_z": diff / diff_se if diff_se > 0 else 0.0}


# -- estimator efficiency --------------------------------------------------------------------------
def _probe_repeats(make_probe, value, repeats: int) -> dict:
    """``make_probe(rep=r).report(value)`` for r = 1 … repeats (fresh estimator noise), summarised."""
    values, cpu, ses, intervals = [], [], [], []
    for rep in range(1, repeats + 1):
        report, seconds = _timed(functools.partial(_probe_report, make_probe, rep, value))
        values.append(report.cosine)
        ses.append(report.cosine_se)
        intervals.append(report.cosine_ci)
        cpu.append(seconds)
    return _summary(values, cpu, ses, intervals)


def _probe_report(make_probe, rep: int, value):
    return make_probe(rep=rep).report(value)


def _official_once(model, sampler, n: int, draws: int, batch_size: int, g) -> float:
    """One official estimate: fresh population and synthetic samples, then :func:`official_cosine`."""
    from toy_models.gmm import official_gaussian

    real = official_gaussian().sample(n, g).float()
    return official_cosine(model, real, model.sample(n, sampler, g), draws=draws, batch_size=batch_size, generator=g)


def _official_repeats(model, sampler, n: int, draws: int, batch_size: int, seed: int, stream: str, repeats: int) -> dict:
    from neon_theory.rng import generator

    values, cpu = [], []
    for rep in range(1, repeats + 1):
        once = functools.partial(_official_once, model, sampler, n, draws, batch_size, generator(seed, f"{stream}/{rep}"))
        value, seconds = _timed(once)
        values.append(value)
        cpu.append(seconds)
    return _summary(values, cpu)


def diffusion_efficiency(cfg: BenchConfig, progress=None) -> list[dict]:
    """One row per (base, estimator): the official estimator, the toolkit's plain, rqmc and variance-reduced ones."""
    from ..official_diffusion.toy import DiffusionToyConfig, diffusion_base, diffusion_cosine_probe, diffusion_sampler

    toy = replace(DiffusionToyConfig.preset(cfg.base_preset), n_pop=cfg.diffusion_rows, noise_draws=16, grad_batch=2048, rqmc_rows=cfg.diffusion_rows * 16)
    rows = []
    for seed in range(cfg.bases):
        model = diffusion_base(toy, seed)
        sampler = diffusion_sampler(toy, cfg.zeta)
        per = {"official": _official_repeats(model, sampler, cfg.diffusion_rows, toy.noise_draws, toy.grad_batch, seed, "bench-official", cfg.repeats)}
        for est in ("plain", "rqmc", "variance-reduced"):
            make = functools.partial(diffusion_cosine_probe, model, replace(toy, cos_estimator=est), seed)
            per[est] = _probe_repeats(make, cfg.zeta, cfg.repeats)
        for name, s in per.items():
            ratio = {} if name == "official" else _ratio(s, per["official"])
            rows.append({"toy": "diffusion", "setting": f"zeta={cfg.zeta:g}", "base": seed, "estimator": name, **s, **ratio})
        if progress:
            progress(f"diffusion base {seed}: " + ", ".join(f"{k} SD {v['sd']:.2g}" for k, v in per.items()))
    return rows


def _exact_ar(model, toy, seed: int, tau: float, official: dict) -> dict:
    """The exact AR P-cosine (quadrature on a float64 copy of θ_r): its value, CPU-s (median of 3),
    how far a rule of twice the nodes moves it (a convergence check, not a bound), and the official
    estimator's bias: its mean minus the exact value, also in its SEs of the mean.  No efficiency
    ratio: a computed value has no variance to compare."""
    from ..official_ar.toy import ar_cosine_probe

    def once(nodes):
        return ar_cosine_probe(model, replace(toy, cos_estimator="exact", quadrature_nodes=nodes), seed).report(tau).cosine

    timed = [_timed(functools.partial(once, toy.quadrature_nodes)) for _ in range(3)]
    value, cpu = timed[0][0], statistics.median(t for _, t in timed)
    official_se = official["sd"] / math.sqrt(official["repeats"])
    return {
        "mean": value, "sd": 0.0, "cpu_s": cpu, "repeats": 1, "exact": True, "rule_change": abs(once(2 * toy.quadrature_nodes) - value),
        "ratio": None, "cost_vs_official": cpu / official["cpu_s"],
        "mean_difference": official["mean"] - value, "mean_difference_z": (official["mean"] - value) / official_se if official_se > 0 else 0.0,
    }


def ar_efficiency(cfg: BenchConfig, progress=None) -> list[dict]:
    """One row per (τ, base, estimator): the official estimator, the toolkit's plain probe and the exact P-cosine.

    The exact row's ``mean_difference_z`` is the official estimator's bias in its own SEs: its
    mean at ``ar_rows`` rows minus the exact value."""
    from neon_theory.samplers import Temperature

    from ..official_ar.toy import ARToyConfig, ar_base, ar_cosine_probe

    toy = replace(ARToyConfig.preset(cfg.base_preset), n_pop=cfg.ar_rows, grad_batch=2048)
    rows = []
    for seed in range(cfg.bases):
        model = ar_base(toy, seed)
        for tau in cfg.taus:
            official = _official_repeats(model, Temperature(tau, "std"), cfg.ar_rows, 1, toy.grad_batch, seed, f"bench-official/{tau}", cfg.repeats)
            plain = _probe_repeats(functools.partial(ar_cosine_probe, model, replace(toy, cos_estimator="plain"), seed), tau, cfg.repeats)
            common = {"toy": "ar", "setting": f"tau={tau:g}", "base": seed}
            rows.append({**common, "estimator": "official", **official})
            rows.append({**common, "estimator": "plain", **plain, **_ratio(plain, official)})
            rows.append({**common, "estimator": "exact", **_exact_ar(model, toy, seed, tau, official)})
        if progress:
            progress(f"AR base {seed} done")
    return rows


# -- the default-device context ---------------------------------------------------------------------
def device_context(repeats: int = 5, steps: int = 200) -> dict:
    """Seconds of AR-toy self-training (``steps`` Adam steps at batch 2048, one thread, median of
    ``repeats``) without and with a ``torch.device("cpu")`` context, which every job ran under
    until :func:`~neon_theory.device.default_device` skipped a context that changes nothing."""
    import torch

    from neon_theory.neon import self_train
    from neon_theory.rng import generator
    from neon_theory.samplers import Temperature

    from ..official_ar.toy import ARToyConfig, ar_base

    model = ar_base(replace(ARToyConfig(), base_steps=1), 0)
    S = model.sample(2048 * 8, Temperature(0.5, "std"), generator(0, "S"))

    def train():
        return self_train(model, S, steps=steps, lr=1e-4, batch_size=2048, generator=generator(0, "ft"))

    def under_context():
        with torch.device("cpu"):
            return train()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train()  # warm-up
        bare, context = [], []
        for _ in range(repeats):
            bare.append(_timed(train)[1])
            context.append(_timed(under_context)[1])
    finally:
        torch.set_num_threads(threads)
    b, c = statistics.median(bare), statistics.median(context)
    return {"steps": steps, "bare_s": b, "context_s": c, "ratio": c / b}


# -- gradient pass and memory ---------------------------------------------------------------------------------
def _bare_pass(model, X, batch: int):
    """The reference: forward + backward per minibatch, gradients summed per parameter, nothing else."""
    import torch

    from neon_theory.rng import generator

    params = [p for p in model.module.parameters() if p.requires_grad]
    g = generator(0, "bench-noise")
    totals = [torch.zeros_like(p) for p in params]
    for a in range(0, X.shape[0], batch):
        xb = X[a : a + batch]
        for t, q in zip(totals, torch.autograd.grad(model.per_example_loss(xb, model.draw_noise(xb.shape[0], g)).sum(), params)):
            t += q
    return totals


def _engine_pass(model, X, batch: int):
    from neon_theory.gradients import population_gradient
    from neon_theory.rng import generator

    return population_gradient(model, X, noise_generator=generator(0, "bench-noise"), chunk_size=batch, n_batches=32)


def gradient_pass(repeats: int = 7, rows: int = 2**17, batch: int = 2048) -> list[dict]:
    """Rows/s of the engine's population gradient ÷ a bare fwd+bwd loop, alternated ``repeats`` times (median ratio)."""
    from neon_theory.rng import generator
    from toy_models.gmm import official_gaussian

    from ..official_ar.toy import ARToyConfig, ar_base
    from ..official_diffusion.toy import DiffusionToyConfig, diffusion_base

    X = official_gaussian().sample(rows, generator(0, "bench-rows")).float()
    out = []
    models = {"diffusion MLP": diffusion_base(replace(DiffusionToyConfig(), base_steps=1), 0), "AR MLP": ar_base(replace(ARToyConfig(), base_steps=1), 0)}
    for name, model in models.items():
        bare, engine = functools.partial(_bare_pass, model, X, batch), functools.partial(_engine_pass, model, X, batch)
        bare(), engine()  # warm-up
        ratios, rates = [], []
        for _ in range(repeats):
            tb = _timed(bare)[1]
            te = _timed(engine)[1]
            ratios.append(tb / te)
            rates.append(rows / te)
        out.append({
            "model": name, "batch": batch, "rows": rows, "engine_rows_per_s": statistics.median(rates),
            "ratio": statistics.median(ratios), "ratio_range": (min(ratios), max(ratios)),
        })
    return out


_MEMORY_SCRIPT = """
import resource, sys, torch
torch.set_num_threads(1)
from neon_theory.gradients import population_gradient
from neon_theory.rng import generator
from dataclasses import replace
from studies.official_diffusion.toy import DiffusionToyConfig, diffusion_base
from toy_models.gmm import official_gaussian
model = diffusion_base(replace(DiffusionToyConfig(), base_steps=1), 0)
population_gradient(model, official_gaussian(), 4096, generator=generator(0, "d"), noise_generator=generator(0, "n"), chunk_size=2048, n_batches=2)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
population_gradient(model, official_gaussian(), int(sys.argv[1]), generator=generator(0, "d"), noise_generator=generator(0, "n"), chunk_size=2048, n_batches=32)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(after - before, after)
"""


def memory(sizes) -> list[dict]:
    """Peak resident memory added by a streamed population gradient over N rows drawn from the data law (fresh process per N)."""
    out = []
    for n in sizes:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        res = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(int(n))], capture_output=True, text=True, check=True, env=env)
        added, peak = (int(v) / 1024 for v in res.stdout.strip().splitlines()[-1].split())  # ru_maxrss is in KiB on Linux
        out.append({"n": int(n), "peak_rss_added_mib": added, "peak_rss_mib": peak})
    return out


# -- scaling ------------------------------------------------------------------------------------------------------
def _scaling_models() -> dict:
    """name → a diffusion model of growing size: the toy MLP at three widths, then image UNets on 8×8 and 16×16 digits."""
    import torch

    from toy_models._conditional import TimeMLP
    from toy_models.diffusion import DiffusionModel, Schedule
    from toy_models.images.unet import TimeUNet

    torch.manual_seed(0)
    return {
        "MLP 32": DiffusionModel(TimeMLP(2, hidden=32), Schedule("cosine", 1000)),
        "MLP 128": DiffusionModel(TimeMLP(2, hidden=128), Schedule("cosine", 1000)),
        "MLP 512": DiffusionModel(TimeMLP(2, hidden=512), Schedule("cosine", 1000)),
        "UNet 8x8": DiffusionModel(TimeUNet((1, 8, 8), channels=16, levels=2), Schedule("cosine", 1000)),
        "UNet 16x16": DiffusionModel(TimeUNet((1, 16, 16), channels=32, levels=3), Schedule("cosine", 1000)),
    }


def scaling(device: str = "cpu", sizes=(2**12, 2**14, 2**16, 2**18), rows_per_model: int = 4096) -> list[dict]:
    """Seconds of one streamed population gradient (chunks of 2048 rows) vs the number of rows N (the toy MLP)
    and vs the number of parameters p (MLPs to UNets, ``rows_per_model`` rows), on ``device``."""
    import torch

    from neon_theory.gradients import population_gradient
    from neon_theory.params import num_parameters
    from neon_theory.rng import generator

    def seconds(model, n):
        X = torch.randn(n, model.dim, generator=generator(0, "scaling-rows")).to(device)
        model.module.to(device)
        population_gradient(model, X[: min(n, 2048)], noise_generator=generator(0, "scaling-noise"), n_batches=2)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        population_gradient(model, X, noise_generator=generator(0, "scaling-noise"), chunk_size=2048, n_batches=8)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    models = _scaling_models()
    mlp = models["MLP 32"]
    p_mlp = num_parameters(mlp.module)
    out = [{"axis": "rows", "model": "MLP 32", "parameters": p_mlp, "rows": n, "seconds": seconds(mlp, n), "device": device} for n in sizes]
    for name, model in models.items():
        t = seconds(model, rows_per_model)
        out.append({"axis": "parameters", "model": name, "parameters": num_parameters(model.module), "rows": rows_per_model, "seconds": t, "device": device})
    return out


def ensemble_scaling(device: str = "cpu", sizes=(1, 2, 4, 8, 16), steps: int = 20, rows: int = 4096) -> list[dict]:
    """Models per second of AR-toy self-training (``steps`` Adam steps at batch 2048 on ``rows`` rows
    each), K models one at a time (``self_train``) and as one (``self_train_many``), side by side."""
    import torch

    from neon_theory.batched import self_train_many
    from neon_theory.neon import FineTuning, self_train
    from neon_theory.rng import generator
    from neon_theory.samplers import Temperature

    from ..official_ar.toy import ARToyConfig, ar_base

    ft = FineTuning(steps, 1e-4, "adam", min(2048, rows))
    models = [ar_base(replace(ARToyConfig(), base_steps=1), seed) for seed in range(max(sizes))]
    for m in models:
        m.module.to(device)
    data = [m.sample(rows, Temperature(0.5, "std"), generator(seed, "ensemble-S")) for seed, m in enumerate(models)]

    def seconds(fn):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    def alone(k):
        for seed in range(k):
            self_train(models[seed], data[seed], steps=ft.steps, lr=ft.lr, batch_size=ft.batch_size, generator=generator(seed, "ensemble-ft"))

    def together(k):
        self_train_many(models[:k], data[:k], fine_tuning=ft, generators=[generator(seed, "ensemble-ft") for seed in range(k)])

    alone(1), together(1)  # warm-up
    out = []
    for k in sizes:
        t_alone, t_together = seconds(functools.partial(alone, k)), seconds(functools.partial(together, k))
        out.append({
            "axis": "ensemble", "model": "AR MLP", "models": k, "seconds_one_at_a_time": t_alone, "seconds_as_one": t_together,
            "models_per_s_one_at_a_time": k / t_alone, "models_per_s_as_one": k / t_together, "ratio": t_alone / t_together,
            "steps": steps, "device": device,
        })
    return out


def scaling_figure(rows: list[dict], folder: Path) -> list[Path]:
    """Two log-log panels: seconds vs rows, and µs per row vs parameters; PNG and PDF (TrueType fonts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    df = pd.DataFrame([r for r in rows if r["axis"] != "ensemble"])
    ensemble = pd.DataFrame([r for r in rows if r["axis"] == "ensemble"])
    df["us_per_row"] = 1e6 * df.seconds / df.rows
    df["family"] = df.model.str.split().str[0]  # "MLP" or "UNet": one line per network family
    with plt.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42}):
        fig, (a, b, c) = plt.subplots(1, 3, figsize=(13.5, 3.6))
        by_rows = df[df.axis == "rows"]
        sns.lineplot(by_rows, x="rows", y="seconds", hue="device", marker="o", ax=a)
        a.set(xscale="log", yscale="log", xlabel=f"rows N ({by_rows.model.iloc[0]}, {by_rows.parameters.iloc[0]:,} parameters)",
              ylabel="seconds per population gradient", title="time vs N")
        sns.lineplot(df[df.axis == "parameters"], x="parameters", y="us_per_row", hue="family", style="device", marker="o", ax=b)
        for _, r in df[df.axis == "parameters"].iterrows():
            b.annotate(r.model, (r.parameters, r.us_per_row), textcoords="offset points", xytext=(4, -10), fontsize=7)
        b.set(xscale="log", yscale="log", xlabel="parameters p", ylabel="µs per row", title=f"time vs p ({int(df[df.axis == 'parameters'].rows.iloc[0])} rows)")
        if len(ensemble):
            paths = ["models_per_s_one_at_a_time", "models_per_s_as_one"]
            long = ensemble.melt(id_vars=["models", "device"], value_vars=paths, var_name="path", value_name="models_per_s")
            long["path"] = long.path.map({"models_per_s_one_at_a_time": "one at a time", "models_per_s_as_one": "as one (vmap)"})
            sns.lineplot(long, x="models", y="models_per_s", hue="path", style="device", marker="o", ax=c)
            c.set(xscale="log", yscale="log", xlabel="models K (AR MLP)", ylabel="models self-trained per second",
                  title=f"throughput vs ensemble size ({int(ensemble.steps.iloc[0])} Adam steps)")
        else:
            c.set_axis_off()
        fig.tight_layout()
        paths = [folder / "bench-scaling.png", folder / "bench-scaling.pdf"]
        for path in paths:
            fig.savefig(path, dpi=150)
        plt.close(fig)
    return paths


# -- full toys ---------------------------------------------------------------------------------------------------
def _figure_seconds(toys, preset: str, seeds, workers: int = 1) -> tuple[float, float]:
    """Wall and CPU seconds (this process) of every sweep of the figures ``toys``, through one executor
    (as ``neon-theory figures`` runs them: its processes start once), on a fresh store and fresh caches."""
    import tempfile

    from neon_theory.run import plugins
    from neon_theory.run.executors import LocalExecutor
    from neon_theory.run.figures import figure_specs
    from neon_theory.run.sweeps import ResultStore, run_sweep

    from ..common import clear_caches

    plugins.load("neon_theory.figures")
    clear_caches()  # forked workers must not inherit trained models either
    executor = LocalExecutor(workers)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0, c0 = time.perf_counter(), time.process_time()
            for toy in toys:
                for spec in figure_specs(toy, preset, seeds).values():
                    run_sweep(spec, ResultStore(tmp), executor=executor, progress=False)
            return time.perf_counter() - t0, time.process_time() - c0
    finally:
        executor.close()


def full_toys(seeds: int = 5) -> list[dict]:
    """Wall and CPU time of ``seeds`` seeds (0 … seeds−1) of each official toy at the paper preset, every cell of its figure, one worker."""
    out = []
    for toy in ("official-diffusion", "official-ar"):
        wall, cpu = _figure_seconds((toy,), "paper", tuple(range(seeds)))
        out.append({"toy": toy, "seeds": seeds, "wall_s": wall, "cpu_s": cpu})
    return out


def two_workers() -> dict:
    """Wall seconds of the official toys' smoke catalogue (both figures, the preset's seeds) with 1 and with 2 local workers, fresh stores."""
    times = {w: _figure_seconds(("official-ar", "official-diffusion"), "smoke", None, workers=w)[0] for w in (1, 2)}
    return {"one_worker_s": times[1], "two_workers_s": times[2], "ratio": times[1] / times[2]}


# -- the report ------------------------------------------------------------------------------------------------------
def run_bench(cfg: BenchConfig, progress=None) -> dict:
    """Every measurement of the bench, as a JSON-able dict (see the module docstring)."""
    import torch

    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    report = {"config": asdict(cfg), "machine": machine(), "targets": TARGETS}
    report["efficiency"] = diffusion_efficiency(cfg, progress) + ar_efficiency(cfg, progress)
    report["gradient_pass"] = gradient_pass()
    report["device_context"] = device_context()
    report["memory"] = memory(cfg.memory_sizes)
    report["scaling"] = scaling(cfg.device) + (scaling("cpu") if cfg.device != "cpu" else [])
    report["scaling"] += ensemble_scaling(cfg.device) + (ensemble_scaling("cpu") if cfg.device != "cpu" else [])
    if cfg.toys:
        report["toys"] = full_toys(cfg.toy_seeds)
        report["two_workers"] = two_workers()
    report["wall_s"] = time.perf_counter() - t0
    report["table"] = summary_table(report)
    return report


def _median_range(values) -> str:
    return f"{statistics.median(values):.3g}× ({min(values):.2g}–{max(values):.2g})" if len(values) > 1 else f"{values[0]:.3g}×"


def summary_table(report: dict) -> list[dict]:
    """The rows of the markdown table: what, official, toolkit, ratio, target."""
    rows = []
    eff = report["efficiency"]
    for toy, setting in dict.fromkeys((r["toy"], r["setting"]) for r in eff):
        sel = [r for r in eff if r["toy"] == toy and r["setting"] == setting]
        official = [r for r in sel if r["estimator"] == "official"]
        for est in dict.fromkeys(r["estimator"] for r in sel if r["estimator"] != "official"):
            tk = [r for r in sel if r["estimator"] == est]
            if tk[0].get("exact"):
                rows.append(_exact_table_row(toy, setting, tk, official))
                continue
            rows.append({
                "what": f"{toy} toy, {setting}: 1/(Var × CPU-s) of the P-cosine, {est} "
                f"(SD/SE {statistics.fmean(r['sd_over_se'] for r in tk):.2f}, 95% coverage {statistics.fmean(r['coverage95'] for r in tk):.0%})",
                "official": f"{statistics.fmean(r['cpu_s'] for r in official):.3g} CPU-s, SD {statistics.fmean(r['sd'] for r in official):.2g}",
                "toolkit": f"{statistics.fmean(r['cpu_s'] for r in tk):.3g} CPU-s, SD {statistics.fmean(r['sd'] for r in tk):.2g}; "
                f"mean − official's: |z| ≤ {max(abs(r['mean_difference_z']) for r in tk):.1f}",
                "ratio": f"median {_median_range([r['ratio'] for r in tk])} over {len(tk)} bases",
                "target": f"≥ {TARGETS['efficiency']:g}×",
            })
    for r in report["gradient_pass"]:
        rows.append({
            "what": f"population-gradient pass ÷ bare fwd+bwd, {r['model']}, batch {r['batch']}", "official": "—",
            "toolkit": f"{r['engine_rows_per_s']:.3g} rows/s", "ratio": f"{r['ratio']:.2f} ({r['ratio_range'][0]:.2f}–{r['ratio_range'][1]:.2f})",
            "target": f"≥ {TARGETS['gradient_pass']:g}",
        })
    if "device_context" in report:
        d = report["device_context"]
        rows.append({
            "what": f"AR self-training, {d['steps']} Adam steps: under a torch.device('cpu') context (what jobs did) ÷ without (what they do)",
            "official": f"{d['context_s'] * 1e3:.0f} ms", "toolkit": f"{d['bare_s'] * 1e3:.0f} ms", "ratio": f"{d['ratio']:.2f}×", "target": "—",
        })
    mem = report["memory"]
    rows.append({
        "what": f"peak memory added, N = {mem[0]['n']:.0e} → {mem[-1]['n']:.0e} rows streamed", "official": "—",
        "toolkit": " → ".join(f"+{m['peak_rss_added_mib']:.1f}" for m in mem)
        + f" MiB (peak RSS {mem[0]['peak_rss_mib']:.0f} → {mem[-1]['peak_rss_mib']:.0f} MiB)",
        "ratio": "", "target": "flat",
    })
    for r in report.get("toys", []):
        key = "diffusion_toy_5_seeds_s" if "diffusion" in r["toy"] else "ar_toy_5_seeds_s"
        rows.append({
            "what": f"full {r['toy']} toy, paper preset, seeds 0–{r['seeds'] - 1}, one worker, {report['config']['threads']} thread(s)", "official": "—",
            "toolkit": f"{r['wall_s']:.0f} s wall ({r['cpu_s']:.0f} CPU-s; {r['wall_s'] / r['seeds']:.0f} s per seed)", "ratio": "",
            "target": f"≤ {TARGETS[key]:g} s for 5 seeds",
        })
    if "two_workers" in report:
        r = report["two_workers"]
        rows.append({
            "what": "official toys' smoke catalogue, 1 vs 2 local workers, fresh stores", "official": f"{r['one_worker_s']:.1f} s (1 worker)",
            "toolkit": f"{r['two_workers_s']:.1f} s (2 workers)", "ratio": f"{r['ratio']:.2f}×", "target": f"≥ {TARGETS['two_workers']:g}×",
        })
    return rows


def _exact_table_row(toy: str, setting: str, tk: list, official: list) -> dict:
    biases = ", ".join(f"{r['mean_difference']:+.3f} ({r['mean_difference_z']:+.1f} SE)" for r in tk)
    return {
        "what": f"{toy} toy, {setting}: the P-cosine computed (exact: quadrature, float64; no variance, so no efficiency ratio)",
        "official": f"{statistics.fmean(r['cpu_s'] for r in official):.3g} CPU-s, SD {statistics.fmean(r['sd'] for r in official):.2g}",
        "toolkit": f"{statistics.fmean(r['cpu_s'] for r in tk):.3g} CPU-s; twice the nodes move it by ≤ {max(r['rule_change'] for r in tk):.1g}; "
        f"official mean − exact: {biases}",
        "ratio": f"exact, at {statistics.fmean(r['cost_vs_official'] for r in tk):.2g}× the CPU of one official estimate",
        "target": f"≥ {TARGETS['efficiency']:g}×",
    }


def markdown(report: dict) -> str:
    """The summary table and the machine, as markdown."""
    m = report["machine"]
    lines = [
        f"Machine: {m['processor']}, {m['cpu_count']} CPUs, {m['threads']} torch thread(s); Python {m['python']}, torch {m['torch']}; "
        f"bench config {json.dumps(report['config'])}; {report['wall_s'] / 60:.1f} min.",
        "",
        "| what | official | toolkit | ratio | target |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r['what']} | {r['official']} | {r['toolkit']} | {r['ratio']} | {r['target']} |" for r in report["table"]]
    return "\n".join(lines) + "\n"


def write(report: dict, folder: Path) -> list[Path]:
    """bench.json and bench.md in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "bench.json", folder / "bench.md"]
    paths[0].write_text(json.dumps(report, indent=2, default=_jsonable) + "\n")
    paths[1].write_text(markdown(report))
    if report.get("scaling"):
        paths += scaling_figure(report["scaling"], folder)
    return paths


def _jsonable(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    raise TypeError(f"not JSON-able: {type(v).__name__}")
