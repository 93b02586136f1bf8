"""The catalogue's commands, registered with the CLI (the ``neon_theory.commands`` entry point).

* ``toys`` and ``plane``: thin aliases of ``figures official-diffusion official-ar`` and
  ``figures plane`` over the one result store, with a summary printed next to the
  published values.

Heavy modules (torch, the toys) are imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import math

from neon_theory.run.cli import (
    DEGENERATE_COSINE,
    add_device_option,
    add_executor_options,
    register_command,
    run_figures,
)

#: the demo's columns that measure only the noise of a finite S at the neutral sampler (T = 1), where
#: s, the cosine and w* are already None (:func:`~neon_theory.samplers.undefined_at_neutral`)


def _mean_sem(df, by: list, col: str) -> list[dict]:
    """Per setting: mean, SE, n and the 95% t-interval over seeds (the convention of every table); where
    the records say why the value is missing (a neutral sampler), ``undefined`` says it too."""
    from neon_theory.run.summary import t_interval, undefined_reason

    rows = []
    for key, g in df.groupby(by):
        mean, se, lo, hi = t_interval(g[col])
        rows.append(dict(zip(by, key if isinstance(key, tuple) else (key,))) | {"mean": mean, "sem": se, "count": int(g[col].notna().sum()),
                                                                               "ci_low": lo, "ci_high": hi, "undefined": undefined_reason(g, col)})
    return rows


def _log10(v: float) -> float:
    return math.log10(v) if v > 0 else -math.inf  # an FD of exactly 0 is a perfect fit, not an error


def toy_summary(frames: dict, toy: str) -> dict:
    """Mean ± SE over seeds of the best w, log10 FD and P-cosine of one official toy's figure frames."""
    from .. import official

    sharp, budget = official.TOY_AXES[toy]
    best = frames["best_w"][frames["best_w"].status == "ok"].assign(
        log10_best_fd=lambda d: d["result.best_fd"].astype(float).map(_log10),
        log10_base_fd=lambda d: d["result.base_fd"].astype(float).map(_log10),
    )
    cos = frames["cosine"][frames["cosine"].status == "ok"]
    return {
        "best_w": _mean_sem(best, [sharp, budget], "result.best_w"),
        "best_log10_fd": _mean_sem(best, [sharp, budget], "log10_best_fd"),
        "base_log10_fd": _mean_sem(best, [sharp], "log10_base_fd"),
        "cosine": [r | {"degenerate": _count_flag(cos, sharp, r[sharp])} for r in _mean_sem(cos, [sharp], "result.cosine")],
        "published": published_records(toy),
    }


def _count_flag(df, column: str, value) -> int:
    """How many records at ``column`` = ``value`` carry the degenerate-cosine flag."""
    return int(df.loc[df[column] == value, "result.degenerate"].fillna(False).astype(bool).sum()) if "result.degenerate" in df else 0


def published_records(toy: str) -> dict:
    """The paper's values for one official toy as plain data: each table a list of records keyed by the
    toy's own axes (e.g. ``{"zeta": 1.1, "ft_steps": 50, "best_w": 1.2}``); a number or a sentence as it is."""
    from .. import official

    sharp, budget = official.TOY_AXES[toy]
    out = {}
    for name, value in official.PUBLISHED[toy].items():
        if isinstance(value, dict):
            keys = lambda k: dict(zip((sharp, budget), k)) if isinstance(k, tuple) else {sharp: k}  # noqa: E731
            out[name] = [keys(k) | {name: v} for k, v in value.items()]
        else:
            out[name] = value
    return out


def cmd_toys(args) -> dict:
    """``figures official-diffusion official-ar`` with the seeds given, and a summary next to the published values."""
    which = ["diffusion", "ar"] if args.which == "both" else [args.which]
    drawn = run_figures(args, [f"official-{t}" for t in which], seeds=args.seeds)
    summary = {}
    for toy in which:
        result = drawn[f"official-{toy}"]
        summary[toy] = toy_summary(result["frames"], toy) | {"figures": [str(p) for p in result["paths"]]}
        if not args.json:
            _print_toy(toy, args.preset, sorted(result["frames"]["best_w"].seed.unique().tolist()), summary[toy])
    return {"preset": args.preset, "seeds": args.seeds, "summary": summary}


def _print_toy(toy: str, preset: str, seeds: list, summary: dict) -> None:
    from ..official import TOY_AXES

    sharp, budget = TOY_AXES[toy]
    published = {(r[sharp], r[budget]): r["best_w"] for r in summary["published"]["best_w"]}
    print(f"== {toy} toy, preset {preset}, {len(seeds)} seeds {seeds} (mean ± SE over seeds)")
    print(f"  {'best w at':<28} {'measured':>18} {'published':>10}")
    for r in summary["best_w"]:
        at = f"{sharp} = {r[sharp]:g}, {budget} = {r[budget]:g}"
        paper = published.get((r[sharp], r[budget]))
        ci = "" if r["count"] < 2 else f"  95% CI [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
        print(f"  {at:<28} {r['mean']:+9.3f} ± {r['sem']:.3f} {'' if paper is None else f'{paper:+.3f}':>10}  (n = {r['count']}){ci}")
    for r in summary["cosine"]:
        value = r["undefined"] or f"{r['mean']:+.3f} ± {r['sem']:.3f}"
        print(f"  P-cosine at {sharp} = {r[sharp]:.3f}: {value}" + (f"  (degenerate in {r['degenerate']} of {r['count']} seeds)" if r["degenerate"] else ""))
    if any(r["degenerate"] for r in summary["cosine"]):
        print(f"  degenerate: {DEGENERATE_COSINE}")
    for name, value in summary["published"].items():
        if not isinstance(value, list):
            print(f"  published {name}: {value}")
    print("  figure: " + ", ".join(summary["figures"]))


def cmd_plane(args) -> dict:
    """``figures plane`` with the seeds given, and the comparison of the two directions."""
    import pandas as pd

    from ..plane.toy import plane_summary

    result = run_figures(args, ["plane"], seeds=args.seeds)["plane"]
    ok = result["frames"]["plane"]
    ok = ok[ok.status == "ok"]
    frames = [pd.DataFrame({"w_s": r["result.w_s"], "w_o": r["result.w_o"], "log10_w2": r["result.log10_w2"]}) for _, r in ok.iterrows()]
    per_seed = [plane_summary(f) for f in frames]
    summary = plane_summary(pd.concat(frames, ignore_index=True))
    written = [str(p) for p in result["paths"]]
    if not args.json:
        print(f"Fig. 2 plane ({args.preset}, {len(frames)} seed(s)), mean log10 W2 over seeds:")
        print(f"  base {summary['base']:+.3f}; best on the Neon axis {summary['neon_axis_best']:+.3f} at w_s={summary['neon_axis_best_w_s']:g}; "
              f"best on the real-data axis {summary['real_axis_best']:+.3f} at w_o={summary['real_axis_best_w_o']:g}")
        n_match = sum(s["neon_matches_real"] for s in per_seed)
        print(f"  the Neon direction matches the 4x-real-data direction in {n_match}/{len(frames)} seeds")
        print("figure: " + ", ".join(written))
    return {"summary": summary, "per_seed": per_seed, "figures": written}


def _toys_options(t) -> None:
    t.add_argument("--which", choices=("diffusion", "ar", "both"), default="both", help="which official toy (default both)")
    _alias_options(t)


def _alias_options(p) -> None:
    p.add_argument("--seeds", default=None, help="e.g. '0-4' or '0,3' (default: the preset's seeds, 0-1 for smoke and 0-4 for paper)")
    p.add_argument("--out", default="figures", help="folder for the figure (default: figures)")
    add_executor_options(p)
    add_device_option(p)


register_command("toys", "the official diffusion and AR toys over seeds (= figures official-diffusion official-ar)", _toys_options, cmd_toys, presets=True)
register_command("plane", "paper Fig. 2: the Neon direction vs a 4x-more-real-data direction (= figures plane)", _alias_options, cmd_plane, presets=True)
