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

import dataclasses
import datetime
import importlib
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from itertools import product

import pandas as pd

from ..checks import check_int, integral, seed_list
from ..progress import tqdm
from .config import config_to_dict

# The sweep API in one import: the names of the experiment registry, the store and the
# executors are re-exported here (``from neon_theory.run.sweeps import experiment, ResultStore``).
from .executors import EXECUTORS, MAX_WORKERS, Executor, Job, LocalExecutor, RayExecutor, SubmititExecutor, make_executor, run_job
from .experiments import EXPERIMENTS, Experiment, code_version, experiment, extension_modules, get_experiment, job_key, package_version
from .plan import Plan
from .store import CorruptRecordWarning, ResultStore, load_table, records_frame, save_table

__all__ = [
    "EXECUTORS", "EXPERIMENTS", "MAX_JOBS", "MAX_THREADS", "MAX_WORKERS", "CorruptRecordWarning", "Executor", "Experiment", "Job",
    "LocalExecutor", "RayExecutor", "ResultStore", "SubmititExecutor", "SweepFailed", "SweepSpec", "code_version", "experiment",
    "failure_summary", "get_experiment", "job_key", "load_table", "make_executor", "package_version", "records_frame", "run_job",
    "run_sweep", "save_table", "SweepPlan", "plan_sweep", "Plan", "device_name",
]

#: Limits that keep a typo from expanding a billion jobs or asking for absurd thread counts.
MAX_JOBS = 1_000_000
MAX_THREADS = 1024


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: ``experiment`` over the product of ``grid`` values × ``seeds``, with ``fixed`` params.

    Attributes:
        experiment (str): a registered experiment name.
        grid (dict): parameter → non-empty list of values.
        seeds (tuple): seeds in [0, inf); a sweep file may also write them as the CLI's ``--seeds``
            does, ``0-4`` (a range, both ends included) or ``0,2,5``.
        fixed (dict): parameters shared by every job.
        threads (int): torch threads per job (results depend on it; default 1).
        module (str | None): a module to import before the experiment is looked up, e.g. the
            user's package that registers it (it must be importable: installed or on PYTHONPATH).
        device (str): where the jobs run: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto`` (CUDA if
            present).  Tensors a job creates default to it; a record made on another device
            than the CPU has its own cache key (the numbers differ in the last bits).
        slurm (dict): submitit parameters for ``--executor slurm``, as submitit names them:
            ``timeout_min``, ``mem_gb``, ``gpus_per_node``, ``cpus_per_task``, ``slurm_account``,
            ``slurm_partition``, ``slurm_qos``, …  The CLI's ``--slurm-*`` options override them.
            They change where jobs run, never a record.
    """

    experiment: str
    grid: dict = field(default_factory=dict)
    seeds: tuple = (0,)
    fixed: dict = field(default_factory=dict)
    threads: int = 1
    module: str | None = None
    device: str = "cpu"
    slurm: dict = field(default_factory=dict)

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
        if isinstance(self.seeds, str):
            object.__setattr__(self, "seeds", seed_list("seeds", self.seeds))
        if not isinstance(self.seeds, (list, tuple)) or not self.seeds:
            raise ValueError(f"seeds must be a non-empty list of integers in [0, inf), or a range such as '0-4'; got {self.seeds!r}")
        object.__setattr__(self, "seeds", tuple(check_int("seed", integral(s), lo=0) for s in self.seeds))  # `1e3` in YAML
        if len(set(self.seeds)) < len(self.seeds):  # a repeated seed would count one run twice in every mean ± SE
            raise ValueError(f"seeds must be distinct; got {list(self.seeds)}")
        check_int("threads", self.threads, lo=1, hi=MAX_THREADS)
        if self.module is not None and (not isinstance(self.module, str) or not self.module):
            raise ValueError(f"module must be an importable module name; got {self.module!r}")
        if not isinstance(self.slurm, dict) or not all(isinstance(k, str) and k for k in self.slurm):
            raise ValueError(f"slurm must map submitit parameter names (timeout_min, mem_gb, slurm_account, ...) to values; got {self.slurm!r}")
        if not isinstance(self.device, str):
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'; got {self.device!r}")

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
        return list(self.plan().jobs)

    def plan(self, device=None) -> Plan:
        """The sweep validated once (:meth:`validate`), its device resolved once: the :class:`Plan` that
        :func:`run_sweep` and :func:`plan_sweep` take instead of checking the spec again.

        Args:
            device: a ``torch.device`` the caller has already resolved (``--device``); it replaces
                :attr:`device` and is not resolved again.  ``None`` resolves :attr:`device`.

        Raises:
            ValueError: as :meth:`validate`, or a device this machine lacks.
        """
        spec = self if device is None else dataclasses.replace(self, device=str(device))
        spec.import_module()
        exp = get_experiment(spec.experiment)
        resolved = spec.resolved_device() if device is None else device_name(device)
        jobs = []
        for params, seed in spec.jobs():
            try:
                canonical = exp.canonical(params)
            except ValueError as e:
                raise ValueError(f"sweep job {params}: {e}") from None
            jobs.append((canonical, seed, job_key(spec.experiment, canonical, seed, device=resolved)))
        return Plan(spec, resolved, tuple(jobs))

    def resolved_device(self) -> str:
        """:attr:`device` with ``auto`` resolved on this machine (a ValueError if it is not available)."""
        from ..device import resolve_device

        return device_name(resolve_device(self.device))

    def to_dict(self) -> dict:
        return config_to_dict(self)


def device_name(device) -> str:
    """A resolved ``torch.device`` as cache keys and records name it."""
    import torch

    if device.type == "cuda" and device.index is None:  # 'cuda' and 'cuda:0' are one device: one cache key
        device = torch.device("cuda", torch.cuda.current_device())
    return str(device)


def _planned(spec) -> Plan:
    """``spec`` as a :class:`Plan`: a spec is validated now, a plan was validated already."""
    if isinstance(spec, Plan):
        return spec
    if not isinstance(spec, SweepSpec):
        raise ValueError(f"spec must be a SweepSpec or its Plan; got {type(spec).__name__}")
    return spec.plan()


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


@dataclass(frozen=True)
class SweepPlan:
    """What :func:`run_sweep` would do, found without running anything (``sweep --dry-run``).

    Attributes:
        jobs (int): grid points × seeds.
        cached (int): jobs with a finished (``ok``) record in the store: not run again.
        failed (int): jobs whose stored record failed: run again.
        todo (int): jobs to run (missing or failed).
        seconds_per_job (float | None): the median wall time of the stored records of this
            experiment (this sweep's own first, else any in the store); ``None`` if there are none.
        basis (str): where that median comes from, in words.
    """

    jobs: int
    cached: int
    failed: int
    todo: int
    seconds_per_job: float | None
    basis: str

    def estimate_seconds(self, workers: int = 1) -> float | None:
        """Wall time to run :attr:`todo` jobs on ``workers`` parallel workers (``None`` if unknown)."""
        if self.seconds_per_job is None:
            return None
        return self.seconds_per_job * math.ceil(self.todo / check_int("workers", workers, lo=1))


#: At most this many stored records are read to estimate the time of a job never run before.
ESTIMATE_SCAN = 2000


def plan_sweep(spec: SweepSpec | Plan, store: ResultStore) -> SweepPlan:
    """Count the jobs of ``spec`` (or its :class:`Plan`) that the store already holds and estimate the time of the rest."""
    plan = _planned(spec)
    spec, planned = plan.spec, plan.jobs
    records = [store.get(k, discard=False) for _, _, k in planned]  # read-only: nothing is removed
    cached = [r for r in records if r is not None and r["status"] == "ok"]
    failed = sum(r is not None and r["status"] != "ok" for r in records)
    times, basis = [r["seconds"] for r in cached if isinstance(r.get("seconds"), (int, float))], "this sweep's stored records"
    if not times:
        times, basis = _stored_times(store, spec.experiment), f"stored records of {spec.experiment} with other settings"
    seconds = float(pd.Series(times).median()) if times else None
    if seconds is not None:
        basis = f"the median of {len(times)} {basis}"
    else:
        basis = f"no record of {spec.experiment} in the store yet"
    return SweepPlan(len(planned), len(cached), failed, len(planned) - len(cached), seconds, basis)


def _stored_times(store: ResultStore, experiment: str) -> list[float]:
    times = []
    for key in store.keys()[:ESTIMATE_SCAN]:
        r = store.get(key, discard=False)
        if r is not None and r.get("experiment") == experiment and r.get("status") == "ok" and isinstance(r.get("seconds"), (int, float)):
            times.append(float(r["seconds"]))
    return times


def run_sweep(
    spec: SweepSpec | Plan,
    store: ResultStore,
    *,
    workers: int = 1,
    executor: Executor | None = None,
    progress: bool = True,
    log: bool = True,
    on_record=None,
) -> pd.DataFrame:
    """Run the missing or failed jobs of ``spec`` and return every record as a tidy DataFrame.

    Every job is validated first (:meth:`SweepSpec.plan`; a :class:`Plan` was validated already);
    each finished record is written
    to ``store`` as soon as it arrives.  ``executor`` defaults to ``LocalExecutor(workers)``.
    With ``log`` (default) a line per finished job goes to a log file of this run under
    ``<store>/logs/``; ``on_record(record)`` is called for each finished record (``--verbose``).

    Returns:
        DataFrame: one row per job, columns: the parameters, ``seed``, ``status``, ``error``
        and ``result.<field>`` per result field (see :func:`records_frame`).  Its ``attrs``
        say how many jobs came from the cache (``cached``), how many ran (``ran``) and the
        log file (``log``, or ``None``).
    """
    if not isinstance(spec, (SweepSpec, Plan)):
        raise ValueError(f"spec must be a SweepSpec or its Plan; got {type(spec).__name__}")
    if not isinstance(store, ResultStore):
        raise ValueError(f"store must be a ResultStore; got {type(store).__name__}")
    plan = _planned(spec)
    spec, planned = plan.spec, plan.jobs
    exp = get_experiment(spec.experiment)  # registered: the plan looked it up
    imports = extension_modules()
    own = executor is None
    executor = LocalExecutor(workers) if own else executor
    discarded_before = store.discarded
    todo = [
        Job(spec.experiment, exp.module, p, s, k, spec.threads, plan.device, imports)
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
    logger = _SweepLog(store, plan, executor.name, len(todo)) if log and todo else None
    with tqdm(total=len(todo), disable=not progress or not todo, desc=f"sweep {spec.experiment} [{executor.name}]", unit="job") as bar:
        try:
            for record in executor.map(todo):
                store.put(record)
                failed += record["status"] != "ok"
                if logger is not None:
                    logger.record(record)
                if on_record is not None:
                    on_record(record)
                bar.set_postfix(failed=failed, refresh=False)
                bar.update()
        finally:
            if own:
                executor.close()
            if logger is not None:
                logger.close(failed)
    df = records_frame([store.get(k) for _, _, k in planned])
    df.attrs.update(cached=len(planned) - len(todo), ran=len(todo), log=None if logger is None else str(logger.path))
    return df


def job_line(r: dict) -> str:
    """One line for a finished job: its key, seed, params, wall time and status (the log and ``--verbose``)."""
    what = "ok" if r["status"] == "ok" else f"{r['status']}: {r.get('error')}"
    return f"job {r['key'][:12]} seed={r['seed']} params={json.dumps(r['params'], sort_keys=True, default=str)} {r.get('seconds', 0):.2f} s {what}"


class _SweepLog:
    """A plain-text log of one run of a sweep: its spec and provenance, then a line per finished job."""

    def __init__(self, store: ResultStore, plan: Plan, executor: str, n_todo: int):
        from .provenance import provenance

        spec, n_jobs = plan.spec, len(plan.jobs)
        folder = store.root / "logs"
        folder.mkdir(exist_ok=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%f")  # two runs in one second get two logs
        self.path = folder / f"{stamp}-{spec.experiment}-{os.getpid()}.log"
        self._file = self.path.open("a", encoding="utf-8")
        self._write(f"sweep {spec.experiment}: {n_jobs} jobs, {n_jobs - n_todo} from the cache, {n_todo} to run [{executor}]")
        self._write("spec " + json.dumps(spec.to_dict(), sort_keys=True, default=str))
        self._write("provenance " + json.dumps(provenance(plan.device), sort_keys=True, default=str))

    def _write(self, line: str) -> None:
        self._file.write(f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')} {line}\n")
        self._file.flush()

    def record(self, r: dict) -> None:
        self._write(job_line(r))

    def close(self, failed: int) -> None:
        self._write(f"done: {failed} failed")
        self._file.close()
