"""Self-training K official-AR-toy models one at a time vs as one (`self_train_many`), side by side.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/batched_self_train.py --models 10 --steps 100

Prints the wall time of each path, their ratio, and the largest difference of the trained parameters.
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=10, help="K models (default 10)")
    ap.add_argument("--steps", type=int, default=100, help="Adam steps (default 100)")
    ap.add_argument("--rows", type=int, default=8192, help="|S| per model (default 8192)")
    ap.add_argument("--batch", type=int, default=2048, help="minibatch (default 2048, the toy's)")
    args = ap.parse_args(argv)
    if min(args.models, args.steps, args.rows, args.batch) < 1 or args.batch > args.rows:
        ap.error("--models, --steps, --rows and --batch must be positive, and --batch at most --rows")

    from neon_theory.batched import self_train_many
    from neon_theory.neon import FineTuning, self_train
    from neon_theory.rng import generator
    from neon_theory.samplers import Temperature
    from studies.official_ar.toy import ARToyConfig, ar_base

    cfg = ARToyConfig()
    models = [ar_base(cfg, seed) for seed in range(args.models)]
    data = [m.sample(args.rows, Temperature(0.5, "std"), generator(seed, "S")) for seed, m in enumerate(models)]
    ft = FineTuning(args.steps, cfg.ft_lr, "adam", args.batch)
    start = time.perf_counter()
    alone = [self_train(m, d, steps=ft.steps, lr=ft.lr, batch_size=ft.batch_size, generator=generator(seed, "ft"))
             for seed, (m, d) in enumerate(zip(models, data))]
    t_alone = time.perf_counter() - start
    start = time.perf_counter()
    together = self_train_many(models, data, fine_tuning=ft, generators=[generator(seed, "ft") for seed in range(args.models)])
    t_together = time.perf_counter() - start
    diff = max(float((a.state_dict[k] - b.state_dict[k]).abs().max()) for a, b in zip(alone, together) for k in a.state_dict)
    print(json.dumps({"models": args.models, "steps": args.steps, "rows": args.rows, "batch": args.batch,
                      "one_at_a_time_s": round(t_alone, 3), "as_one_s": round(t_together, 3),
                      "speed_up": round(t_alone / t_together, 3), "max_abs_difference": diff}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
