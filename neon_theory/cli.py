"""Command-line interface: ``neon-theory demo|align|toys|plane|sweep|results|figures``.

Exit status: 0 on success; 2 for bad input (one line ``neon-theory: error: ...``, printed
before any work); 1 when some sweep job failed (the first error and its job are printed;
``--json`` reports ``failed``); 130 on Ctrl-C (one line saying how to resume); 141 when the
reader of the output goes away (``| head``), quietly.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shutil
import sys
import warnings
from pathlib import Path

import torch

from ._validation import check_real, check_writable_folder

PRECONDITIONERS = ("identity", "natural", "data-hessian", "star-hessian", "fisher-diag")


class CLIError(ValueError):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error format: one line ``neon-theory: error: ...``, status 2."""

    def error(self, message):
        self.exit(2, "neon-theory: error: " + " ".join(message.split()) + "\n")  # one line, whatever the tokens hold


def integer(lo: int, hi: int | None = None):
    """argparse type: an integer in [lo, hi]; an integral float such as ``1e5`` is accepted."""

    def parse(text: str) -> int:
        try:
            v = float(text)
            ok = math.isfinite(v) and v.is_integer()
        except ValueError:
            ok = False
        if ok:
            v = int(text) if text.strip().lstrip("+-").isdigit() else int(v)  # exact for long digit strings
            ok = v >= lo and (hi is None or v <= hi)
        if not ok:
            raise argparse.ArgumentTypeError(f"must be an integer in [{lo}, {'inf)' if hi is None else f'{hi}]'}; got {text!r}")
        return v

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


_seed = integer(0)

#: Requests estimated above these need --yes; above the machine's memory they are refused.
CONFIRM_SECONDS = 60.0
CONFIRM_BYTES = 2 * 2**30
CONFIRM_JOBS = 10_000


def _folder(option: str, path: str) -> Path:
    """Create the output folder now and prove it writable, so a bad path fails before any work."""
    try:
        return check_writable_folder(option, path)
    except ValueError as e:
        raise CLIError(str(e)) from None


def _table_path(option: str, path: str) -> Path:
    """A table file to write later (--out/--csv of sweep): its suffix, folder and name are checked now."""
    p = Path(path)
    if p.suffix not in (".parquet", ".csv"):
        raise CLIError(f"{option} must end in .parquet or .csv; got {path!r}")
    _folder(f"the folder of {option}", str(p.parent))
    probe = p.with_name(f".tmp-{os.getpid()}-{p.name}")  # the name the table is written under first
    try:
        if p.is_dir():
            raise CLIError(f"{option} must be a file path, not the folder {path!r}")
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise CLIError(f"{option} cannot be written as {path!r}: {e.strerror or e}") from None
    return p


def _memory_bytes() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def confirm_cost(what: str, seconds: float, nbytes: float, yes: bool, smaller: str) -> None:
    """Refuse a request estimated to exceed the machine's memory; ask for --yes above the limits."""
    cost = f"about {_duration(seconds)} and {nbytes / 2**30:.2g} GiB of memory"
    if nbytes > 0.8 * _memory_bytes():
        raise CLIError(f"{what} would need {cost}, more than this machine has ({_memory_bytes() / 2**30:.0f} GiB); use a smaller {smaller}")
    if (seconds > CONFIRM_SECONDS or nbytes > CONFIRM_BYTES) and not yes:
        raise CLIError(f"{what} would take {cost}; pass --yes to run it, or use a smaller {smaller}")


def _duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}{'s' if unit == 'day' and seconds >= 2 * size else ''}"
    return f"{seconds:.0f} s"


def parse_vector(text: str, option: str) -> torch.Tensor:
    """'0.1,-0.2' → tensor of shape (D,)."""
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise CLIError(f"{option} must be comma-separated numbers like '0,0.5'; got {text!r}") from None
    if not all(math.isfinite(v) for v in vals):
        raise CLIError(f"{option} must contain finite numbers; got {text!r}")
    return torch.tensor(vals, dtype=torch.float64)


def parse_matrix(text: str, option: str) -> torch.Tensor:
    """'2,1;1,2' → tensor of shape (D, D) (rows separated by ';')."""
    rows = [parse_vector(r, option) for r in text.split(";")]
    if len({r.shape[0] for r in rows}) != 1 or rows[0].shape[0] != len(rows):
        raise CLIError(f"{option} must be a square matrix written row by row like '2,1;1,2'; got {text!r}")
    return torch.stack(rows)


def parse_sampler(text: str):
    """'temperature=0.7' (density T) or 'std-temperature=0.8' (τ_σ)."""
    from .samplers import Temperature

    kinds = {"temperature": "density", "std-temperature": "std"}
    kind, _, value = text.partition("=")
    if kind not in kinds or not value:
        raise CLIError(f"--sampler must be one of {', '.join(k + '=VALUE' for k in kinds)}; got {text!r}")
    try:
        v = float(value)
    except ValueError:
        raise CLIError(f"--sampler value must be a number; got {value!r}") from None
    try:
        return Temperature(v, kinds[kind])
    except ValueError as e:
        raise CLIError(f"--sampler: {e}") from None


#: engine names of the Gaussian moments → the options that set them
_MOMENT_OPTIONS = {"data_mean": "--data-mean", "data_cov": "--data-cov", "model_mean": "--model-mean", "model_cov": "--model-cov"}


def _in_user_names(message: str) -> str:
    for name, option in _MOMENT_OPTIONS.items():
        message = message.replace(name, option)
    return message


def _build_gaussian(args):
    from toy_models.gaussian import GaussianModel, GaussianTarget

    try:
        return _gaussian_pair(args, GaussianModel, GaussianTarget)
    except CLIError:
        raise
    except ValueError as e:
        message = str(e)
        if args.model_cov is None:  # the model covariance is --model-scale × the data covariance
            message = message.replace("model_cov", "--model-scale × --data-cov (the model covariance)")
        raise CLIError(_in_user_names(message)) from None


def _gaussian_pair(args, GaussianModel, GaussianTarget):
    D = args.dim
    if args.data_cov is not None:
        data_cov = parse_matrix(args.data_cov, "--data-cov")
    else:
        data_cov = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64) if D == 2 else torch.eye(D, dtype=torch.float64)
    data_mean = parse_vector(args.data_mean, "--data-mean") if args.data_mean is not None else torch.zeros(D, dtype=torch.float64)
    for name, t in (("--data-cov", data_cov), ("--data-mean", data_mean)):
        if t.shape[0] != D:
            raise CLIError(f"{name} must have dimension --dim={D}; got {t.shape[0]}")
    target = GaussianTarget(data_mean, data_cov)
    c = check_real("--model-scale", args.model_scale, 0.0, math.inf, lo_open=True)  # checked even when unused
    model_cov = parse_matrix(args.model_cov, "--model-cov") if args.model_cov is not None else c * data_cov
    model_mean = parse_vector(args.model_mean, "--model-mean") if args.model_mean is not None else data_mean.clone()
    for name, t in (("--model-cov", model_cov), ("--model-mean", model_mean)):
        if t.shape[0] != D:
            raise CLIError(f"{name} must have dimension --dim={D}; got {t.shape[0]}")
    return target, GaussianModel(model_mean, model_cov)


def _preconditioner(name: str, oracle):
    from .preconditioners import Diagonal, exact_inverse, identity

    if name == "identity":
        return identity()
    if name == "natural":
        return exact_inverse(oracle.fisher_r, name="natural F(θ_r)^-1")
    if name == "data-hessian":
        return exact_inverse(oracle.H_hat, name="H_data(θ_r)^-1")
    if name == "star-hessian":
        return exact_inverse(oracle.H_d, name="H_d(θ*)^-1")
    return Diagonal(1.0 / torch.diagonal(oracle.fisher_r), "diag F(θ_r)^-1")


def cmd_align(args) -> dict:
    from toy_models.gaussian import alignment_cost, exact_quantities

    sampler = parse_sampler(args.sampler)
    alpha = check_real("--alpha", args.alpha, 0.0, math.inf, lo_open=True)
    if args.mc != 0 and args.mc < 2 * args.batches:
        raise CLIError(f"--mc must be 0 (exact) or at least 2*--batches={2 * args.batches}; got {args.mc}")
    seconds, nbytes = alignment_cost(args.dim, args.mc, args.batches if args.mc else 0)
    what = f"align --dim {args.dim} --mc {args.mc}" + (f" --batches {args.batches}" if args.mc else "")
    confirm_cost(what, seconds, nbytes, args.yes, "--dim, --mc or --batches")
    target, model = _build_gaussian(args)
    try:
        oracle = exact_quantities(target, model, sampler)
    except ValueError as e:
        raise CLIError(_in_user_names(str(e))) from None
    try:
        P = _preconditioner(args.preconditioner, oracle)
    except ValueError as e:
        raise CLIError(f"--preconditioner {args.preconditioner}: {e}") from None
    try:
        rep = _alignment_report(args, target, model, sampler, P, oracle, alpha)
    except ValueError as e:
        raise CLIError(f"cannot compute the alignment for these inputs: {_in_user_names(str(e))}") from None
    out = rep.to_dict()
    overflowed = sorted(_non_finite(out))
    if overflowed:  # each input in range, but together beyond float64: refuse rather than print NaN
        raise CLIError(
            f"the report overflows float64 for these inputs ({', '.join(overflowed[:4])} not finite); "
            "use means, covariances and a temperature closer to unit scale"
        )
    out["sampler"] = sampler.to_dict() | {"sharpening": sampler.sharpening().value}
    out["mode"] = "exact" if args.mc == 0 else f"monte-carlo n={args.mc}"
    if not args.json:
        _print_alignment(rep, out, sampler, alpha)
    return out


def _non_finite(d: dict, prefix: str = ""):
    """Names of the float entries of a (nested) report that are NaN or infinite."""
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _non_finite(v, f"{prefix}{k}.")
        elif isinstance(v, (list, tuple)):
            if any(isinstance(x, float) and not math.isfinite(x) for x in v):
                yield f"{prefix}{k}"
        elif isinstance(v, float) and not math.isfinite(v):
            yield f"{prefix}{k}"


def _alignment_report(args, target, model, sampler, P, oracle, alpha):
    from toy_models.gaussian import exact_alignment

    from .alignment import alignment, theory_quantities
    from .gradients import ModelLaw, paired_population_gradients
    from .rng import generator

    if args.mc == 0:
        rep = exact_alignment(target, model, sampler, P, alpha=alpha)
    else:
        est = paired_population_gradients(
            model,
            {"real": target, "synthetic": ModelLaw(model, sampler)},
            args.mc,
            generator=generator(args.seed, "align"),
            n_batches=args.batches,
        )
        th = theory_quantities(oracle.eps, oracle.H_d, oracle.b, oracle.Delta, P)
        rep = alignment(est["real"], est["synthetic"], P, alpha=alpha, hessian=oracle.H_hat, theory=th)
    return rep


def _print_alignment(rep, out, sampler, alpha) -> None:
    print(f"alignment on the Gaussian family ({out['mode']}), P = {rep.preconditioner}, sampler T = {sampler.density_power:g} ({out['sampler']['sharpening']})")
    print(f"  s        = {rep.s:+.6g}  ± {rep.s_se:.2g}   [{rep.verdict}]")
    print(f"  P-cosine = {rep.cosine:+.6g}  ± {rep.cosine_se:.2g}")
    print(f"  z        = {rep.z:.6g}")
    print(f"  w*       = {'undefined' if rep.w_star is None else f'{rep.w_star:+.6g}'}  (alpha = {alpha:g})")
    th = rep.theory
    print(f"  theory:  |eps|_H={th.eps_norm_H:.4g} eta0={th.eta0:.4g} eta1={th.eta1:.4g} m={th.m:.4g} M={th.M:.4g} cos(phi)={th.cos_phi:+.4g}")
    print(
        f"           Thm 1, first order (bounds s1 = {th.s_first_order:+.4g}, not s): bound (printed) = {th.bound_printed:+.4g}; "
        f"corrected = {th.bound_corrected_first_order:+.4g}; sufficient condition (first order): {th.sufficient_condition_first_order}"
    )
    for note in rep.notes:
        print(f"  note: {note}")


def cmd_demo(args) -> dict:
    import pandas as pd

    from toy_models.gaussian_demo import DemoConfig, metric_curves, run_demo

    from . import plots

    _folder("--out", args.out)
    cfg = DemoConfig(seed=args.seed)
    table = run_demo(cfg, progress=not args.json)
    ws = [i / 10 for i in range(-40, 61)]
    T_show = 0.7
    curves = metric_curves(cfg, T_show, ws)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    # the cosine is undefined at the neutral T = 1 (r_s = 0), so that point is left out
    plots.alignment_vs_sharpness(table[table["sampler"] != "neutral"], x="T", y="cosine", hue="base", ax=axes[0])
    axes[0].set_title("P-cosine vs density temperature (P = I)")
    at_T = table[table["T"] == T_show].set_index("base")
    marks = {b: {"predicted w*": at_T.loc[b, "w_star"], "best w": at_T.loc[b, "best_w"]} for b in at_T.index}
    plots.metric_vs_w(curves, metric="nll", hue="base", marks=marks, ax=axes[1])
    axes[1].set_title(f"population NLL of the Neon merge, T = {T_show}")
    ok = table.dropna(subset=["w_star"])
    for b, g in ok.groupby("base", sort=False):
        axes[2].scatter(g["w_star"], g["best_w"], label=b)
    lim = max(1.0, float(ok[["w_star", "best_w"]].abs().max().max()))
    axes[2].plot([-lim, lim], [-lim, lim], "k--", lw=0.8, label="best w = w*")
    axes[2].set_xlabel("predicted w* = -s/(alpha z)")
    axes[2].set_ylabel("best w (Brent, exact NLL)")
    axes[2].legend(fontsize=8)
    axes[2].set_title("first-order prediction vs empirical best w")
    written = plots.save(fig, Path(args.out) / "demo")
    if not args.json:
        with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:+.4g}".format):
            print(table.drop(columns=["base_nll", "z"]).to_string(index=False))
        print(f"alpha = lr x steps = {cfg.alpha:g}; |S| = {cfg.n_synthetic}; P = I (SGD); metric = exact population NLL")
        print("figure: " + ", ".join(map(str, written)))
    return {"config": cfg.to_dict(), "rows": table.to_dict(orient="records"), "figures": [str(p) for p in written]}


MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """'0-4' or '0,2,5' → list of at most :data:`MAX_SEEDS` seeds."""
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-"))
            count = hi - lo + 1
        else:
            seeds = [int(v) for v in text.split(",")]
            count = len(seeds)
    except ValueError:
        raise CLIError(f"--seeds must look like '0-4' or '0,2,5'; got {text!r}") from None
    if count > MAX_SEEDS:  # checked before a range is expanded into a list
        raise CLIError(f"--seeds must name between 1 and {MAX_SEEDS} seeds; {text!r} names {count}")
    if "-" in text:
        seeds = list(range(lo, hi + 1))
    if len(set(seeds)) < len(seeds):
        raise CLIError(f"--seeds must name distinct seeds (a repeat would count one run twice); got {text!r}")
    if not seeds or min(seeds) < 0:
        raise CLIError(f"--seeds must name at least one seed in [0, inf) ('lo-hi' with lo <= hi, or 'a,b,c'); got {text!r}")
    return seeds


def cached_tables(paths: dict, columns: dict, compute) -> tuple[dict, bool]:
    """Per-seed CSV cache: the tables at ``paths`` (name → Path), or ``compute()``'s, written atomically.

    Each CSV is written with a ``.sha256`` file of its bytes. A cached table whose checksum is
    missing or wrong (truncated, even at a line boundary; edited), that cannot be parsed or
    that lacks one of its ``columns`` is not trusted: all are recomputed.

    Returns:
        (tables, discarded): the tables, and whether a damaged cache was discarded.
    """
    import hashlib

    import pandas as pd

    def digest(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()

    sums = {t: p.with_name(p.name + ".sha256") for t, p in paths.items()}
    present = [p for p in [*paths.values(), *sums.values()] if p.exists()]
    if present:
        try:
            if len(present) < 2 * len(paths) or any(sums[t].read_text().strip() != digest(p) for t, p in paths.items()):
                raise ValueError("checksum")
            tables = {t: pd.read_csv(p) for t, p in paths.items()}
            if all(len(df) and set(columns[t]) <= set(df.columns) for t, df in tables.items()):
                return tables, False
        except (ValueError, OSError, UnicodeDecodeError):  # pandas' parser errors are ValueErrors
            pass
        for p in present:  # a folder in a table's place is discarded too
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
    tables = compute()
    for t, p in paths.items():
        tmp = p.with_name(f".tmp-{p.name}")
        tables[t].to_csv(tmp, index=False)
        sums[t].write_text(digest(tmp) + "\n")
        tmp.replace(p)  # atomic: a killed run never leaves a half-written table
    return tables, bool(present)


def _warn_discarded(count: int, option: str, folder) -> None:
    from .sweeps import CorruptRecordWarning

    if count:
        message = f"{count} corrupt or truncated cached seed table(s) in {option} {folder} were discarded and recomputed"
        warnings.warn(message, CorruptRecordWarning, stacklevel=2)


def cmd_toys(args) -> dict:
    """Run the official toys per seed, caching each seed's tables as CSV, then summarise."""
    import pandas as pd

    from toy_models import official

    seeds = parse_seeds(args.seeds)
    out = _folder("--out", args.out)
    _folder("--figures", args.figures)
    runners = {
        "diffusion": (official.DiffusionToyConfig.preset(args.preset), official.run_diffusion_toy, ["zeta", "ft_steps"], "zeta"),
        "ar": (official.ARToyConfig.preset(args.preset), official.run_ar_toy, ["tau", "ft_epochs"], "tau"),
    }
    which = list(runners) if args.which == "both" else [args.which]
    summary = {}
    for name in which:
        cfg, run, keys, sharp = runners[name]
        tables = {"best_w": [], "cosine": []}
        columns = {"best_w": [*keys, "best_w", "best_fd", "base_fd"], "cosine": [sharp, "cosine"]}
        discarded = 0
        for seed in seeds:
            paths = {t: out / f"{name}_{args.preset}_{t}_seed{seed}.csv" for t in tables}

            def compute(seed=seed, run=run, cfg=cfg):
                res = run(cfg, seed, progress=not args.json)
                return {"best_w": res.best_w, "cosine": res.cosine}

            cached, damaged = cached_tables(paths, columns, compute)
            discarded += damaged
            for t, df in cached.items():
                tables[t].append(df)
        _warn_discarded(discarded, "--out", out)
        best = pd.concat(tables["best_w"], ignore_index=True)
        cos = pd.concat(tables["cosine"], ignore_index=True)
        agg = lambda df, by, col: df.groupby(by)[col].agg(["mean", "sem", "count"]).reset_index()  # noqa: E731
        summary[name] = {
            "best_w": agg(best, keys, "best_w").to_dict(orient="records"),
            "best_log10_fd": agg(best.assign(l=lambda d: d.best_fd.apply(math.log10)), keys, "l").to_dict(orient="records"),
            "base_log10_fd": agg(best.assign(l=lambda d: d.base_fd.apply(math.log10)), keys, "l").to_dict(orient="records"),
            "cosine": agg(cos, [sharp], "cosine").to_dict(orient="records"),
            "published": {k: (str(v) if not isinstance(v, (int, float, str)) else v) for k, v in official.PUBLISHED[name].items()},
        }
        from . import plots

        band = cos.groupby(sharp).cosine.agg(["mean", "sem"]).reset_index().rename(columns={"mean": "cosine", "sem": "cosine_se"})
        band["toy"] = name
        ax = plots.alignment_vs_sharpness(band.fillna(0.0), x=sharp, y="cosine", hue="toy")
        ax.set_title(f"P-cosine vs {sharp}, {name} toy ({args.preset}, {len(seeds)} seeds, ±1.96 SE)")
        summary[name]["figures"] = [str(p) for p in plots.save(ax.figure, Path(args.figures) / f"official_{name}_{args.preset}_cosine")]
        if not args.json:
            print(f"== {name} toy, preset {args.preset}, seeds {seeds} (mean ± SE over seeds)")
            for r in summary[name]["best_w"]:
                print(f"  best w  {dict((k, r[k]) for k in keys)}: {r['mean']:+.3f} ± {r['sem']:.3f}  (n={r['count']})")
            for r in summary[name]["cosine"]:
                print(f"  cosine  {sharp}={r[sharp]:.3f}: {r['mean']:+.3f} ± {r['sem']:.3f}")
            print(f"  published: {official.PUBLISHED[name]}")
    return {"preset": args.preset, "seeds": seeds, "summary": summary}


def cmd_plane(args) -> dict:
    """Paper Fig. 2 on the AR toy over seeds: cached per-seed grids, a heat map, and the comparison."""
    import pandas as pd

    from toy_models import official

    from . import plots

    seeds = parse_seeds(args.seeds)
    out = _folder("--out", args.out)
    _folder("--figures", args.figures)
    cfg = official.PlaneConfig.preset(args.preset)
    frames, discarded = [], 0
    for seed in seeds:
        paths = {"plane": out / f"plane_{args.preset}_seed{seed}.csv"}

        def compute(seed=seed):
            return {"plane": official.run_plane(cfg, seed, progress=not args.json)}

        cached, damaged = cached_tables(paths, {"plane": ["w_s", "w_o", "log10_w2"]}, compute)
        frames.append(cached["plane"])
        discarded += damaged
    _warn_discarded(discarded, "--out", out)
    grid = pd.concat(frames, ignore_index=True)
    per_seed = [official.plane_summary(f) for f in frames]
    summary = official.plane_summary(grid)
    ax = plots.plane_heatmap(grid, title=f"log10 W2 to the truth, AR toy, tau={cfg.tau}, {len(seeds)} seed(s)")
    written = plots.save(ax.figure, Path(args.figures) / f"fig2_plane_{args.preset}")
    if not args.json:
        print(f"Fig. 2 plane ({args.preset}, seeds {seeds}), mean log10 W2 over seeds:")
        print(f"  base {summary['base']:+.3f}; best on the Neon axis {summary['neon_axis_best']:+.3f} at w_s={summary['neon_axis_best_w_s']:g}; "
              f"best on the real-data axis {summary['real_axis_best']:+.3f} at w_o={summary['real_axis_best_w_o']:g}")
        n_match = sum(s["neon_matches_real"] for s in per_seed)
        print(f"  the Neon direction matches the 4x-real-data direction in {n_match}/{len(seeds)} seeds")
        print("figure: " + ", ".join(map(str, written)))
    return {"summary": summary, "per_seed": per_seed, "figures": [str(p) for p in written]}


def _executor(args):
    """The executor, started now: a missing srun/sbatch or an unreachable Ray cluster fails before any job."""
    from .sweeps import make_executor

    options, option = {}, "--executor"
    if args.executor == "ray":
        options["address"] = args.ray_address
        option = "--executor ray" + (f" --ray-address {args.ray_address}" if args.ray_address else "")
    elif args.executor == "slurm":
        _folder("--slurm-folder", args.slurm_folder)
        options.update(folder=args.slurm_folder, cluster=args.slurm_cluster)
        option = f"--executor slurm --slurm-cluster {args.slurm_cluster}"
        if args.slurm_partition:
            options["slurm_partition"] = args.slurm_partition
    try:
        return make_executor(args.executor, args.workers, **options)
    except ValueError as e:
        raise CLIError(f"{option}: {e}") from None


def _store(args):
    from .sweeps import ResultStore

    _folder("--store", args.store)
    return ResultStore(args.store)


def cmd_sweep(args) -> dict:
    """Run a sweep file with the chosen executor; records are cached in --store, the table written to --out."""
    import importlib

    from .config import from_yaml
    from .sweeps import SweepSpec, failure_summary, run_sweep, save_table

    importlib.import_module("toy_models.experiments")  # registers the toy experiments
    path = Path(args.file)
    if not path.exists():
        raise CLIError(f"sweep file {str(path)!r} does not exist")
    if not path.is_file():
        raise CLIError(f"sweep file {str(path)!r} is not a regular file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise CLIError(f"sweep file {str(path)!r} cannot be read as text: {getattr(e, 'strerror', None) or e}") from None
    try:
        spec = from_yaml(SweepSpec, text)
    except ValueError as e:
        raise CLIError(f"sweep file {str(path)!r}: {e}") from None
    if spec.n_jobs > CONFIRM_JOBS and not args.yes:  # counted before the grid is expanded
        raise CLIError(f"sweep file {str(path)!r} expands to {spec.n_jobs:,} jobs; pass --yes to run more than {CONFIRM_JOBS:,}, or shrink the grid")
    jobs = spec.validate()  # every job's config is built (and rejected, naming the field) before any work
    # every output and the executor are checked before the first job runs
    store = _store(args)
    _table_path("--out", args.out)
    if args.csv is not None:
        _table_path("--csv", args.csv)
    executor = _executor(args)
    try:
        df = run_sweep(spec, store, executor=executor, progress=not args.json)
    finally:
        executor.close()
    written = save_table(df, args.out, csv=args.csv)
    n_ok = int((df.status == "ok").sum())
    if not args.json:
        print(f"{len(jobs)} jobs: {n_ok} ok, {len(df) - n_ok} failed -> " + ", ".join(map(str, written)))
    return {"records": len(df), "ok": n_ok, "failed": len(df) - n_ok, "first_error": failure_summary(df), "tables": [str(p) for p in written]}


def cmd_results(args) -> dict:
    """Summarise a sweep table (parquet or CSV): mean ± SE over seeds of every numeric result, per setting."""
    import pandas as pd

    from .sweeps import load_table

    df = load_table(args.file)
    missing = sorted({"seed", "status"} - set(df.columns))
    if missing:
        raise CLIError(f"results file {args.file!r} must be a sweep table with 'seed' and 'status' columns; missing {missing}")
    ok = df[df.status == "ok"]
    hashable = [c for c in df.columns if c not in ("seed", "status", "error") and not c.startswith("result.")]
    params = [c for c in hashable if ok[c].map(lambda v: isinstance(v, (str, int, float, bool)) or v is None).all() and ok[c].nunique(dropna=False) > 1]
    values = [c for c in ok.select_dtypes("number").columns if c.startswith("result.")]
    if not values:
        raise CLIError(f"results file {args.file!r} has no numeric results to summarise ({len(ok)} of {len(df)} record(s) ok)")
    summary = ok.groupby(params)[values].agg(["mean", "sem"]) if params else ok[values].agg(["mean", "sem"])
    flags = [c for c in ok.columns if c.startswith("result.") and ok[c].dtype == bool]  # e.g. result.degenerate
    if flags and params:  # a flag is counted, not averaged: how many seeds raised it
        counts = ok.groupby(params)[flags].sum()
        counts.columns = pd.MultiIndex.from_tuples([(c, "n_true") for c in flags])
        summary = summary.join(counts)
    elif flags:
        summary = pd.concat([summary, pd.DataFrame([ok[flags].sum()], index=["n_true"])])
    if not args.json:
        with pd.option_context("display.width", 160, "display.max_columns", 30):
            print(summary.round(4).to_string())
        if len(ok) < len(df):
            print(f"{len(df) - len(ok)} failed record(s) left out")
    return {"summary": json.loads(summary.to_json())}


def cmd_figures(args) -> dict:
    """Run (or load from the cache) the sweeps of one or every figure and draw it."""
    from toy_models.figures import FIGURES, figure_specs, make_figure

    names = list(FIGURES) if args.name == "all" else [args.name]
    if args.name != "all" and args.name not in FIGURES:
        raise CLIError(f"figure must be 'all' or one of {list(FIGURES)}; got {args.name!r}")
    for name in names:  # reject any bad sweep before any work
        for spec in figure_specs(name, args.preset).values():
            spec.validate()
    store = _store(args)
    _folder("--out", args.out)
    executor = _executor(args)
    out = {}
    try:
        for name in names:
            result = make_figure(name, args.preset, store=store, out=args.out, executor=executor, progress=not args.json)
            out[name] = [str(p) for p in result["paths"]]
            if not args.json:
                print(f"{name}: {FIGURES[name].description} -> {out[name][0]}")
    finally:
        executor.close()
    return {"figures": out}


def _add_executor_options(p) -> None:
    from .sweeps import EXECUTORS

    p.add_argument("--executor", choices=EXECUTORS, default="local", help="local process pool, Ray, or SLURM via submitit")
    p.add_argument("--workers", type=integer(1, 1024), default=1, help="parallel jobs (local pool size, Ray CPUs, SLURM array parallelism)")
    p.add_argument("--store", default="results/store", help="folder of cached per-job records (resumable)")
    p.add_argument("--ray-address", default=None, help="a running Ray cluster (e.g. 'auto'); default: start a local one")
    p.add_argument("--slurm-folder", default="results/submitit", help="submitit's log and pickle folder")
    p.add_argument("--slurm-cluster", choices=("slurm", "local"), default="slurm", help="'local' runs the submitit path without SLURM")
    p.add_argument("--slurm-partition", default=None)


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: `toys --seed 1` must not silently mean `--seeds 1`
    p = _Parser(prog="neon-theory", description=__doc__, allow_abbrev=False)
    sub = p.add_subparsers(dest="command", required=True, parser_class=functools.partial(_Parser, allow_abbrev=False))
    d = sub.add_parser("demo", help="the Neon loop on the exact Gaussian family: table + figure")
    d.add_argument("--seed", type=_seed, default=0)
    d.add_argument("--out", default="results/demo", help="folder for the figure (default: results/demo, outside the tracked tree)")
    d.add_argument("--json", action="store_true", help="print JSON instead of a table")
    d.set_defaults(func=cmd_demo)
    a = sub.add_parser("align", help="alignment report for a Gaussian data law, model and temperature sampler")
    a.add_argument("--dim", type=integer(1), default=2, help="dimension D; the report costs ~p^1.5 with p = 2D + D(D-1)/2")
    a.add_argument("--data-mean", default=None, help="e.g. '0,0' (default zeros)")
    a.add_argument("--data-cov", default=None, help="rows separated by ';', e.g. '2,1;1,2' (default: that for D=2, else I)")
    a.add_argument("--model-mean", default=None, help="default: the data mean")
    a.add_argument("--model-cov", default=None, help="default: --model-scale x data cov")
    a.add_argument("--model-scale", type=float, default=0.8)
    a.add_argument("--sampler", default="temperature=0.7", help="temperature=T (density) or std-temperature=TAU")
    a.add_argument("--preconditioner", choices=PRECONDITIONERS, default="identity")
    a.add_argument("--alpha", type=float, default=0.1, help="effective step lr x steps, for w*")
    a.add_argument("--mc", type=integer(0), default=0, help="Monte Carlo sample size (0 = exact; 1e5 is accepted)")
    a.add_argument("--batches", type=integer(2), default=32, help="batches for standard errors (with --mc)")
    a.add_argument("--yes", action="store_true", help="run a request estimated to take over a minute or 2 GiB")
    a.add_argument("--seed", type=_seed, default=0)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_align)
    t = sub.add_parser("toys", help="reproduce the official diffusion and AR toys over seeds")
    t.add_argument("--preset", choices=("smoke", "reduced", "paper"), default="smoke")
    t.add_argument("--which", choices=("diffusion", "ar", "both"), default="both")
    t.add_argument("--seeds", default="0-4", help="e.g. '0-4' or '0,3'")
    t.add_argument("--out", default="results/official", help="folder for per-seed CSV tables (reused if present)")
    t.add_argument("--figures", default="figures")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_toys)
    pl = sub.add_parser("plane", help="paper Fig. 2: the Neon direction vs a 4x-more-real-data direction (AR toy)")
    pl.add_argument("--preset", choices=("smoke", "reduced", "paper"), default="smoke")
    pl.add_argument("--seeds", default="0-4")
    pl.add_argument("--out", default="results/plane", help="folder for per-seed CSV grids (reused if present)")
    pl.add_argument("--figures", default="figures")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_plane)
    sw = sub.add_parser("sweep", help="run a sweep file (YAML), resumably, with a local, Ray or SLURM executor")
    sw.add_argument("file")
    _add_executor_options(sw)
    sw.add_argument("--out", default="results/sweep.parquet", help="table of every record (.parquet or .csv)")
    sw.add_argument("--csv", default=None, help="also export the table as this CSV file")
    sw.add_argument("--yes", action="store_true", help="run a sweep of more than 10,000 jobs")
    sw.add_argument("--json", action="store_true")
    sw.set_defaults(func=cmd_sweep)
    rs = sub.add_parser("results", help="summarise a sweep table (parquet or CSV): mean ± SE over seeds")
    rs.add_argument("file")
    rs.add_argument("--json", action="store_true")
    rs.set_defaults(func=cmd_results)
    fg = sub.add_parser("figures", help="run the sweeps of a figure (or 'all') and draw it to --out")
    fg.add_argument("name", help="a figure name or 'all'")
    fg.add_argument("--preset", choices=("smoke", "paper"), default="smoke")
    fg.add_argument("--out", default="figures")
    _add_executor_options(fg)
    fg.add_argument("--json", action="store_true")
    fg.set_defaults(func=cmd_figures)
    return p


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse has printed the help or its one-line error
        return e.code if isinstance(e.code, int) else 2
    # Warnings are held and printed as one line each once the command has run, so that bad
    # input still prints exactly one line (the error) and nothing else.
    held: list[str] = []
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *rest, **kw: held.append(str(message))
        code = _run(args, held)
    return code


def _run(args, held: list) -> int:
    from .sweeps import SweepFailed

    try:
        result = args.func(args)
        if args.json:
            print(json.dumps(_jsonable(result), indent=2, allow_nan=False))
        _flush_warnings(held)
        if result.get("failed"):  # some sweep job failed: visible to pipelines
            _error(result["first_error"])
            return 1
        return 0
    except ValueError as e:  # includes CLIError and every validation error of the engine
        _error(e)
        return 2
    except SweepFailed as e:
        _flush_warnings(held)
        _error(e)
        return 1
    except KeyboardInterrupt:
        _error(f"interrupted; {_resume_hint(args)}", "")
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
        _silence_stdout()
        return 141
    except Exception as e:  # a bug or the system (disk full, ...): one line, not a traceback
        if _interrupted(e):  # Ctrl-C inside an import arrives wrapped, e.g. in a RuntimeError
            _error(f"interrupted; {_resume_hint(args)}", "")
            return 130
        if os.environ.get("NEON_THEORY_TRACEBACK"):
            raise
        _error(f"unexpected {type(e).__name__}: {e} (set NEON_THEORY_TRACEBACK=1 to see where; please report it)")
        return 1


def _flush_warnings(held: list) -> None:
    for message in dict.fromkeys(held):  # each distinct warning once
        _error(message, "warning: ")
    held.clear()


def _interrupted(e: BaseException) -> bool:
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def _error(message, kind: str = "error: ") -> None:
    text = " ".join(str(message).split())  # always one line
    print(f"neon-theory: {kind}{text}", file=sys.stderr)


def _resume_hint(args) -> str:
    if args.command in ("sweep", "figures"):
        return f"finished jobs are kept in --store {args.store}; run the same command again to resume"
    if args.command in ("toys", "plane"):
        return f"finished seeds are kept in --out {args.out}; run the same command again to resume"
    return "nothing was saved; run the command again"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's exit-time flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. captured in tests)
        pass


def _jsonable(o):
    """Strict JSON: NaN/inf become null, tuples lists, tensors and numpy scalars numbers."""
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if hasattr(o, "item") and getattr(o, "ndim", 0) == 0:
        o = o.item()
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if o is None or isinstance(o, (bool, int, str)):
        return o
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
