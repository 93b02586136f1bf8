"""Benchmarks, measured side by side in one run: ``.venv/bin/python benchmarks/run.py``.

Reports medians over repeats and the ratios between the variants (speed is measured here,
never in tests).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from neon_theory.contracts import ModelAdapter
from neon_theory.gradients import per_sample_gradients, population_gradient
from neon_theory.rng import generator


def mlp_model(dim: int = 2, hidden: int = 64) -> ModelAdapter:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(dim + 1, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def noise_fn(n, g):
        return torch.rand(n, 1, generator=g), torch.randn(n, dim, generator=g)

    def loss_fn(m, x, noise):
        t, eps = noise
        a = torch.cos(0.5 * torch.pi * t)
        return ((m(torch.cat([a * x + (1 - a**2).sqrt() * eps, t], -1)) - eps) ** 2).sum(-1)

    return ModelAdapter(net, loss_fn, lambda m, n, s, g: torch.randn(n, dim, generator=g), noise_fn)


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def sweep_throughput(workers_list=(1, 2)) -> None:
    """Configs per minute of the smoke grids of the cosine figure (Gaussian T × base × seeds, AR τ × seeds)
    with 1 vs N local workers, each run on a fresh store (nothing cached)."""
    import tempfile

    from neon_theory.run.sweeps import ResultStore, run_sweep
    from studies.common import clear_caches
    from studies.gaussian.figures import gaussian_temperature_spec
    from studies.official_ar.figures import ar_cosine_spec

    specs = [gaussian_temperature_spec("smoke"), ar_cosine_spec("smoke")]
    n_jobs = sum(len(s.jobs()) for s in specs)
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: imports and first-call costs
        run_sweep(specs[0], ResultStore(tmp), progress=False)
    for workers in workers_list:
        clear_caches()  # forked workers must not inherit trained base models
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            for i, spec in enumerate(specs):
                run_sweep(spec, ResultStore(f"{tmp}/{i}"), workers=workers, progress=False)
            rates[workers] = n_jobs / (time.perf_counter() - t0) * 60
    print(f"sweep throughput, smoke grids ({n_jobs} configs, 1 torch thread per job, fresh cache)")
    for workers, rate in rates.items():
        print(f"  {workers} worker(s): {rate:7.1f} configs/min   speed-up vs 1 worker: {rate / rates[workers_list[0]]:.2f}x")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--n", type=int, default=512, help="examples for per-sample gradients")
    p.add_argument("--workers", type=int, default=2, help="the N of the 1-vs-N sweep throughput")
    args = p.parse_args(argv)
    sweep_throughput((1, args.workers))
    from studies.bench.bench import device_context

    r = device_context(args.repeats)
    print(f"self-training, AR toy, {r['steps']} steps at batch 2048, one thread")
    print(f"  no context {r['bare_s'] * 1e3:8.1f} ms   torch.device('cpu') context {r['context_s'] * 1e3:8.1f} ms   context/none = {r['ratio']:.2f}x")
    model = mlp_model()
    x = torch.randn(args.n, 2, generator=generator(0, "x"))
    noise = model.draw_noise(args.n, generator(0, "n"))
    t_vmap = timed(lambda: per_sample_gradients(model, x, noise, method="vmap"), args.repeats)
    t_loop = timed(lambda: per_sample_gradients(model, x, noise, method="loop"), args.repeats)
    print(f"per-sample gradients, n={args.n}, p={sum(q.numel() for q in model.module.parameters())}")
    print(f"  vmap {t_vmap * 1e3:8.1f} ms   loop {t_loop * 1e3:8.1f} ms   loop/vmap = {t_loop / t_vmap:.1f}x")
    N = 32 * 2048
    rows = []
    for chunk in (256, 2048, 8192):
        t = timed(
            lambda chunk=chunk: population_gradient(model, x.repeat(N // args.n, 1), chunk_size=chunk, n_batches=4, noise_generator=generator(0, "n")),
            max(1, args.repeats // 2),
        )
        rows.append((chunk, t))
    base = rows[0][1]
    print(f"population gradient, n={N}, 4 batches (a chunk never spans two batches)")
    for chunk, t in rows:
        print(f"  chunk {chunk:5d}: {N / t:10.0f} examples/s   speed-up vs chunk {rows[0][0]}: {base / t:.2f}x")


if __name__ == "__main__":
    main()
