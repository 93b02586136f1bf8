"""Command-line interface: ``neon-theory sweep|results|figures`` and the commands of installed plugins.

The run layer's own commands are ``sweep``, ``results`` and ``figures``; model-family
packages add theirs (this project's toys add ``demo``, ``align``, ``toys`` and ``plane``)
with :func:`register_command` from a module named in the ``neon_theory.commands`` entry
point group (:mod:`neon_theory.run.plugins`).

Exit status: 0 on success; 2 for bad input (one line ``neon-theory: error: ...``, printed
before any work); 1 when some sweep job failed (the first error and its job are printed;
``--json`` reports ``failed``); 130 on Ctrl-C (one line saying how to resume); 141 when the
reader of the output goes away (``| head``), quietly.
"""

# neon-theory: presentation-only

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .._validation import MAX_SEEDS, check_writable_folder  # noqa: F401 (MAX_SEEDS: the limit of --seeds, re-exported)


class CLIError(ValueError):
    pass


#: What the CLI says of a degenerate P-cosine: the API's warning names the report's attributes, a CLI
#: user needs what it means and which option changes it.
DEGENERATE_COSINE = (
    "degenerate P-cosine: one parameter carries most of the gradient's P-norm, so the P-cosine measures that parameter, not the "
    "direction; try another preconditioner (align: --preconditioner natural) or more samples (align: a larger --mc; a sweep: a larger preset)"
)


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


def seed_option(p) -> None:
    """Add ``--seed`` (an integer in [0, inf), default 0) to a command's parser."""
    p.add_argument("--seed", type=integer(0), default=0, help="master seed: every random stream is derived from it by name (default 0)")


def add_device_option(p) -> None:
    """Add ``--device cpu|cuda|cuda:N|mps|auto`` (default ``auto``: CUDA if present, else CPU)."""
    p.add_argument("--device", default="auto", help="where models run: cpu, cuda, cuda:N, mps or auto (CUDA if present, else CPU; default auto)")


def on_device(run: Callable) -> Callable:
    """Wrap a command's ``run(args)`` so that the tensors and modules it creates default to ``--device``."""

    @functools.wraps(run)
    def wrapped(args):
        with device_of(args):  # a torch.device is a context manager for the default device
            return run(args)

    return wrapped


def device_of(args):
    """The ``torch.device`` that ``--device`` names (a CLIError naming the option if it is not available)."""
    from ..device import resolve_device

    try:
        return resolve_device(args.device)
    except ValueError as e:
        raise CLIError(f"--device: {e}") from None

#: Requests estimated above these need --yes; above the machine's memory they are refused.
CONFIRM_SECONDS = 60.0
CONFIRM_BYTES = 2 * 2**30
CONFIRM_JOBS = 10_000


def output_folder(option: str, path: str) -> Path:
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


def _memory_bytes() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def confirm_cost(what: str, seconds: float, nbytes: float, yes: bool, smaller: str) -> None:
    """Refuse a request estimated to exceed the machine's memory; ask for --yes above the limits."""
    cost = f"{_duration(seconds)} and {nbytes / 2**30:.2g} GiB of memory"
    if nbytes > 0.8 * _memory_bytes():
        raise CLIError(f"{what} would need {cost}, more than this machine has ({_memory_bytes() / 2**30:.0f} GiB); use a smaller {smaller}")
    if (seconds > CONFIRM_SECONDS or nbytes > CONFIRM_BYTES) and not yes:
        raise CLIError(f"{what} would take {cost}; pass --yes to run it, or use a smaller {smaller}")


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under 1 s"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"about {seconds / size:.1f} {unit}{'s' if unit == 'day' and seconds >= 2 * size else ''}"
    return f"about {seconds:.0f} s"


def non_finite_entries(d: dict, prefix: str = ""):
    """Names of the float entries of a (nested) report that are NaN or infinite."""
    for k, v in d.items():
        if isinstance(v, dict):
            yield from non_finite_entries(v, f"{prefix}{k}.")
        elif isinstance(v, (list, tuple)):
            if any(isinstance(x, float) and not math.isfinite(x) for x in v):
                yield f"{prefix}{k}"
        elif isinstance(v, float) and not math.isfinite(v):
            yield f"{prefix}{k}"


def parse_seeds(text: str) -> list[int]:
    """'0-4' or '0,2,5' → a list of seeds (:func:`~neon_theory._validation.seed_list`, as in a sweep file)."""
    from .._validation import seed_list

    try:
        return seed_list("--seeds", text)
    except ValueError as e:
        raise CLIError(str(e)) from None


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


def _read_sweep(args):
    """The sweep file of ``sweep`` and ``sweep --dry-run``: read, parsed and every job validated (no work)."""
    import dataclasses

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
    if args.device != "auto" or "device" not in safe_load(text):  # a device the file names stands unless --device names another
        spec = dataclasses.replace(spec, device=str(device_of(args)))
    if spec.n_jobs > CONFIRM_JOBS and not args.yes and not args.dry_run:  # counted before the grid is expanded
        raise CLIError(f"sweep file {str(path)!r} expands to {spec.n_jobs:,} jobs; pass --yes to run more than {CONFIRM_JOBS:,}, or shrink the grid")
    spec.validate()  # every job's config is built (and rejected, naming the field) before any work
    return spec


def cmd_sweep(args) -> dict:
    """Run a sweep file with the chosen executor; records are cached in --store, the table written to --out."""
    from .sweeps import failure_summary, plan_sweep, run_sweep, save_table

    spec = _read_sweep(args)
    store = _store(args, read_only=args.dry_run)  # a dry run creates nothing, not even the store's folder
    if args.dry_run:
        return _dry_run(args, spec, plan_sweep(spec, store))
    # every output and the executor are checked before the first job runs
    table = sweep_table(args.out, args.file)
    _table_path("--out", str(table))
    if args.csv is not None:
        _table_path("--csv", args.csv)
    executor = _executor(args, spec.slurm)
    try:
        df = run_sweep(spec, store, executor=executor, progress=show_progress(args), on_record=_job_line if args.verbose else None)
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


def sweep_table(out: str, sweep_file: str) -> Path:
    """Where ``sweep`` writes its table: ``<out>/<sweep file's stem>.parquet`` for the output folder
    ``out`` (as every command's ``--out`` is a folder), or ``out`` itself when it names a .parquet or .csv file."""
    out = Path(out)
    return out if out.suffix.lower() in (".parquet", ".csv") else out / f"{Path(sweep_file).stem}.parquet"


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
        when = "nothing to run" if plan.todo == 0 else "unknown" if estimate is None else f"{_duration(estimate)} on {args.workers} worker(s)"
        print(f"  time: {when}" + ("" if plan.todo == 0 else f" ({plan.basis})"))
        print("  nothing was run (--dry-run)")
    return out


def show_progress(args) -> bool:
    """Whether a command draws progress bars: not with ``--json`` or ``--quiet``."""
    return not (args.json or getattr(args, "quiet", False))


def _job_line(record: dict) -> None:
    """``--verbose``: one line per finished job on stderr."""
    from .sweeps import job_line

    print(job_line(record), file=sys.stderr)


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
        print(shown.to_markdown(index=False) if _has_tabulate() else _markdown(shown))
    else:
        print(_fit_text(shown, summary.varying))
    if not args.quiet and args.format in ("text", "markdown"):
        if summary.constants:
            print(_wrap("the same in every record: " + ", ".join(f"{k.removeprefix('result.')}={_short(v)}" for k, v in summary.constants.items())))
        if summary.left_out:
            print(_wrap("not summarised: " + ", ".join(f"{k.removeprefix('result.')} ({why})" for k, why in summary.left_out.items())))
        print(_wrap(f"{INTERVAL}."))
        if _flagged(summary, "degenerate"):
            print(_wrap(f"degenerate: {DEGENERATE_COSINE}"))
        if summary.failed:
            print(f"{summary.failed} failed record(s) left out")
    return out


def _flagged(summary, flag: str) -> bool:
    """Whether a yes/no result ``flag`` is true in some record of the summary."""
    t = summary.table
    return "n_true" in t and bool((t.loc[t["field"] == flag, "n_true"].fillna(0) > 0).any())


def _has_tabulate() -> bool:
    import importlib.util

    return importlib.util.find_spec("tabulate") is not None


def _markdown(table) -> str:
    """A GitHub pipe table (what pandas' to_markdown writes, without needing tabulate)."""
    cells = [list(table.columns)] + table.astype(str).values.tolist()
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(cells[0]))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "| " + " | ".join("-" * w for w in widths) + " |"] + [line(r) for r in cells[1:]])


#: Text output is kept to this many columns.
WIDTH = 120


def _fit_text(table, params: list) -> str:
    """The table as aligned text; a setting (the ``params`` columns) is written once, above its fields,
    when a row would exceed :data:`WIDTH`."""
    text = table.to_string(index=False)
    if max(map(len, text.splitlines())) <= WIDTH:
        return text
    blocks = []
    for key, g in table.groupby(params, sort=False) if params else [((), table)]:
        key = key if isinstance(key, tuple) else (key,)
        blocks.append(_wrap(", ".join(f"{p}={v}" for p, v in zip(params, key)) or "all records"))
        blocks.append("\n".join("  " + line for line in g.drop(columns=params).to_string(index=False).splitlines()))
    return "\n".join(blocks)


def _short(v) -> str:
    text = str(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _wrap(text: str) -> str:
    import textwrap

    return textwrap.fill(text, WIDTH, subsequent_indent="  ")


def cmd_list(args) -> dict:
    """List what the installed packages registered: experiments (fields, types, defaults, ranges; result fields), figures, presets, commands."""
    from . import plugins
    from .experiments import EXPERIMENTS
    from .figures import FIGURES, PRESETS

    plugins.load("neon_theory.experiments")
    plugins.load("neon_theory.figures")
    kinds = ("experiments", "figures", "presets", "commands") if args.what == "all" else (args.what,)
    out: dict = {}
    if "experiments" in kinds:
        names = [args.name] if args.name else sorted(EXPERIMENTS)
        if args.name and args.name not in EXPERIMENTS:
            raise CLIError(f"experiment {args.name!r} is not registered; known: {sorted(EXPERIMENTS)}")
        out["experiments"] = {
            n: {"module": EXPERIMENTS[n].module, "about": _first_line(EXPERIMENTS[n].config.__doc__ if EXPERIMENTS[n].config else EXPERIMENTS[n].run.__doc__),
                "fields": [dataclasses.asdict(f) for f in EXPERIMENTS[n].fields()], "results": dict(EXPERIMENTS[n].results)}
            for n in names
        }
    if "figures" in kinds:
        out["figures"] = {n: {"about": f.description, "sweeps": list(f.sweeps), "module": f.module} for n, f in sorted(FIGURES.items())}
    if "presets" in kinds:
        out["presets"] = dict(PRESETS)
    if "commands" in kinds:
        out["commands"] = {n: c.help for n, c in COMMANDS.items()}
    if not args.json:
        _print_list(out)
    return out


def _first_line(doc: str | None) -> str:
    return _plain_text((doc or "").strip().split("\n\n")[0])


def _plain_text(doc: str) -> str:
    """reST in plain words: ``:class:`~a.b.C``` → C, ````x```` → x, runs of spaces → one."""
    import re

    doc = re.sub(r":\w+:`~?(?:[^`]*\.)?([^`.]+)`", r"\1", doc)
    return " ".join(doc.replace("``", "").split())


def _print_list(out: dict) -> None:
    import textwrap

    for n, e in out.get("experiments", {}).items():
        print(_wrap(f"experiment {n} ({e['module']}): {e['about']}"))
        width = max([len(f["name"]) for f in e["fields"]] + [4])
        for f in e["fields"]:
            head = f"  {f['name']:<{width}}  {f['type']}, default {json.dumps(f['default'], default=str)}"
            doc = _plain_text(f["doc"])
            print(textwrap.fill(f"{head}: {doc}" if doc else head, WIDTH, subsequent_indent=" " * (width + 4)))
        if not e["fields"]:
            print("  (takes a plain mapping of parameters)")
        width = max(map(len, e["results"]), default=0)
        print("  results (a record's result fields):" if e["results"] else "  results: not declared (@experiment(results=...))")
        for name, doc in e["results"].items():
            print(textwrap.fill(f"    {name:<{width}}  {doc}", WIDTH, subsequent_indent=" " * (width + 6)))
    for key in ("figures", "presets", "commands"):
        if key not in out:
            continue
        print(f"{key}:")
        width = max(map(len, out[key]), default=0)
        for n, about in out[key].items():
            text = about["about"] + f" (sweeps: {', '.join(about['sweeps'])})" if isinstance(about, dict) else about
            print(textwrap.fill(f"  {n:<{width}}  {text}", WIDTH, subsequent_indent=" " * (width + 4)))


def run_figures(args, names: list[str], seeds: str | None = None) -> dict:
    """Draw the figures ``names`` at ``args.preset`` over ``args.store`` (``seeds`` as in ``--seeds``
    replaces the presets' seeds); every name, preset and sweep is checked before any work.

    Returns:
        dict: figure name → :func:`~neon_theory.run.figures.make_figure`'s result.
    """
    from . import plugins
    from .figures import FIGURES, PRESETS, figure_specs, make_figure

    plugins.load("neon_theory.figures")
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise CLIError(f"figure must be 'all' or one of {sorted(FIGURES)}; got {unknown[0]!r}")
    if args.preset not in PRESETS:
        raise CLIError(f"--preset must be one of {list(PRESETS)}; got {args.preset!r}")
    seed_list = None if seeds is None else parse_seeds(seeds)
    device = device_of(args)
    for name in names:  # reject any bad sweep before any work
        for spec in figure_specs(name, args.preset, seed_list).values():
            spec.validate()
    store = _store(args)
    output_folder("--out", args.out)
    executor = _executor(args)
    out = {}
    try:
        for name in names:
            out[name] = make_figure(
                name, args.preset, store=store, out=args.out, executor=executor, progress=show_progress(args), seeds=seed_list, device=device
            )
    finally:
        executor.close()
    return out


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


def add_executor_options(p) -> None:
    """Add the options of where sweeps run and are stored (``--executor``, ``--workers``, ``--store``, …)."""
    p.add_argument("--executor", choices=("local", "ray", "slurm"), default="local", help="local process pool, Ray, or SLURM via submitit (default local)")
    p.add_argument("--workers", type=integer(1, 1024), default=1, help="parallel jobs (local pool size, Ray CPUs, SLURM array parallelism; default 1)")
    p.add_argument("--store", default="results/store", help="folder of cached per-job records, resumable (default results/store)")
    p.add_argument("--ray-address", default=None, help="a running Ray cluster (e.g. 'auto'); default: start a local one")
    p.add_argument("--slurm-folder", default="results/submitit", help="submitit's log and pickle folder (default results/submitit)")
    p.add_argument("--slurm-cluster", choices=("slurm", "local"), default="slurm", help="'local' runs the submitit path without SLURM (default slurm)")
    p.add_argument("--slurm-partition", default=None, help="SLURM partition (default: the sweep file's, else the cluster's)")
    p.add_argument("--slurm-account", default=None, help="SLURM account to charge (default: the sweep file's, else yours)")
    p.add_argument("--slurm-time", type=integer(1), default=None, help="time limit per job in minutes (default: the sweep file's, else 60)")
    p.add_argument("--slurm-mem", type=integer(1), default=None, help="memory per job in GB (default: the sweep file's, else the cluster's)")
    p.add_argument("--slurm-gpus", type=integer(0), default=None, help="GPUs per job (default: the sweep file's, else none)")
    p.add_argument("--slurm-cpus", type=integer(1), default=None, help="CPUs per job (default: the sweep file's, else the cluster's)")
    p.add_argument(
        "--slurm-param", action="append", default=None, metavar="KEY=VALUE",
        help="any other submitit parameter, e.g. slurm_qos=high or slurm_constraint=a100; repeatable (default: none)",
    )


def _preset_option(p) -> None:
    p.add_argument("--preset", default="smoke", help="a registered preset; the toys register smoke, reduced and paper (default smoke)")


@dataclass(frozen=True)
class Command:
    """A subcommand: ``add_arguments(parser)`` declares its options, ``run(args) -> dict`` does the work."""

    name: str
    help: str
    add_arguments: Callable
    run: Callable
    presets: bool = False


#: subcommand name → Command; the run layer's own and those registered by plugins.
COMMANDS: dict[str, Command] = {}


def register_command(name: str, help: str, add_arguments: Callable, run: Callable, *, presets: bool = False) -> None:
    """Add a subcommand (from a module named in the ``neon_theory.commands`` entry-point group).

    Every command gets ``--json``; ``presets=True`` also adds ``--preset``.  ``run(args)``
    returns a JSON-able dict; a ``ValueError`` (or :class:`CLIError`) it raises is bad input
    (one line, exit 2).
    """
    if not isinstance(name, str) or not name.replace("-", "").isalnum():
        raise ValueError(f"command name must be a word such as 'demo'; got {name!r}")
    if not callable(add_arguments) or not callable(run):
        raise ValueError(f"command {name!r}: add_arguments and run must be callables")
    _refuse_override("command", name, COMMANDS.get(name) and COMMANDS[name].run, run)
    COMMANDS[name] = Command(name, help, add_arguments, run, presets)


def _refuse_override(kind: str, name: str, old, new) -> None:
    """A plugin may re-register its own name (a re-import) but not take another module's."""
    from .experiments import refuse_override

    refuse_override(kind, name, getattr(old, "__module__", None), getattr(new, "__module__", None))


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


def _figures_options(fg) -> None:
    fg.add_argument("names", nargs="+", help="figure names, or 'all'")
    fg.add_argument("--seeds", default=None, help="e.g. '0-4' or '0,3'; default: the preset's seeds")
    fg.add_argument("--out", default="figures", help="folder for the figures (default: figures)")
    add_executor_options(fg)
    add_device_option(fg)


register_command("sweep", "run a sweep file (YAML), resumably, with a local, Ray or SLURM executor", _sweep_options, cmd_sweep)
def _results_options(r) -> None:
    r.add_argument("file", help="a sweep table written by 'sweep --out' (.parquet or .csv)")
    r.add_argument(
        "--fields", default=None,
        help="comma-separated result fields, short or as the table's columns: best_w,cosine or result.best_w (default: every numeric result that varies)",
    )
    r.add_argument(
        "--format", choices=("text", "markdown", "csv", "json"), default="text", help="text (at most 120 columns), markdown, csv or json (default text)"
    )


def _list_options(p) -> None:
    p.add_argument("what", nargs="?", choices=("all", "experiments", "figures", "presets", "commands"), default="all", help="what to list (default all)")
    p.add_argument("name", nargs="?", default=None, help="one experiment to list (default: every one)")


register_command("results", "summarise a sweep table per setting: n seeds, mean ± SE and a 95% t-interval over seeds", _results_options, cmd_results)
register_command("list", "list the experiments (fields, types, defaults, ranges; result fields), figures, presets and commands", _list_options, cmd_list)
register_command("figures", "run the sweeps of figures (or 'all') over one store and draw them to --out", _figures_options, cmd_figures, presets=True)


DESCRIPTION = (
    "Measure the theory behind Neon (negative extrapolation from self-training) exactly or with honest error bars. "
    "Exit status: 0 on success; 2 for bad input (one line, printed before any work); 1 when some sweep job failed; "
    "130 on Ctrl-C (run the same command again to resume); 141 when the reader of the output goes away."
)


def _version() -> str:
    """The installed distribution's version (importlib.metadata: cheap, unlike importing the engine)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neon-theory")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The parser of every registered command (plugins' commands are loaded first)."""
    from . import plugins

    plugins.load("neon_theory.commands")
    # allow_abbrev=False: `toys --seed 1` must not silently mean `--seeds 1`
    p = _Parser(prog="neon-theory", description=DESCRIPTION, allow_abbrev=False)
    p.add_argument("--version", action="version", version=f"neon-theory {_version()}", help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, parser_class=functools.partial(_Parser, allow_abbrev=False))
    for command in COMMANDS.values():
        # argparse %-formats a help (not a description): the help is escaped, so a command writes '95%' once, as text
        c = sub.add_parser(command.name, help=command.help.replace("%", "%%"), description=command.help)
        command.add_arguments(c)
        if command.presets:
            _preset_option(c)
        c.add_argument("--json", action="store_true", help="print JSON (with its inputs, conventions and provenance) instead of a table")
        loud = c.add_mutually_exclusive_group()
        loud.add_argument("-v", "--verbose", action="store_true", help="also print a line per finished sweep job on stderr (sweep; default off)")
        loud.add_argument("-q", "--quiet", action="store_true", help="no progress bars or notes: results and errors only (default off)")
        c.set_defaults(func=command.run)
    return p


def main(argv=None) -> int:
    # Warnings (corrupt records, degenerate cosines, ...) are held and printed as one line each
    # once the command has run, so that bad input still prints exactly one line (the error).
    # A plugin that failed to load is the exception: it may be why the input looks bad (an
    # unknown command or experiment), so it is printed after the error too.
    held: list = []
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, category, *rest, **kw: held.append((str(message), category))
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as e:  # argparse has printed the help or its one-line error
            _flush_warnings(held, only=_plugin_warning())
            return e.code if isinstance(e.code, int) else 2
        return _run(args, held)


def _plugin_warning() -> type:
    from .plugins import PluginWarning

    return PluginWarning


def _run(args, held: list) -> int:
    from .sweeps import SweepFailed

    try:
        start = time.perf_counter()
        result = args.func(args)
        if args.json or getattr(args, "format", None) == "json":
            print(json.dumps(_jsonable(dict(result) | {"meta": _meta(args, time.perf_counter() - start)}), indent=2, allow_nan=False))
        _flush_warnings(held)
        if result.get("failed"):  # some sweep job failed: visible to pipelines
            _error(result["first_error"])
            return 1
        return 0
    except ValueError as e:  # includes CLIError and every validation error of the engine
        _error(e)
        _flush_warnings(held, only=_plugin_warning())
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


def _meta(args, seconds: float) -> dict:
    """What a ``--json`` output says about itself: the command and its inputs, the conventions, the provenance, the wall time."""
    from .provenance import CONVENTIONS, provenance

    inputs = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
    device = getattr(args, "device", None) or "cpu"
    return {
        "command": args.command,
        "inputs": inputs,
        "conventions": CONVENTIONS,
        "provenance": provenance(device if device != "auto" else "cpu"),
        "wall_seconds": seconds,
    }


def _flush_warnings(held: list, only: type | None = None) -> None:
    """Print each distinct held warning once (of category ``only`` if given), as one line, in the CLI's words."""
    for message in dict.fromkeys(_in_cli_words(m, category) for m, category in held if only is None or issubclass(category, only)):
        _error(message, "warning: ")
    held.clear()


def _in_cli_words(message: str, category: type) -> str:
    """A warning as the CLI says it: the degenerate-cosine warning names the API's attributes, the CLI its options."""
    alignment = sys.modules.get("neon_theory.alignment")  # loaded whenever it warned; not imported for nothing
    if alignment is not None and issubclass(category, alignment.DegenerateCosineWarning):
        return DEGENERATE_COSINE
    return message


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
    if getattr(args, "store", None):
        return f"finished jobs are kept in --store {args.store}; run the same command again to resume"
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


if __name__ == "__main__":  # `python -m neon_theory.run.cli`: plugins register with the imported module, not __main__
    from neon_theory.run.cli import main as _main

    sys.exit(_main())
