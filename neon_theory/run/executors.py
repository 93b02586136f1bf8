"""Executors: run jobs in this process, a local process pool, Ray, or SLURM through submitit.

Each job depends only on its own config and seed and runs with a fixed number of torch
threads, so records are identical for any executor and number of workers.
"""

from __future__ import annotations

import abc
import importlib
import json
import os
import shutil
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Iterator

from ..checks import check_choice, check_int, check_writable_folder
from .experiments import code_version, get_experiment

#: Limit that keeps a typo from forking a million processes.
MAX_WORKERS = 1024


@dataclass(frozen=True)
class Job:
    """One unit of work, picklable by every executor (the experiment is looked up by module + name)."""

    experiment: str
    module: str
    params: dict
    seed: int
    key: str
    threads: int = 1
    device: str = "cpu"
    imports: tuple = ()  # extensions registered outside the project (a user's sampler or image family)


def run_job(job: Job) -> dict:
    """Run one job and return its record (never raises for an error inside the experiment)."""
    import torch

    from ..device import default_device

    for module in (*job.imports, job.module):  # a fresh worker (spawn, submitit) registers what the job needs
        importlib.import_module(module)
    from .provenance import CONVENTIONS, provenance

    record = {"key": job.key, "experiment": job.experiment, "params": job.params, "seed": job.seed, "code_version": code_version(), "device": job.device}
    # what the record is, in its own words: the code and machine that made it and how to read it (not part of the key)
    record.update(provenance=provenance(job.device), conventions=CONVENTIONS, threads=job.threads)
    threads = torch.get_num_threads()
    torch.set_num_threads(job.threads)
    start = time.perf_counter()
    try:
        exp = get_experiment(job.experiment)
        with default_device(job.device):  # tensors and modules the experiment creates default to the job's device
            result = exp.run(exp.build(job.params), job.seed)
        if not isinstance(result, dict):
            raise ValueError(f"experiment {job.experiment!r} must return a dict; got {type(result).__name__}")
        record.update(status="ok", result=json.loads(json.dumps(result, default=_json_default)), error=None)
    except Exception as e:  # one failing config must not stop the sweep
        record.update(status="error", result=None, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=5))
    finally:
        torch.set_num_threads(threads)
    record["seconds"] = time.perf_counter() - start  # wall time of the job
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
    """In this process (``workers=1``) or in ``workers`` local processes.

    The processes live until :meth:`close`, so the per-process memo of experiments (a trained base
    model shared by many cells) survives across the sweeps run through one executor.  Each job of a
    seed goes to the same process (:func:`worker_of`), in every sweep: a seed's base model and its
    fine-tuned models are then made once, not once per process that happens to draw one of its cells.
    """

    name = "local"

    def __init__(self, workers: int = 1):
        self.workers = check_int("workers", workers, lo=1, hi=MAX_WORKERS)
        self._pools: list[ProcessPoolExecutor] = []

    def map(self, jobs):
        if self.workers == 1:
            for job in jobs:
                yield run_job(job)
            return
        if not jobs:
            return
        while len(self._pools) < min(self.workers, len(jobs)):  # never more processes than jobs
            self._pools.append(ProcessPoolExecutor(max_workers=1))  # one queue per process: jobs keep their process
        places = worker_of(jobs, len(self._pools))
        for f in as_completed([self._pools[i].submit(run_job, j) for j, i in zip(jobs, places)]):
            yield f.result()

    def close(self):
        for pool in self._pools:
            pool.shutdown(cancel_futures=True)
        self._pools = []


def worker_of(jobs: list, workers: int) -> list[int]:
    """The process each job runs in: a job's seed decides (the seeds' rank, round-robin), so the memo of a
    seed's models is filled once; with fewer seeds than processes, the jobs are dealt round-robin instead."""
    seeds = sorted({j.seed for j in jobs})
    if len(seeds) < workers:
        return [i % workers for i in range(len(jobs))]
    rank = {s: r for r, s in enumerate(seeds)}
    return [rank[j.seed] % workers for j in jobs]


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

    ``cluster="slurm"`` submits to SLURM; every other keyword argument goes to submitit's
    ``update_parameters`` as it is: the shared ``timeout_min``, ``mem_gb``, ``gpus_per_node``,
    ``cpus_per_task`` and SLURM's own ``slurm_account``, ``slurm_partition``, ``slurm_qos``, …
    (an unknown name is a ValueError that quotes submitit); ``cluster="local"`` runs the same path in local subprocesses
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
        try:
            self.executor.update_parameters(**parameters)
        except (NameError, AssertionError) as e:  # submitit's way of naming an unknown or mistyped parameter
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ValueError(f"submitit parameters {sorted(parameters)}: {first}") from None
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
