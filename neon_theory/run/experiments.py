"""Experiments: registered pure functions ``run(config, seed) -> dict``, and the cache key of one job.

* An *experiment* is a registered pure function ``run(config, seed) -> dict`` of JSON-safe
  values, with an optional frozen-dataclass config type (see :func:`experiment`).  Sweep
  parameters are that dataclass's fields, so a misspelt or out-of-range field is rejected,
  naming the field, before any job runs.
* The cache key (:func:`job_key`) hashes the experiment, the full config (defaults included),
  the seed and the version of the code that computes the record: this package's engine
  (:func:`code_version`) and the package that registered the experiment, wherever it lives
  (:func:`package_version`: the code its module imports).  Editing either invalidates the
  records; editing a module that only presents results (the run layer, a study's figures or
  commands, which no cell imports) does not.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import json
import os
import re
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import config_from_dict, config_to_dict


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: ``run(config, seed) -> dict``; ``config`` is a dataclass type or None (plain dict);
    ``results`` maps each field a record's ``result`` may hold to its one-line meaning."""

    name: str
    run: Callable
    config: type | None
    module: str
    results: dict = dataclasses.field(default_factory=dict)

    def build(self, params: dict):
        """The config object for ``params`` (a ValueError names a bad field)."""
        if self.config is None:
            return dict(params)
        return config_from_dict(self.config, dict(params))

    def canonical(self, params: dict) -> dict:
        """The params with every default filled in (what the cache key hashes)."""
        if self.config is None:
            return dict(params)
        return config_to_dict(self.build(params))

    def fields(self) -> list[FieldInfo]:
        """The sweep parameters: each config field's name, type, default and documented range
        (from the ``Attributes:`` section of the config's docstring); empty for a plain dict."""
        if self.config is None:
            return []
        docs = attribute_docs(self.config.__doc__ or "")
        hints = typing.get_type_hints(self.config)
        out = []
        for f in dataclasses.fields(self.config):
            if not f.init:
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = None
            kind = hints.get(f.name, f.type)
            out.append(FieldInfo(f.name, getattr(kind, "__name__", None) or str(kind), _plain_default(default), docs.get(f.name, "")))
        return out


@dataclass(frozen=True)
class FieldInfo:
    """One sweep parameter of an experiment: ``name``, ``type`` (as text), ``default`` (JSON-safe;
    ``None`` if required) and ``doc``, the docstring's line for it (its meaning and accepted range)."""

    name: str
    type: str
    default: object
    doc: str


def _plain_default(v):
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return config_to_dict(v)
    if isinstance(v, tuple):
        return list(v)
    return v


_ATTRIBUTE_LINE = re.compile(r"^(?P<names>[A-Za-z_][\w, ]*?)\s*(?:\((?P<type>[^)]*)\))?:\s*(?P<doc>.*)$")


def attribute_docs(doc: str) -> dict[str, str]:
    """Field name → its text in a Google-style ``Attributes:`` section (continuation lines joined;
    ``a, b (int): ...`` documents both ``a`` and ``b``)."""
    lines = doc.expandtabs().splitlines()
    out: dict[str, str] = {}
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Attributes:")
    except StopIteration:
        return out
    indent, current = None, []
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
        if depth < indent:  # the section ended
            break
        m = _ATTRIBUTE_LINE.match(line.strip()) if depth == indent else None
        if m:
            current = [n.strip() for n in m["names"].split(",") if n.strip()]
            for n in current:
                out[n] = m["doc"].strip()
        else:
            for n in current:
                out[n] = f"{out[n]} {line.strip()}".strip()
    return out


EXPERIMENTS: dict[str, Experiment] = {}


def experiment(name: str, config: type | None = None, results: dict[str, str] | None = None):
    """Register ``run(config, seed) -> dict`` under ``name`` (a decorator).

    Args:
        name (str): the name a sweep file uses.
        config (type | None): a frozen dataclass; each job's params are built into it (unknown
            fields and invalid values raise ``ValueError``).  ``None`` passes a plain dict.
        results (dict | None): result field → its meaning in one line (what ``neon-theory list
            experiments NAME`` shows): every field the records may hold, those present only
            with some options included.  A dict, so experiments that share fields share entries.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("experiment name must be a non-empty string")
    if config is not None and not dataclasses.is_dataclass(config):
        raise ValueError(f"config must be a dataclass type or None; got {config!r}")
    results = dict(results or {})
    if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in results.items()):
        raise ValueError(f"results must map each result field's name to a non-empty line of text; got {results!r}")

    def register(f):
        refuse_override("experiment", name, EXPERIMENTS[name].module if name in EXPERIMENTS else None, f.__module__)
        EXPERIMENTS[name] = Experiment(name, f, config, f.__module__, results)
        return f

    return register


def refuse_override(kind: str, name: str, old_module: str | None, new_module: str | None) -> None:
    """Raise if ``name`` is already registered from another module (re-registering from the same one, a re-import, is fine)."""
    if old_module is not None and old_module != new_module:
        raise ValueError(f"{kind} {name!r} is already registered by {old_module}; {new_module} must choose another name")


def get_experiment(name: str) -> Experiment:
    """The experiment registered as ``name``; the installed packages' experiments are loaded first if needed."""
    if name not in EXPERIMENTS:
        from . import plugins

        plugins.load("neon_theory.experiments")
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment {name!r} is not registered; known: {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def _sources_hash(root: Path, files) -> str:
    h = hashlib.sha256()
    for p in sorted(set(files)):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _package_root(module: str) -> Path | None:
    """The folder of ``module``'s top-level package, or its file if it is a top-level module.

    Under a namespace package (no ``__init__.py`` at the top) it is the outermost regular
    package on the way down to ``module``, or ``module``'s own file.
    """
    parts = module.split(".")
    for depth in range(1, len(parts) + 1):
        path = getattr(importlib.import_module(".".join(parts[:depth])), "__file__", None)
        if path is not None:
            path = Path(path).resolve()
            return path.parent if path.name == "__init__.py" else path
    return None  # built in: nothing to hash


#: The folder of the engine that presents and orchestrates (CLI, plots, figures, sweeps, the
#: store): left out of :func:`code_version`, apart from the job runner (``executors.py`` and what
#: it imports).  What of it a cell imports (its registry and configs) is in the cell's
#: :func:`package_version`.
RUN_LAYER = "run"


@functools.cache
def code_version() -> str:
    """``<package version>+<12 hex of a SHA-256 over the engine's sources>``: every ``.py`` of
    ``neon_theory`` outside its run layer (:data:`RUN_LAYER`), and the run layer's job runner
    (``run/executors.py`` and what it imports: the device context, threads and JSON a record is
    made with).

    Any edit to the engine changes the cache key, so a stale record is never reused; an edit to
    the presentation (a table, a plot, the CLI) does not.
    """
    from .. import __version__

    root = _package_root(__name__)
    files = [p for p in root.rglob("*.py") if p.relative_to(root).parts[0] != RUN_LAYER]
    files += [p for p in import_closure(f"{__package__}.executors") if RUN_LAYER in p.relative_to(root).parts[:1]]
    return f"{__version__}+{_sources_hash(root.parent, files)}"


#: this project's top-level packages: the engine, the model families, the studies
PROJECT_PACKAGES = ("neon_theory", "toy_models", "studies")


def _first_party(module: str) -> frozenset[str]:
    """The top-level import names whose code can change a record of ``module``'s experiments: the
    packages of ``module``'s own distribution and of neon-theory's (its engine, families and
    studies), and ``module``'s own top-level package when it is not installed (a folder on sys.path)."""
    from importlib.metadata import packages_distributions

    top = module.split(".")[0]
    dists = packages_distributions()
    ours = set(dists.get(top, ())) | set(dists.get(__name__.split(".")[0], ()))
    # the project's own packages count whether or not it is installed (a checkout on sys.path has no metadata)
    return frozenset({name for name, ds in dists.items() if ours & set(ds)} | {top} | set(PROJECT_PACKAGES))


def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a parent that is not a package, or a name that is no module
        return None
    if spec is None or not spec.has_location or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin).resolve()


def _imported_modules(path: Path, name: str) -> set[str]:
    """Every module the source of ``name`` (at ``path``) imports, anywhere in the file, with relative
    imports resolved, and ``from a import b`` read as the module ``a.b`` where ``b`` is one."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level else node.module
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return out


def import_closure(module: str) -> list[Path]:
    """The source files whose code runs when ``module`` and what it imports run, within the project's
    own packages (:func:`_first_party`): ``module``, every first-party module it imports (at the top
    or inside a function), their packages' ``__init__.py``, and so on transitively."""
    first_party = _first_party(module)
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__.py and a/b/__init__.py too
            sub = ".".join(parts[:depth])
            if sub in seen or parts[0] not in first_party:
                continue
            path = _module_file(sub)
            if path is None:
                continue
            seen[sub] = path
            todo.extend(_imported_modules(path, sub))
    return sorted(set(seen.values()))


@functools.cache
def package_version(module: str) -> str:
    """12 hex of a SHA-256 over the sources that can change a record of ``module``'s experiments:
    its :func:`import_closure` (a study's cell, the shared study modules and model families it
    imports, the engine modules it reaches); ``""`` for this package's own modules (covered by
    :func:`code_version`).

    A figure or command module that the cell does not import is not in it: editing one keeps
    the records; editing the cell, a family it builds or a helper it calls invalidates them.
    """
    root = _package_root(module)
    if root is None or root == _package_root(__name__):
        return ""
    files = import_closure(module)
    common = Path(os.path.commonpath([p.parent for p in files])) if files else root.parent
    return _sources_hash(common, files)


#: modules outside the project's packages whose code computes records though no cell imports them
#: (a user's image family, say): :func:`register_code` adds them, and :func:`extension_modules` reads them
CODE_MODULES: set[str] = set()


def register_code(module: str) -> None:
    """Declare that ``module``'s code computes records (an extension a registry calls, which no cell
    imports): its import closure joins every cache key, and every worker imports it before a job."""
    if not isinstance(module, str) or not module:
        raise ValueError(f"module must be a module name; got {module!r}")
    CODE_MODULES.add(module)


def extension_modules() -> tuple[str, ...]:
    """The modules outside this project's packages that registered a sampler name, a sampler's
    implementation or other record-computing code (:func:`register_code`) in this process: their
    code changes records although no cell imports them."""
    from ..sampler_text import SAMPLER_NAMES
    from ..samplers import IMPLEMENTATIONS

    found = set(CODE_MODULES) | {e.spec_type.__module__ for e in SAMPLER_NAMES.values()}
    found |= {m for impl in IMPLEMENTATIONS.values() for m in impl.modules()}
    # a module no longer loaded (unimported by a test, say) registers nothing a job could use
    return tuple(sorted(m for m in found if m.split(".")[0] not in PROJECT_PACKAGES and m != "__main__" and m in sys.modules))


@functools.cache
def _extensions_version(modules: tuple[str, ...]) -> str:
    files = sorted({p for m in modules for p in import_closure(m)})
    if not files:
        return ""
    return _sources_hash(Path(os.path.commonpath([p.parent for p in files])), files)


def job_key(experiment_name: str, params: dict, seed: int, version: str | None = None, device: str = "cpu") -> str:
    """The cache key: SHA-256 of (experiment, canonical params, seed, code version[, device]).

    A record computed on another device than the CPU gets its own key (its numbers differ in
    the last bits); CPU keys do not name the device.

    The code version covers the engine (:func:`code_version`), the code the experiment's module
    imports (:func:`package_version`), and the extensions registered from outside the project
    (:func:`extension_modules`): editing any of them invalidates the records.
    """
    if version is None:
        exp = EXPERIMENTS.get(experiment_name)
        extra = package_version(exp.module) if exp is not None else ""
        extensions = _extensions_version(extension_modules())
        version = code_version() + (f"+{extra}" if extra else "") + (f"+x{extensions}" if extensions else "")
    body = {"e": experiment_name, "p": params, "s": seed, "v": version} | ({} if device == "cpu" else {"d": device})
    payload = json.dumps(body, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()

