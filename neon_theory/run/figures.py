"""The figure catalogue and the presets: each figure is a set of sweeps at a preset and one drawing.

Model-family packages register figures (:func:`register_figure`) and presets
(:func:`register_preset`) from a module named in the ``neon_theory.figures`` entry-point
group (see :mod:`neon_theory.run.plugins`).  :func:`make_figure` runs a figure's sweeps
through the cached, resumable sweep engine over one result store, so a figure re-drawn
later, or a second figure sharing a sweep, recomputes nothing.  It takes a name, or the
:class:`FigurePlan` of :func:`plan_figure` (every sweep validated and its device resolved,
once): ``neon-theory figures NAME|all`` plans every figure before it draws one.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..checks import check_choice
from . import plots, plugins
from .executors import Executor
from .experiments import refuse_override
from .plan import Plan
from .store import ResultStore
from .sweeps import SweepFailed, SweepSpec, failure_summary, run_sweep

#: preset name → what it means (sizes, seeds); one list for every command and figure.
PRESETS: dict[str, str] = {}


def register_preset(name: str, description: str) -> None:
    """Add a preset name (e.g. ``smoke``) that every figure builder and command accepts."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"preset name must be an identifier such as 'smoke'; got {name!r}")
    PRESETS[name] = description


@dataclass(frozen=True)
class Figure:
    """A figure: what it shows, its sweeps (label → ``build(preset) -> SweepSpec``) and
    ``draw(frames) -> matplotlib Figure`` over the sweep tables (label → DataFrame)."""

    name: str
    description: str
    sweeps: dict
    draw: Callable[[dict], object]
    module: str = ""


FIGURES: dict[str, Figure] = {}


def register_figure(name: str, description: str, sweeps: dict, draw: Callable[[dict], object]) -> Figure:
    """Add figure ``name`` to the catalogue; ``sweeps`` maps a label to ``build(preset) -> SweepSpec``."""
    if not isinstance(name, str) or not name:
        raise ValueError("figure name must be a non-empty string")
    if not isinstance(sweeps, dict) or not sweeps or not all(callable(b) for b in sweeps.values()):
        raise ValueError(f"figure {name!r}: sweeps must map each label to a callable build(preset) -> SweepSpec")
    if not callable(draw):
        raise ValueError(f"figure {name!r}: draw must be callable as draw(frames) -> figure")
    module = getattr(draw, "__module__", "")
    refuse_override("figure", name, FIGURES[name].module if name in FIGURES else None, module)
    FIGURES[name] = fig = Figure(name, description, dict(sweeps), draw, module)
    return fig


def figure_specs(name: str, preset: str, seeds: tuple | None = None) -> dict[str, SweepSpec]:
    """The sweeps of figure ``name`` at ``preset`` (label → spec); ``seeds`` replaces the preset's seeds.

    The installed packages' figures and presets are loaded first (their entry points).
    """
    plugins.load("neon_theory.figures")
    check_choice("figure", name, tuple(FIGURES))
    check_choice("preset", preset, tuple(PRESETS))
    return _override({label: build(preset) for label, build in FIGURES[name].sweeps.items()}, seeds=seeds)


def _override(specs: dict, *, seeds=None) -> dict:
    """``specs`` with their seeds replaced (``None`` keeps the spec's own)."""
    return {label: dataclasses.replace(spec, seeds=tuple(seeds)) for label, spec in specs.items()} if seeds is not None else specs


@dataclass(frozen=True)
class FigurePlan:
    """A figure checked before any work: its sweeps, each a :class:`~neon_theory.run.plan.Plan`
    (validated, its device resolved), and the name its files get.

    Attributes:
        name (str): the figure.
        stem (str): the file name without suffix, ``<name>_<preset>`` (or ``..._seeds0-4`` when
            ``seeds`` replaced the preset's).
        sweeps (dict): label → :class:`~neon_theory.run.plan.Plan`.
    """

    name: str
    stem: str
    sweeps: dict[str, Plan]


def plan_figure(name: str, preset: str = "smoke", *, seeds: tuple | None = None, device=None) -> FigurePlan:
    """The sweeps of figure ``name`` at ``preset``, every one validated (a ValueError naming the field
    and the job) before any runs.

    Args:
        seeds: replace the preset's seeds.
        device: where every sweep runs: a ``torch.device`` already resolved, or its name (resolved
            here, once); ``None`` keeps each sweep's own.
    """
    preset_specs = figure_specs(name, preset)
    own = seeds is None or {tuple(sorted(spec.seeds)) for spec in preset_specs.values()} == {tuple(sorted(seeds))}  # the plain name
    if isinstance(device, str):
        from ..device import resolve_device

        device = resolve_device(device)
    sweeps = {label: spec.plan(device) for label, spec in _override(preset_specs, seeds=seeds).items()}
    return FigurePlan(name, f"{name}_{preset if own else f'{preset}_seeds{_seed_label(seeds)}'}", sweeps)


def make_figure(
    name: str | FigurePlan,
    preset: str = "smoke",
    *,
    store: ResultStore | str | Path = "results/store",
    out: str | Path = "figures",
    executor: Executor | None = None,
    progress: bool = False,
    seeds: tuple | None = None,
    device=None,
) -> dict:
    """Run (or load from the store) the sweeps of figure ``name`` and write it as PNG and PDF.

    Args:
        name: a figure's name, planned here (:func:`plan_figure` with ``preset``, ``seeds`` and
            ``device``, a ``torch.device`` or its name), or the :class:`FigurePlan` a caller made
            already (``neon-theory figures`` plans every figure before drawing one): its sweeps are
            not checked again, and ``preset``, ``seeds`` and ``device`` are not used.

    Returns:
        dict: ``paths`` (written files), ``frames`` (label → sweep table), ``failed`` (0) and
        ``problems`` (what :func:`~neon_theory.run.plots.figure_problems` found; each is also
        a :class:`FigureWarning`).

    Raises:
        SweepFailed: some job failed (the message names the first error and its job); the
            finished records stay cached, so a re-run retries only the failed ones.
    """
    plan = name if isinstance(name, FigurePlan) else plan_figure(name, preset, seeds=seeds, device=device)
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    frames = {label: run_sweep(sweep, store, executor=executor, progress=progress) for label, sweep in plan.sweeps.items()}
    for label, frame in frames.items():
        summary = failure_summary(frame)
        if summary is not None:
            raise SweepFailed(f"figure {plan.name!r}, sweep {label!r}: {summary}")
    fig = FIGURES[plan.name].draw(frames)
    problems = plots.figure_problems(fig)
    for problem in problems:
        warnings.warn(f"figure {plan.name!r}: {problem}", FigureWarning, stacklevel=2)
    paths = plots.save(fig, Path(out) / plan.stem)
    return {"paths": paths, "frames": frames, "failed": 0, "problems": problems}


class FigureWarning(UserWarning):
    """A drawn figure fails a check of :func:`~neon_theory.run.plots.figure_problems` (it is still written)."""


def workspace_path(path: str | Path) -> Path:
    """``path`` resolved the way the CLI resolves it when run from the project's root, wherever
    the caller runs (a notebook runs in ``notebooks/``): an absolute path is kept; a relative one
    is taken from ``$NEON_THEORY_WORKSPACE`` if set, else from the nearest folder at or above the
    working directory that holds a ``pyproject.toml``, else from the working directory."""
    p = Path(path)
    if p.is_absolute():
        return p
    root = os.environ.get("NEON_THEORY_WORKSPACE")
    if root:
        return Path(root) / p
    here = Path.cwd()
    return next((d for d in (here, *here.parents) if (d / "pyproject.toml").is_file()), here) / p


def _seed_label(seeds) -> str:
    seeds = sorted(seeds)
    contiguous = seeds == list(range(seeds[0], seeds[-1] + 1))
    return f"{seeds[0]}-{seeds[-1]}" if contiguous and len(seeds) > 1 else ",".join(map(str, seeds))
