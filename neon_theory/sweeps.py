"""Sweeps: a grid of configs × seeds, each job a pure ``run(config, seed) -> record``, cached on disk.

* An *experiment* is a registered pure function ``run(config, seed) -> dict`` of JSON-safe
  values, with an optional frozen-dataclass config type (see :func:`experiment`).  Sweep
  parameters are that dataclass's fields, so a misspelt or out-of-range field is rejected —
  naming the field — before any job runs (:meth:`SweepSpec.validate`).
* A :class:`SweepSpec` names the experiment, the fixed parameters, the grid of swept
  parameters (sharpness τ/ζ/k/p/γ/steps, |S|, budget, w, …) and the seeds; it round-trips
  through YAML.
* A :class:`ResultStore` keeps one JSON record per job, keyed by a hash of the experiment,
  the full config (defaults included), the seed and the code version (a hash of the
  package sources, :func:`code_version`).  Records are written atomically (temp file +
  rename) and checksummed; a corrupt or truncated file is detected, discarded and recomputed.
  A killed sweep therefore loses no finished record, and a re-run recomputes none of them.
* :func:`run_sweep` runs what is missing or failed through an :class:`Executor` — in this
  process, a local process pool (:class:`LocalExecutor`), Ray (:class:`RayExecutor`) or
  SLURM through submitit (:class:`SubmititExecutor`) — and returns a tidy DataFrame
  (:func:`records_frame`; save it with :func:`save_table` as parquet and/or CSV).  Each job
  depends only on its own config and seed and runs with a fixed number of torch threads, so
  records are identical for any executor and number of workers.  A failing job records its
  error and the rest finish; a re-run retries only the failed ones.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import functools
import hashlib
import importlib
import json
import math
import os
import shutil
import tempfile
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pandas as pd
from tqdm.auto import tqdm

from ._validation import check_choice, check_int, check_path, check_writable_folder, integral
from .config import config_from_dict, config_to_dict


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: ``run(config, seed) -> dict``; ``config`` is a dataclass type or None (plain dict)."""

    name: str
    run: Callable
    config: type | None
    module: str

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


EXPERIMENTS: dict[str, Experiment] = {}


def experiment(name: str, config: type | None = None):
    """Register ``run(config, seed) -> dict`` under ``name`` (a decorator).

    Args:
        name (str): the name a sweep file uses.
        config (type | None): a frozen dataclass; each job's params are built into it (unknown
            fields and invalid values raise ``ValueError``).  ``None`` passes a plain dict.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("experiment name must be a non-empty string")
    if config is not None and not dataclasses.is_dataclass(config):
        raise ValueError(f"config must be a dataclass type or None; got {config!r}")

    def register(f):
        EXPERIMENTS[name] = Experiment(name, f, config, f.__module__)
        return f

    return register


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment {name!r} is not registered; known: {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


# Modules that only present results: editing them does not change any record.
PRESENTATION_MODULES = frozenset({"neon_theory/plots.py", "neon_theory/cli.py", "toy_models/figures.py"})


@functools.cache
def code_version() -> str:
    """``<package version>+<12 hex of a SHA-256 over the sources of neon_theory and toy_models>``.

    Any edit to code that computes records changes the cache key, so a stale record is never
    reused; the presentation-only modules (:data:`PRESENTATION_MODULES`) are left out.
    """
    from . import __version__

    h = hashlib.sha256()
    for package in ("neon_theory", "toy_models"):
        root = Path(importlib.import_module(package).__file__).parent
        for p in sorted(root.rglob("*.py")):
            if p.relative_to(root.parent).as_posix() in PRESENTATION_MODULES:
                continue
            h.update(str(p.relative_to(root.parent)).encode())
            h.update(p.read_bytes())
    return f"{__version__}+{h.hexdigest()[:12]}"


#: Limits that keep a typo from forking a million processes or expanding a billion jobs.
MAX_JOBS = 1_000_000
MAX_WORKERS = 1024
MAX_THREADS = 1024


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: ``experiment`` over the product of ``grid`` values × ``seeds``, with ``fixed`` params.

    Attributes:
        experiment (str): a registered experiment name.
        grid (dict): parameter → non-empty list of values.
        seeds (tuple): seeds in [0, inf).
        fixed (dict): parameters shared by every job.
        threads (int): torch threads per job (results depend on it; default 1).
        module (str | None): a module to import before the experiment is looked up, e.g. the
            user's package that registers it (it must be importable: installed or on PYTHONPATH).
    """

    experiment: str
    grid: dict = field(default_factory=dict)
    seeds: tuple = (0,)
    fixed: dict = field(default_factory=dict)
    threads: int = 1
    module: str | None = None

    def __post_init__(self):
        if not isinstance(self.experiment, str) or not self.experiment:
            raise ValueError("experiment must be a non-empty string")
        if not isinstance(self.grid, dict):
            raise ValueError("grid must map each parameter to a non-empty list of values")
        if not isinstance(self.fixed, dict):
            raise ValueError("fixed must be a mapping of parameter -> value")
        for where, mapping in (("grid", self.grid), ("fixed", self.fixed)):
            odd = [k for k in mapping if not isinstance(k, str)]
            if odd:
                raise ValueError(f"{where} parameter names must be text; got {odd[0]!r} ({type(odd[0]).__name__})")
        for k, v in self.grid.items():
            if not isinstance(v, (list, tuple)) or len(v) == 0:
                raise ValueError(f"grid.{k} must be a non-empty list of values; got {v!r}")
        object.__setattr__(self, "grid", {k: tuple(v) for k, v in self.grid.items()})
        overlap = sorted(set(self.grid) & set(self.fixed))
        if overlap:
            raise ValueError(f"parameters {overlap} appear in both grid and fixed")
        if not isinstance(self.seeds, (list, tuple)) or not self.seeds:
            raise ValueError("seeds must be a non-empty list of integers")
        object.__setattr__(self, "seeds", tuple(check_int("seed", integral(s), lo=0) for s in self.seeds))  # `1e3` in YAML
        if len(set(self.seeds)) < len(self.seeds):  # a repeated seed would count one run twice in every mean ± SE
            raise ValueError(f"seeds must be distinct; got {list(self.seeds)}")
        check_int("threads", self.threads, lo=1, hi=MAX_THREADS)
        if self.module is not None and (not isinstance(self.module, str) or not self.module):
            raise ValueError(f"module must be an importable module name; got {self.module!r}")

    def import_module(self) -> None:
        """Import :attr:`module` (which registers its experiments); a clear ValueError if it cannot be."""
        if self.module is None:
            return
        try:
            importlib.import_module(self.module)
        except Exception as e:  # ImportError, or any error raised while the module runs
            raise ValueError(f"module {self.module!r} named by the sweep cannot be imported: {type(e).__name__}: {e}") from None

    @property
    def n_jobs(self) -> int:
        """How many jobs the sweep expands to (computed without expanding it)."""
        return math.prod(len(v) for v in self.grid.values()) * len(self.seeds)

    def jobs(self) -> list[tuple[dict, int]]:
        """Every (params, seed), in a fixed order (at most :data:`MAX_JOBS`)."""
        if self.n_jobs > MAX_JOBS:
            raise ValueError(f"a sweep may have at most {MAX_JOBS:,} jobs (grid points × seeds); this one has {self.n_jobs:,}")
        names = sorted(self.grid)
        combos = product(*(self.grid[k] for k in names)) if names else [()]
        return [({**self.fixed, **dict(zip(names, c))}, int(s)) for c in combos for s in self.seeds]

    def validate(self) -> list[tuple[dict, int, str]]:
        """Build every job's config before any work starts; returns (canonical params, seed, key).

        Raises:
            ValueError: an unknown experiment, or a job whose params are not a valid config
                (the message names the field and the job).
        """
        self.import_module()
        exp = get_experiment(self.experiment)
        out = []
        for params, seed in self.jobs():
            try:
                canonical = exp.canonical(params)
            except ValueError as e:
                raise ValueError(f"sweep job {params}: {e}") from None
            out.append((canonical, seed, job_key(self.experiment, canonical, seed)))
        return out

    def to_dict(self) -> dict:
        return config_to_dict(self)


@functools.cache
def module_version(module: str) -> str:
    """12 hex of a SHA-256 of ``module``'s source when it lives outside this project (a user's
    experiment), else ``""`` (the project's own code is covered by :func:`code_version`)."""
    path = getattr(importlib.import_module(module), "__file__", None)
    if path is None:
        return ""
    path = Path(path).resolve()
    for package in ("neon_theory", "toy_models"):
        if path.is_relative_to(Path(importlib.import_module(package).__file__).parent.resolve()):
            return ""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def job_key(experiment_name: str, params: dict, seed: int, version: str | None = None) -> str:
    """The cache key: SHA-256 of (experiment, canonical params, seed, code version).

    The code version covers this project's sources and, for an experiment registered from
    another module (a user's package), that module's source too: editing it invalidates its
    records.
    """
    if version is None:
        exp = EXPERIMENTS.get(experiment_name)
        extra = module_version(exp.module) if exp is not None else ""
        version = code_version() + (f"+{extra}" if extra else "")
    payload = json.dumps({"e": experiment_name, "p": params, "s": seed, "v": version}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _checksum(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class CorruptRecordWarning(UserWarning):
    """Some cached records were corrupt or truncated: they were discarded and are recomputed."""


class SweepFailed(RuntimeError):
    """Some jobs of a sweep failed; the message names how many and the first error with its job."""


def failure_summary(df: pd.DataFrame) -> str | None:
    """One line: how many jobs of a sweep table failed and the first error with its job (``None`` if none)."""
    if df.empty or "status" not in df:
        return None
    bad = df[df.status != "ok"]
    if bad.empty:
        return None
    first = bad.iloc[0]
    params = {k: v.item() if hasattr(v, "item") else v for k, v in first.items() if k not in ("seed", "status", "error") and not str(k).startswith("result.")}
    return (
        f"{len(bad)} of {len(df)} job(s) failed; the first, {params} with seed {first['seed']}: {first['error']} "
        "(the others are cached: a re-run retries only the failed jobs)"
    )


class ResultStore:
    """One JSON record per job under ``root``, written atomically and checksummed.

    Attributes:
        discarded (int): corrupt or truncated record files found (and removed) by :meth:`get`.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = check_writable_folder("store", root)
        self.discarded = 0

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored record, or ``None`` if absent or corrupt (a corrupt file is removed)."""
        p = self.path(key)
        if not p.exists():
            return None
        try:
            record = json.loads(p.read_text())
            if not isinstance(record, dict) or record.get("checksum") != _checksum(record) or record.get("key") != key:
                raise ValueError("checksum mismatch")
            return record
        except (ValueError, OSError, UnicodeDecodeError):
            if p.is_dir():  # a folder in a record's place is discarded too
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
            self.discarded += 1
            return None

    def keys(self) -> list[str]:
        """Keys of the record files present (in-flight temp files excluded; contents not checked)."""
        return sorted(p.stem for p in self.root.glob("*/*.json") if not p.name.startswith(".tmp-"))

    def put(self, record: dict) -> None:
        record = dict(record)
        record["checksum"] = _checksum(record)
        p = self.path(record["key"])
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(record, f, sort_keys=True, default=str, allow_nan=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, p)  # atomic on POSIX: readers see the old file or the new one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class Job:
    """One unit of work, picklable by every executor (the experiment is looked up by module + name)."""

    experiment: str
    module: str
    params: dict
    seed: int
    key: str
    threads: int = 1


def run_job(job: Job) -> dict:
    """Run one job and return its record (never raises for an error inside the experiment)."""
    import torch

    importlib.import_module(job.module)  # registers the experiment in a fresh worker
    record = {"key": job.key, "experiment": job.experiment, "params": job.params, "seed": job.seed, "code_version": code_version()}
    threads = torch.get_num_threads()
    torch.set_num_threads(job.threads)
    start = time.perf_counter()
    try:
        exp = get_experiment(job.experiment)
        result = exp.run(exp.build(job.params), job.seed)
        if not isinstance(result, dict):
            raise ValueError(f"experiment {job.experiment!r} must return a dict; got {type(result).__name__}")
        record.update(status="ok", result=json.loads(json.dumps(result, default=_json_default)), error=None)
    except Exception as e:  # one failing config must not stop the sweep
        record.update(status="error", result=None, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=5))
    finally:
        torch.set_num_threads(threads)
    record["seconds"] = time.perf_counter() - start
    return record


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(f"the {module} executor needs {module}: pip install 'neon-theory[cluster]'") from None


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"result value of type {type(o).__name__} is not JSON-serialisable")


class Executor(abc.ABC):
    """Runs jobs and yields their records as they complete (in any order)."""

    name: str = "abstract"

    @abc.abstractmethod
    def map(self, jobs: list[Job]) -> Iterator[dict]: ...

    def close(self) -> None:  # noqa: B027 (a hook with a default, not an abstract method)
        """Release what the executor started (default: nothing)."""


class LocalExecutor(Executor):
    """In this process (``workers=1``) or in a local process pool.

    The pool lives until :meth:`close`, so the per-process memo of experiments (a trained base
    model shared by many cells) survives across the sweeps run through one executor.
    """

    name = "local"

    def __init__(self, workers: int = 1):
        self.workers = check_int("workers", workers, lo=1, hi=MAX_WORKERS)
        self._pool: ProcessPoolExecutor | None = None

    def map(self, jobs):
        if self.workers == 1:
            for job in jobs:
                yield run_job(job)
            return
        if not jobs:
            return
        if self._pool is None:  # never more processes than jobs
            self._pool = ProcessPoolExecutor(max_workers=min(self.workers, len(jobs)))
        for f in as_completed([self._pool.submit(run_job, j) for j in jobs]):
            yield f.result()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class RayExecutor(Executor):
    """Ray tasks, one CPU each.  Starts a local Ray instance (``num_cpus=workers``) unless
    ``address`` names a running cluster (e.g. ``"auto"``) or Ray is already initialised."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None):
        ray = _require("ray")

        self.workers = None if workers is None else check_int("workers", workers, lo=1, hi=MAX_WORKERS)
        self._started = False
        if not ray.is_initialized():
            _check_reachable(address)
            kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            if address is None:
                kwargs["num_cpus"] = self.workers or os.cpu_count()
            try:
                ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError, TimeoutError, ValueError) as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                where = "a local Ray instance" if address is None else f"the Ray cluster at address {address!r}"
                raise ValueError(f"cannot start or reach {where}: {first}") from None
            self._started = True
        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_job)

    def map(self, jobs):
        import ray

        pending = [self._remote.remote(j) for j in jobs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])

    def close(self):
        import ray

        if self._started:
            ray.shutdown()
            self._started = False


def _check_reachable(address: str | None, timeout_s: float = 5.0) -> None:
    """Fail fast, in one line, when a ``host:port`` Ray address does not answer (Ray itself retries for minutes)."""
    import socket

    if address is None or address in ("auto", "local") or "://" in address or address.count(":") != 1:
        return
    host, port = address.rsplit(":", 1)
    if not port.isdigit():
        raise ValueError(f"a Ray address must be 'auto' or host:port; got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise ValueError(f"cannot reach the Ray cluster at address {address!r} within {timeout_s:g} s: {e.strerror or e}") from None


class SubmititExecutor(Executor):
    """SLURM through submitit: one array job, one task per job.

    ``cluster="slurm"`` submits to SLURM (``slurm_*`` keyword arguments go to
    ``update_parameters``); ``cluster="local"`` runs the same path in local subprocesses
    (what the tests use); ``None`` lets submitit pick.
    """

    name = "slurm"

    def __init__(
        self, folder: str | os.PathLike = "results/submitit", cluster: str | None = "slurm", workers: int | None = None, poll_s: float = 1.0, **parameters
    ):
        submitit = _require("submitit")
        if cluster is not None:
            check_choice("cluster", cluster, ("slurm", "local", "debug"))
        if cluster == "slurm" and shutil.which("sbatch") is None:  # submitit submits with sbatch
            raise ValueError(
                "cluster 'slurm' needs SLURM's sbatch command on PATH and none was found; run where SLURM is "
                "installed, or use cluster 'local' to run the same path in local processes"
            )
        check_writable_folder("folder", folder)
        self.executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        if workers is not None:
            parameters.setdefault("slurm_array_parallelism", check_int("workers", workers, lo=1, hi=MAX_WORKERS))
        if cluster == "local":
            parameters = {k: v for k, v in parameters.items() if not k.startswith("slurm_")}
        parameters.setdefault("timeout_min", 60)
        self.executor.update_parameters(**parameters)
        self.poll_s = poll_s

    def map(self, jobs):
        from submitit.helpers import as_completed as submitit_completed

        if not jobs:
            return
        handles = self.executor.map_array(run_job, jobs)
        for h in submitit_completed(handles, poll_frequency=self.poll_s):
            yield h.result()


EXECUTORS = ("local", "ray", "slurm")


def make_executor(kind: str, workers: int = 1, **options) -> Executor:
    """``local`` | ``ray`` | ``slurm`` (submitit) with ``workers`` parallel jobs."""
    check_choice("executor", kind, EXECUTORS)
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(workers, address=options.get("address"))
    return SubmititExecutor(workers=workers, **options)


def run_sweep(
    spec: SweepSpec,
    store: ResultStore,
    *,
    workers: int = 1,
    executor: Executor | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run the missing or failed jobs of ``spec`` and return every record as a tidy DataFrame.

    Every job is validated first (:meth:`SweepSpec.validate`); each finished record is written
    to ``store`` as soon as it arrives.  ``executor`` defaults to ``LocalExecutor(workers)``.

    Returns:
        DataFrame: one row per job, columns: the parameters, ``seed``, ``status``, ``error``
        and ``result.<field>`` per result field (see :func:`records_frame`).
    """
    if not isinstance(spec, SweepSpec):
        raise ValueError(f"spec must be a SweepSpec; got {type(spec).__name__}")
    if not isinstance(store, ResultStore):
        raise ValueError(f"store must be a ResultStore; got {type(store).__name__}")
    planned = spec.validate()
    exp = get_experiment(spec.experiment)
    own = executor is None
    executor = LocalExecutor(workers) if own else executor
    discarded_before = store.discarded
    todo = [
        Job(spec.experiment, exp.module, p, s, k, spec.threads)
        for p, s, k in planned
        if (r := store.get(k)) is None or r["status"] != "ok"
    ]
    if store.discarded > discarded_before:
        warnings.warn(
            f"{store.discarded - discarded_before} corrupt or truncated record(s) in store {str(store.root)!r} "
            "were discarded and are recomputed",
            CorruptRecordWarning,
            stacklevel=2,
        )
    failed = 0
    with tqdm(total=len(todo), disable=not progress or not todo, desc=f"sweep {spec.experiment} [{executor.name}]", unit="job") as bar:
        try:
            for record in executor.map(todo):
                store.put(record)
                failed += record["status"] != "ok"
                bar.set_postfix(failed=failed, refresh=False)
                bar.update()
        finally:
            if own:
                executor.close()
    return records_frame([store.get(k) for _, _, k in planned])


def records_frame(records: Iterable[dict | None]) -> pd.DataFrame:
    """Flatten records into one row each: the params, seed, status, error and ``result.<field>`` columns."""
    rows = []
    for r in records:
        if r is None:
            continue
        row = dict(r["params"], seed=r["seed"], status=r["status"], error=r.get("error"))
        row.update({f"result.{k}": v for k, v in (r.get("result") or {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def save_table(df: pd.DataFrame, path: str | os.PathLike, *, csv: str | os.PathLike | None = None) -> list[Path]:
    """Write ``df`` as parquet (``.parquet``) or CSV (``.csv``) at ``path``, plus an optional CSV export.

    Written atomically.  List-valued cells are kept as lists in parquet and JSON-encoded in CSV.
    """
    out = []
    for target in [path] + ([csv] if csv is not None else []):
        target = check_path("path" if target is path else "csv", target)
        check_choice("table suffix", target.suffix, (".parquet", ".csv"))
        tmp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.suffix == ".parquet":
                df.to_parquet(tmp, index=False)
            else:
                df.map(lambda v: json.dumps(v) if isinstance(v, (list, dict)) else v).to_csv(tmp, index=False)
            os.replace(tmp, target)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise ValueError(f"cannot write the table {str(target)!r}: {e.strerror or e}") from None
        out.append(target)
    return out


def load_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table written by :func:`save_table` (parquet or CSV); a clear ValueError if unreadable."""
    path = check_path("path", path)
    check_choice("table suffix", path.suffix, (".parquet", ".csv"))
    if not path.is_file():
        raise ValueError(f"results file {str(path)!r} does not exist")
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as e:  # pyarrow and pandas raise many kinds for a corrupt file
        raise ValueError(f"results file {str(path)!r} is not a readable {path.suffix[1:]} table: {type(e).__name__}: {e}") from None
