"""The run layer's own commands: ``sweep``, ``results``, ``figures`` and ``list``, with their options.

Each command checks all its input first (the sweep file, every job, the device, the outputs, the
executor) and only then works; what it checked travels down as a
:class:`~neon_theory.run.plan.Plan`, so nothing is validated or resolved twice.  The engine
(torch, pandas) is imported inside the commands: ``--help`` imports this module.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import textwrap
from pathlib import Path

from .kit import (
    COMMANDS,
    CONFIRM_JOBS,
    DEGENERATE_COSINE,
    CLIError,
    add_device_option,
    add_executor_options,
    device_of,
    output_folder,
    parse_seeds,
    register_command,
    show_progress,
)
from .text import WIDTH, duration, first_line, fit_text, markdown, plain_text, short, wrap

# -- sweep ---------------------------------------------------------------------------------------


def _sweep_options(sw) -> None:
    sw.add_argument("file", help="a sweep file (YAML): experiment, grid, seeds, fixed, threads, module, device")
    add_executor_options(sw)
    sw.add_argument(
        "--out", default="results",
        help="output folder: the table of every record is <out>/<sweep file name>.parquet; a path ending in .parquet or .csv names the table itself "
        "(default results)",
    )
    sw.add_argument("--csv", default=None, help="also export the table as this CSV file (default: none)")
    sw.add_argument("--yes", action="store_true", help="run a sweep of more than 10,000 jobs")
    sw.add_argument("--dry-run", action="store_true", help="print the job count, how many are cached and an estimate of the time; run nothing")
    sw.add_argument(
        "--device", default="auto",
        help="where the jobs run: cpu, cuda, cuda:N, mps or auto (default auto: the sweep file's device if it names one, else CUDA if present, else CPU)",
    )


def cmd_sweep(args) -> dict:
    """Run a sweep file with the chosen executor; records are cached in --store, the table written to --out."""
    from .sweeps import failure_summary, plan_sweep, run_sweep, save_table

    plan = _read_sweep(args)
    store = _store(args, read_only=args.dry_run)  # a dry run creates nothing, not even the store's folder
    if args.dry_run:
        return _dry_run(args, plan.spec, plan_sweep(plan, store))
    # every output and the executor are checked before the first job runs
    table = sweep_table(args.out, args.file)
    _table_path("--out", str(table))
    if args.csv is not None:
        _table_path("--csv", args.csv)
    executor = _executor(args, plan.spec.slurm)
    try:
        df = run_sweep(plan, store, executor=executor, progress=show_progress(args), on_record=_job_line if args.verbose else None)
    finally:
        executor.close()
    written = save_table(df, table, csv=args.csv)
    n_ok = int((df.status == "ok").sum())
    counts = {"records": len(df), "cached": df.attrs["cached"], "ran": df.attrs["ran"], "ok": n_ok, "failed": len(df) - n_ok}
    if not args.json:
        print(
            f"{len(df)} jobs: {counts['cached']} from the cache, {counts['ran']} ran; {n_ok} ok, {counts['failed']} failed -> "
            + ", ".join(map(str, written))
        )
        if df.attrs["log"] and not args.quiet:
            print(f"log: {df.attrs['log']}")
    return counts | {"first_error": failure_summary(df), "tables": [str(p) for p in written], "log": df.attrs["log"]}


def _read_sweep(args):
    """The sweep file of ``sweep`` and ``sweep --dry-run``, read, parsed and planned: every job validated
    and the device resolved, once (no work).  Returns its :class:`~neon_theory.run.plan.Plan`."""
    from . import plugins
    from .config import from_yaml, safe_load
    from .sweeps import SweepSpec

    plugins.load("neon_theory.experiments")  # the installed packages register their experiments
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
    # a device the file names stands unless --device names another; it is then resolved with the jobs
    device = device_of(args) if args.device != "auto" or "device" not in safe_load(text) else None
    if spec.n_jobs > CONFIRM_JOBS and not args.yes and not args.dry_run:  # counted before the grid is expanded
        raise CLIError(f"sweep file {str(path)!r} expands to {spec.n_jobs:,} jobs; pass --yes to run more than {CONFIRM_JOBS:,}, or shrink the grid")
    return spec.plan(device)  # every job's config is built (and rejected, naming the field) before any work


def _store(args, read_only: bool = False):
    """The result store of ``--store``: created and proved writable, or with ``read_only`` (``--dry-run``) only looked at."""
    from .sweeps import ResultStore

    if read_only:
        try:
            return ResultStore(args.store, read_only=True)
        except ValueError as e:
            raise CLIError(str(e).replace("store", "--store", 1)) from None
    output_folder("--store", args.store)
    return ResultStore(args.store)


def sweep_table(out: str, sweep_file: str) -> Path:
    """Where ``sweep`` writes its table: ``<out>/<sweep file's stem>.parquet`` for the output folder
    ``out`` (as every command's ``--out`` is a folder), or ``out`` itself when it names a .parquet or .csv file."""
    out = Path(out)
    return out if out.suffix.lower() in (".parquet", ".csv") else out / f"{Path(sweep_file).stem}.parquet"


def _table_path(option: str, path: str) -> Path:
    """A table file to write later (--out/--csv of sweep): its suffix, folder and name are checked now."""
    p = Path(path)
    if p.suffix not in (".parquet", ".csv"):
        raise CLIError(f"{option} must end in .parquet or .csv; got {path!r}")
    output_folder(f"the folder of {option}", str(p.parent))
    probe = p.with_name(f".tmp-{os.getpid()}-{p.name}")  # the name the table is written under first
    try:
        if p.is_dir():
            raise CLIError(f"{option} must be a file path, not the folder {path!r}")
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise CLIError(f"{option} cannot be written as {path!r}: {e.strerror or e}") from None
    return p


def _dry_run(args, spec, plan) -> dict:
    """What ``sweep`` would do: jobs, cached, to run, and the time they would take (nothing runs)."""
    estimate = plan.estimate_seconds(args.workers)
    out = {
        "dry_run": True,
        "experiment": spec.experiment,
        "jobs": plan.jobs,
        "cached": plan.cached,
        "failed_before": plan.failed,
        "to_run": plan.todo,
        "workers": args.workers,
        "seconds_per_job": plan.seconds_per_job,
        "estimate_seconds": estimate,
        "estimate_basis": plan.basis,
        "grid": {k: list(v) for k, v in spec.grid.items()},
        "seeds": list(spec.seeds),
    }
    if not args.json:
        grid = " × ".join(f"{k} ({len(v)})" for k, v in spec.grid.items()) or "no grid"
        print(f"sweep {spec.experiment}: {grid} × {len(spec.seeds)} seed(s) = {plan.jobs} jobs")
        print(f"  {plan.cached} from the cache in {args.store}, {plan.todo} to run" + (f" ({plan.failed} of them failed before)" if plan.failed else ""))
        when = "nothing to run" if plan.todo == 0 else "unknown" if estimate is None else f"{duration(estimate)} on {args.workers} worker(s)"
        print(f"  time: {when}" + ("" if plan.todo == 0 else f" ({plan.basis})"))
        print("  nothing was run (--dry-run)")
    return out


def _job_line(record: dict) -> None:
    """``--verbose``: one line per finished job on stderr."""
    from .sweeps import job_line

    print(job_line(record), file=sys.stderr)


# -- executors -----------------------------------------------------------------------------------


def _executor(args, slurm: dict | None = None):
    """The executor, started now: a missing srun/sbatch or an unreachable Ray cluster fails before any job.

    ``slurm`` holds submitit parameters from a sweep file; the ``--slurm-*`` options override them.
    """
    from .sweeps import make_executor

    options, option = {}, "--executor"
    if args.executor == "ray":
        options["address"] = args.ray_address
        option = "--executor ray" + (f" --ray-address {args.ray_address}" if args.ray_address else "")
    elif args.executor == "slurm":
        output_folder("--slurm-folder", args.slurm_folder)
        reserved = sorted(set(slurm or {}) & set(RESERVED_SLURM))
        if reserved:
            raise CLIError(f"the sweep file's slurm: mapping cannot set {reserved}: --slurm-folder, --slurm-cluster and --workers set them")
        options.update(slurm or {})
        options.update(slurm_parameters(args))
        options.update(folder=args.slurm_folder, cluster=args.slurm_cluster)
        option = f"--executor slurm --slurm-cluster {args.slurm_cluster}"
    try:
        return make_executor(args.executor, args.workers, **options)
    except ValueError as e:
        raise CLIError(f"{option}: {e}") from None


#: --slurm-* option → the submitit parameter it sets
SLURM_OPTIONS = {
    "slurm_time": "timeout_min",
    "slurm_mem": "mem_gb",
    "slurm_gpus": "gpus_per_node",
    "slurm_cpus": "cpus_per_task",
    "slurm_account": "slurm_account",
    "slurm_partition": "slurm_partition",
}


#: names the executor sets itself (--slurm-folder, --slurm-cluster, --workers), refused as submitit parameters
RESERVED_SLURM = ("folder", "cluster", "workers", "poll_s", "kind")


def slurm_parameters(args) -> dict:
    """The submitit parameters the ``--slurm-*`` options set (``--slurm-param KEY=VALUE`` last)."""
    from .config import safe_load

    out = {param: getattr(args, option) for option, param in SLURM_OPTIONS.items() if getattr(args, option, None) is not None}
    params = getattr(args, "slurm_param", None) or []
    reserved = [key for key in (text.partition("=")[0].strip() for text in params) if key in RESERVED_SLURM]
    if reserved:  # checked for every parameter before any is parsed
        raise CLIError(f"--slurm-param cannot set {reserved[0]!r}: {', '.join(RESERVED_SLURM)} are set by the CLI's own options")
    for text in params:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"--slurm-param must look like KEY=VALUE (a submitit parameter, e.g. slurm_qos=high); got {text!r}")
        try:
            out[key.strip()] = safe_load(value) if value.strip() else ""
        except Exception:  # a YAML error: keep the text as it is
            out[key.strip()] = value
    return out


# -- results -------------------------------------------------------------------------------------


def _results_options(r) -> None:
    r.add_argument("file", help="a sweep table written by 'sweep --out' (.parquet or .csv)")
    r.add_argument(
        "--fields", default=None,
        help="comma-separated result fields, short or as the table's columns: best_w,cosine or result.best_w (default: every numeric result that varies)",
    )
    r.add_argument(
        "--format", choices=("text", "markdown", "csv", "json"), default="text", help="text (at most 120 columns), markdown, csv or json (default text)"
    )


def cmd_results(args) -> dict:
    """Summarise a sweep table per setting: n seeds, mean ± SE and a 95% t-interval over seeds, per result field."""
    from .store import load_table
    from .summary import INTERVAL, display_table, summarise

    df = load_table(args.file)
    fields = None if args.fields is None else [f.strip() for f in args.fields.split(",") if f.strip()]
    if fields == []:
        raise CLIError(f"--fields must name at least one result field, comma-separated (e.g. best_w,cosine); got {args.fields!r}")
    try:
        summary = summarise(df, fields)
    except ValueError as e:
        raise CLIError(f"results file {args.file!r}: {e}") from None
    rows = summary.table.to_dict(orient="records")
    out = {"rows": rows, "varying": summary.varying, "constants": summary.constants, "left_out": summary.left_out, "failed_records": summary.failed}
    if args.json or args.format == "json":
        return out
    shown = display_table(summary)
    if args.format == "csv":
        summary.table.to_csv(sys.stdout, index=False)
    elif args.format == "markdown":
        print(markdown(shown))
    else:
        print(fit_text(shown, summary.varying))
    if not args.quiet and args.format in ("text", "markdown"):
        if summary.constants:
            print(wrap("the same in every record: " + ", ".join(f"{k.removeprefix('result.')}={short(v)}" for k, v in summary.constants.items())))
        if summary.left_out:
            print(wrap("not summarised: " + ", ".join(f"{k.removeprefix('result.')} ({why})" for k, why in summary.left_out.items())))
        print(wrap(f"{INTERVAL}."))
        if _flagged(summary, "degenerate"):
            print(wrap(f"degenerate: {DEGENERATE_COSINE}"))
        if summary.failed:
            print(f"{summary.failed} failed record(s) left out")
    return out


def _flagged(summary, flag: str) -> bool:
    """Whether a yes/no result ``flag`` is true in some record of the summary."""
    t = summary.table
    return "n_true" in t and bool((t.loc[t["field"] == flag, "n_true"].fillna(0) > 0).any())


# -- list ----------------------------------------------------------------------------------------


def _list_options(p) -> None:
    p.add_argument("what", nargs="?", choices=("all", "experiments", "figures", "presets", "commands", "claims"), default="all",
                   help="what to list (default all)")
    p.add_argument("name", nargs="?", default=None, help="one experiment to list (default: every one)")


def cmd_list(args) -> dict:
    """List what the installed packages registered: experiments (fields, types, defaults, ranges; result fields), figures, presets, commands, claims."""
    from . import plugins
    from .experiments import EXPERIMENTS
    from .figures import FIGURES, PRESETS

    plugins.load("neon_theory.experiments")
    plugins.load("neon_theory.figures")
    kinds = ("experiments", "figures", "presets", "commands", "claims") if args.what == "all" else (args.what,)
    out: dict = {}
    if "experiments" in kinds:
        names = [args.name] if args.name else sorted(EXPERIMENTS)
        if args.name and args.name not in EXPERIMENTS:
            raise CLIError(f"experiment {args.name!r} is not registered; known: {sorted(EXPERIMENTS)}")
        out["experiments"] = {
            n: {"module": EXPERIMENTS[n].module, "about": first_line(EXPERIMENTS[n].config.__doc__ if EXPERIMENTS[n].config else EXPERIMENTS[n].run.__doc__),
                "fields": [dataclasses.asdict(f) for f in EXPERIMENTS[n].fields()], "results": dict(EXPERIMENTS[n].results)}
            for n in names
        }
    if "figures" in kinds:
        out["figures"] = {n: {"about": f.description, "sweeps": list(f.sweeps), "module": f.module} for n, f in sorted(FIGURES.items())}
    if "presets" in kinds:
        out["presets"] = dict(PRESETS)
    if "commands" in kinds:
        out["commands"] = {n: c.help for n, c in COMMANDS.items()}
    if "claims" in kinds:
        from .scorecard import claims_of

        out["claims"] = {c.name: f"{c.source}: {c.statement}" for c in claims_of()}
    if not args.json:
        _print_list(out)
    return out


def _print_list(out: dict) -> None:
    """``list`` as text: each experiment's fields and result fields, then the figures, presets and commands."""
    for n, e in out.get("experiments", {}).items():
        print(wrap(f"experiment {n} ({e['module']}): {e['about']}"))
        width = max([len(f["name"]) for f in e["fields"]] + [4])
        for f in e["fields"]:
            head = f"  {f['name']:<{width}}  {f['type']}, default {json.dumps(f['default'], default=str)}"
            doc = plain_text(f["doc"])
            print(textwrap.fill(f"{head}: {doc}" if doc else head, WIDTH, subsequent_indent=" " * (width + 4)))
        if not e["fields"]:
            print("  (takes a plain mapping of parameters)")
        width = max(map(len, e["results"]), default=0)
        print("  results (a record's result fields):" if e["results"] else "  results: not declared (@experiment(results=...))")
        for name, doc in e["results"].items():
            print(textwrap.fill(f"    {name:<{width}}  {doc}", WIDTH, subsequent_indent=" " * (width + 6)))
    for key in ("figures", "presets", "commands", "claims"):
        if key not in out:
            continue
        print(f"{key}:")
        width = max(map(len, out[key]), default=0)
        for n, about in out[key].items():
            text = about["about"] + f" (sweeps: {', '.join(about['sweeps'])})" if isinstance(about, dict) else about
            print(textwrap.fill(f"  {n:<{width}}  {text}", WIDTH, subsequent_indent=" " * (width + 4)))


# -- figures -------------------------------------------------------------------------------------


def _figures_options(fg) -> None:
    fg.add_argument("names", nargs="+", help="figure names, or 'all'")
    fg.add_argument("--seeds", default=None, help="e.g. '0-4' or '0,3'; default: the preset's seeds")
    fg.add_argument("--out", default="figures", help="folder for the figures (default: figures)")
    add_executor_options(fg)
    add_device_option(fg)


def run_figures(args, names: list[str], seeds: str | None = None) -> dict:
    """Draw the figures ``names`` at ``args.preset`` over ``args.store`` (``seeds`` as in ``--seeds``
    replaces the presets' seeds); every name, preset and sweep is checked, and ``--device``
    resolved, once, before any work.

    Returns:
        dict: figure name → :func:`~neon_theory.run.figures.make_figure`'s result.
    """
    from . import plugins
    from .figures import FIGURES, PRESETS, make_figure, plan_figure

    plugins.load("neon_theory.figures")
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise CLIError(f"figure must be 'all' or one of {sorted(FIGURES)}; got {unknown[0]!r}")
    if args.preset not in PRESETS:
        raise CLIError(f"--preset must be one of {list(PRESETS)}; got {args.preset!r}")
    seed_list = None if seeds is None else parse_seeds(seeds)
    device = device_of(args)
    plans = {name: plan_figure(name, args.preset, seeds=seed_list, device=device) for name in names}  # any bad sweep before any work
    store = _store(args)
    output_folder("--out", args.out)
    executor = _executor(args)
    try:
        return {name: make_figure(plan, store=store, out=args.out, executor=executor, progress=show_progress(args)) for name, plan in plans.items()}
    finally:
        executor.close()


def cmd_figures(args) -> dict:
    """Run (or load from the store) the sweeps of the named figures (or 'all') and draw them."""
    from . import plugins
    from .figures import FIGURES

    plugins.load("neon_theory.figures")
    if "all" in args.names and len(args.names) > 1:
        raise CLIError(f"figure 'all' must stand alone (it names every figure); got {' '.join(args.names)!r}")
    names = list(FIGURES) if args.names == ["all"] else list(dict.fromkeys(args.names))
    drawn = run_figures(args, names, seeds=args.seeds)
    out = {name: [str(p) for p in result["paths"]] for name, result in drawn.items()}
    if not args.json:
        for name, paths in out.items():
            print(f"{name}: {FIGURES[name].description} -> {paths[0]}")
    return {"figures": out}


# -- scorecard ------------------------------------------------------------------------------------


def _scorecard_options(sc) -> None:
    sc.add_argument("--only", default=None, help="comma-separated claim names (default: every registered claim; `neon-theory list claims`)")
    sc.add_argument("--seeds", default=None, help="e.g. '100-109'; replaces every claim's own seeds (default: each claim's, for the preset)")
    sc.add_argument("--out", default="results/scorecard", help="folder for SCORECARD.md, scorecard.json and figures/ (default: results/scorecard)")
    sc.add_argument("--no-figures", action="store_true", help="write the report only, not the claims' figures")
    sc.add_argument("--merge", action="store_true",
                    help="update the report already in --out (same preset): the claims judged now replace their rows, the others keep theirs; "
                         "each row names the commit it was judged at")
    add_executor_options(sc)
    add_device_option(sc)


def cmd_scorecard(args) -> dict:
    """Judge every registered claim at --preset (its sweeps through --store) and write the report."""
    from .scorecard import plan_scorecard, previous_rows, run_scorecard

    only = None if args.only is None else tuple(n.strip() for n in args.only.split(",") if n.strip())
    if only is not None and not only:
        raise CLIError("--only must name at least one claim")
    seeds = None if args.seeds is None else parse_seeds(args.seeds)
    device = device_of(args)
    try:
        plan_scorecard(args.preset, only=only, seeds=seeds, device=device)  # every claim and sweep checked before any work
        if args.merge:
            previous_rows(Path(args.out) / "scorecard.json", args.preset)
    except ValueError as e:
        raise CLIError(str(e).replace("claim must", "--only must", 1).replace("preset must", "--preset must", 1).replace("merge:", "--merge:", 1)) from None
    store = _store(args)
    output_folder("--out", args.out)
    executor = _executor(args)
    try:
        result = run_scorecard(args.preset, store=store, out=args.out, executor=executor, only=only, seeds=seeds, device=device,
                               figures=not args.no_figures, progress=show_progress(args), merge=args.merge)
    finally:
        executor.close()
    if not args.json:
        width = max((len(r["claim"]) for r in result["rows"]), default=5)
        for r in result["rows"]:
            print(f"{r['claim']:<{width}}  {r['verdict']:<24} {r['effect']['what']}: {r['effect']['text']}")
        print("report: " + ", ".join(map(str, result["paths"])))
    return {"counts": result["counts"], "rows": result["rows"], "paths": [str(p) for p in result["paths"]]}


# The order of registration is the order of `neon-theory --help` (the plugins' commands follow).
register_command("sweep", "run a sweep file (YAML), resumably, with a local, Ray or SLURM executor", _sweep_options, cmd_sweep)
register_command("results", "summarise a sweep table per setting: n seeds, mean ± SE and a 95% t-interval over seeds", _results_options, cmd_results)
register_command("list", "list the experiments (fields, types, defaults, ranges; result fields), figures, presets and commands", _list_options, cmd_list)
register_command("figures", "run the sweeps of figures (or 'all') over one store and draw them to --out", _figures_options, cmd_figures, presets=True)
register_command("scorecard", "judge every registered claim of the paper at a preset and write SCORECARD.md and scorecard.json", _scorecard_options,
                 cmd_scorecard, presets=True)
