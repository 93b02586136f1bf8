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
import functools
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .._validation import check_writable_folder


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


def _executor(args):
    """The executor, started now: a missing srun/sbatch or an unreachable Ray cluster fails before any job."""
    from .sweeps import make_executor

    options, option = {}, "--executor"
    if args.executor == "ray":
        options["address"] = args.ray_address
        option = "--executor ray" + (f" --ray-address {args.ray_address}" if args.ray_address else "")
    elif args.executor == "slurm":
        output_folder("--slurm-folder", args.slurm_folder)
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

    output_folder("--store", args.store)
    return ResultStore(args.store)


def cmd_sweep(args) -> dict:
    """Run a sweep file with the chosen executor; records are cached in --store, the table written to --out."""
    import dataclasses

    from . import plugins
    from .config import from_yaml
    from .sweeps import SweepSpec, failure_summary, run_sweep, save_table

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
    if args.device is not None:
        spec = dataclasses.replace(spec, device=str(device_of(args)))
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
            out[name] = make_figure(name, args.preset, store=store, out=args.out, executor=executor, progress=not args.json, seeds=seed_list, device=device)
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
    p.add_argument("--slurm-partition", default=None, help="SLURM partition (default: the cluster's)")


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
    sw.add_argument("--out", default="results/sweep.parquet", help="table of every record, .parquet or .csv (default results/sweep.parquet)")
    sw.add_argument("--csv", default=None, help="also export the table as this CSV file (default: none)")
    sw.add_argument("--yes", action="store_true", help="run a sweep of more than 10,000 jobs")
    sw.add_argument("--device", default=None, help="cpu, cuda, cuda:N, mps or auto; default: the sweep file's device (cpu if it names none)")


def _figures_options(fg) -> None:
    fg.add_argument("names", nargs="+", help="figure names, or 'all'")
    fg.add_argument("--seeds", default=None, help="e.g. '0-4' or '0,3'; default: the preset's seeds")
    fg.add_argument("--out", default="figures", help="folder for the figures (default: figures)")
    add_executor_options(fg)
    add_device_option(fg)


register_command("sweep", "run a sweep file (YAML), resumably, with a local, Ray or SLURM executor", _sweep_options, cmd_sweep)
register_command("results", "summarise a sweep table (parquet or CSV): mean ± SE over seeds", lambda p: p.add_argument("file", help="a table"), cmd_results)
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
        c = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(c)
        if command.presets:
            _preset_option(c)
        c.add_argument("--json", action="store_true", help="print JSON instead of a table")
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


def _flush_warnings(held: list, only: type | None = None) -> None:
    """Print each distinct held warning once (of category ``only`` if given), as one line."""
    for message in dict.fromkeys(m for m, category in held if only is None or issubclass(category, only)):
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
