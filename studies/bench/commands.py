"""``neon-theory bench``: the toolkit's estimators against the official one, side by side (ratios)."""

from __future__ import annotations

from neon_theory.run.cli import integer, output_folder, register_command


def _bench_options(p) -> None:
    p.add_argument("--out", default="results/bench", help="folder for bench.json and bench.md (default: results/bench)")
    p.add_argument("--bases", type=integer(1, 16), default=None, help="base models per toy (default: the preset's; paper 4)")
    p.add_argument("--repeats", type=integer(4, 1000), default=None, help="estimates per estimator and base (default: the preset's; paper 12)")
    p.add_argument("--threads", type=integer(1), default=1, help="torch threads (default 1)")
    p.add_argument(
        "--toys", action="store_true",
        help="also time the full official toys at the paper preset (the preset's toy seeds: 5, or 1 at smoke) "
        "and their smoke catalogue with 1 vs 2 workers (minutes)",
    )
    p.add_argument("--device", default="cpu", help="where the scaling rows also run: cpu, cuda or cuda:N (default cpu; ratios are always CPU)")


def cmd_bench(args) -> dict:
    """Run the bench at --preset and write bench.json and bench.md to --out."""
    from dataclasses import replace

    from .bench import BenchConfig, markdown, run_bench, write

    folder = output_folder("--out", args.out)
    cfg = BenchConfig.preset(args.preset)
    changes = {k: v for k, v in (("bases", args.bases), ("repeats", args.repeats)) if v is not None}
    from neon_theory.device import resolve_device

    cfg = replace(cfg, threads=args.threads, toys=args.toys, device=str(resolve_device(args.device)), **changes)
    report = run_bench(cfg, progress=None if args.json else (lambda line: print(line, flush=True)))
    paths = write(report, folder)
    if not args.json:
        print(markdown(report))
        print("written: " + ", ".join(str(p) for p in paths))
    return report


register_command(
    "bench", "the toolkit's estimators against the official one: efficiency, gradient pass and memory ratios", _bench_options, cmd_bench, presets=True,
)

