"""Command-line interface: ``neon-theory sweep|results|figures|list`` and the commands of installed plugins.

The run layer's own commands (:mod:`neon_theory.run.commands`) are ``sweep``, ``results``,
``figures`` and ``list``; model-family packages add theirs (this project's toys add ``demo``,
``align``, ``toys`` and ``plane``) with :func:`~neon_theory.run.kit.register_command` from a
module named in the ``neon_theory.commands`` entry point group (:mod:`neon_theory.run.plugins`).
This module only assembles the parser, runs the command and turns its outcome into an exit status.

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
import sys
import time
import warnings

# The names below were all defined here once; plugins, tests and notebooks import them from this
# module, so they stay importable from it (re-exported from their homes, never redefined).
from ..checks import MAX_SEEDS  # noqa: F401 (the limit of --seeds)
from .commands import (  # noqa: F401
    RESERVED_SLURM,
    SLURM_OPTIONS,
    _dry_run,
    _executor,
    _figures_options,
    _flagged,
    _job_line,
    _list_options,
    _print_list,
    _read_sweep,
    _results_options,
    _store,
    _sweep_options,
    _table_path,
    cmd_figures,
    cmd_list,
    cmd_results,
    cmd_sweep,
    run_figures,
    slurm_parameters,
    sweep_table,
)
from .kit import (  # noqa: F401
    COMMANDS,
    CONFIRM_BYTES,
    CONFIRM_JOBS,
    CONFIRM_SECONDS,
    DEGENERATE_COSINE,
    CLIError,
    Command,
    _memory_bytes,
    _refuse_override,
    add_device_option,
    add_executor_options,
    confirm_cost,
    device_of,
    integer,
    non_finite_entries,
    on_device,
    output_folder,
    parse_seeds,
    register_command,
    seed_option,
    show_progress,
)
from .text import WIDTH  # noqa: F401
from .text import duration as _duration  # noqa: F401
from .text import first_line as _first_line  # noqa: F401
from .text import fit_text as _fit_text  # noqa: F401
from .text import pipe_table as _markdown  # noqa: F401
from .text import plain_text as _plain_text  # noqa: F401
from .text import short as _short  # noqa: F401
from .text import wrap as _wrap  # noqa: F401


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error format: one line ``neon-theory: error: ...``, status 2."""

    def error(self, message):
        self.exit(2, "neon-theory: error: " + " ".join(message.split()) + "\n")  # one line, whatever the tokens hold


def _preset_option(p) -> None:
    p.add_argument("--preset", default="smoke", help="a registered preset; the toys register smoke, reduced and paper (default smoke)")


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
