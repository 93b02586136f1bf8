"""The command kit: what a package that adds ``neon-theory`` commands uses.

A command is registered with :func:`register_command` from a module named in the
``neon_theory.commands`` entry-point group (:mod:`neon_theory.run.plugins`).  Its options are
built with the small helpers here (:func:`integer`, :func:`seed_option`, :func:`add_device_option`,
:func:`add_executor_options`), its inputs checked with :func:`output_folder`, :func:`parse_seeds`,
:func:`device_of` and :func:`confirm_cost`; bad input is a :class:`CLIError` (one line, exit 2).

``--help`` imports this module and every command module, so nothing here imports torch or the
engine at module level.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..checks import check_writable_folder
from .text import duration


class CLIError(ValueError):
    """Bad input to a command: the CLI prints it as one line ``neon-theory: error: ...`` and exits 2."""


#: What the CLI says of a degenerate P-cosine: the API's warning names the report's attributes, a CLI
#: user needs what it means and which option changes it.
DEGENERATE_COSINE = (
    "degenerate P-cosine: one parameter carries most of the gradient's P-norm, so the P-cosine measures that parameter, not the "
    "direction; try another preconditioner (align: --preconditioner natural) or more samples (align: a larger --mc; a sweep: a larger preset)"
)


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


def on_device(run: Callable) -> Callable:
    """Wrap a command's ``run(args)`` so that the tensors and modules it creates default to ``--device``."""

    @functools.wraps(run)
    def wrapped(args):
        from ..device import default_device

        with default_device(device_of(args)):
            return run(args)

    return wrapped


def device_of(args):
    """The ``torch.device`` that ``--device`` names (a CLIError naming the option if it is not available)."""
    from ..device import resolve_device

    try:
        return resolve_device(args.device)
    except ValueError as e:
        raise CLIError(f"--device: {e}") from None


def show_progress(args) -> bool:
    """Whether a command draws progress bars: not with ``--json`` or ``--quiet``."""
    return not (args.json or getattr(args, "quiet", False))


def output_folder(option: str, path: str) -> Path:
    """Create the output folder now and prove it writable, so a bad path fails before any work."""
    try:
        return check_writable_folder(option, path)
    except ValueError as e:
        raise CLIError(str(e)) from None


def parse_seeds(text: str) -> list[int]:
    """'0-4' or '0,2,5' → a list of seeds (:func:`~neon_theory.checks.seed_list`, as in a sweep file)."""
    from ..checks import seed_list

    try:
        return seed_list("--seeds", text)
    except ValueError as e:
        raise CLIError(str(e)) from None


#: Requests estimated above these need --yes; above the machine's memory they are refused.
CONFIRM_SECONDS = 60.0
CONFIRM_BYTES = 2 * 2**30
CONFIRM_JOBS = 10_000


def confirm_cost(what: str, seconds: float, nbytes: float, yes: bool, smaller: str) -> None:
    """Refuse a request estimated to exceed the machine's memory; ask for --yes above the limits."""
    cost = f"{duration(seconds)} and {nbytes / 2**30:.2g} GiB of memory"
    if nbytes > 0.8 * _memory_bytes():
        raise CLIError(f"{what} would need {cost}, more than this machine has ({_memory_bytes() / 2**30:.0f} GiB); use a smaller {smaller}")
    if (seconds > CONFIRM_SECONDS or nbytes > CONFIRM_BYTES) and not yes:
        raise CLIError(f"{what} would take {cost}; pass --yes to run it, or use a smaller {smaller}")


def _memory_bytes() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


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
