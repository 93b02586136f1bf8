"""Sweeps: a grid of configs × seeds, run by a pure ``run(params, seed) -> record``, cached on disk.

* An *experiment* is a registered pure function ``f(params: dict, seed: int) -> dict`` of
  JSON-safe scalars (see :func:`experiment`).
* A :class:`SweepSpec` names the experiment, the fixed parameters, the grid of swept
  parameters and the seeds; it round-trips through YAML.
* A :class:`ResultStore` keeps one JSON record per (experiment, params, seed, code version),
  keyed by a content hash and written atomically (temp file + rename).  Every record carries
  a checksum; a corrupt or truncated file is detected, discarded and recomputed.
* :func:`run_sweep` runs what is missing — in this process (``workers=1``) or in a local
  process pool — and returns a tidy DataFrame.  Each job depends only on its own params and
  seed, so results are identical for any number of workers.  A failing job records its
  error and the rest finish; a re-run retries only the failed ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Callable

import pandas as pd
from tqdm.auto import tqdm

from ._validation import check_int
from .config import config_from_dict, config_to_dict

CODE_VERSION = "0.1.0"
EXPERIMENTS: dict[str, Callable[[dict, int], dict]] = {}


def experiment(name: str):
    """Register ``f(params, seed) -> dict`` under ``name`` (a decorator)."""

    def register(f):
        EXPERIMENTS[name] = f
        return f

    return register


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: ``experiment`` over the product of ``grid`` values × ``seeds``, with ``fixed`` params.

    Attributes:
        experiment (str): a registered experiment name.
        grid (dict): parameter → list of values (the swept sharpness, |S|, budget, w, …).
        seeds (tuple): seeds in [0, inf).
        fixed (dict): parameters shared by every job.
    """

    experiment: str
    grid: dict = field(default_factory=dict)
    seeds: tuple = (0,)
    fixed: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.experiment, str) or not self.experiment:
            raise ValueError("experiment must be a non-empty string")
        if not isinstance(self.grid, dict) or not all(isinstance(v, (list, tuple)) and len(v) > 0 for v in self.grid.values()):
            raise ValueError("grid must map each parameter to a non-empty list of values")
        if not isinstance(self.fixed, dict):
            raise ValueError("fixed must be a mapping of parameter -> value")
        object.__setattr__(self, "grid", {k: tuple(v) for k, v in self.grid.items()})
        object.__setattr__(self, "seeds", tuple(self.seeds) if isinstance(self.seeds, (list, tuple)) else self.seeds)
        overlap = sorted(set(self.grid) & set(self.fixed))
        if overlap:
            raise ValueError(f"parameters {overlap} appear in both grid and fixed")
        if not isinstance(self.seeds, (list, tuple)) or not self.seeds:
            raise ValueError("seeds must be a non-empty list of integers")
        for s in self.seeds:
            check_int("seed", s, lo=0)

    def jobs(self) -> list[tuple[dict, int]]:
        """Every (params, seed), in a fixed order."""
        names = sorted(self.grid)
        combos = product(*(self.grid[k] for k in names)) if names else [()]
        return [({**self.fixed, **dict(zip(names, c))}, int(s)) for c in combos for s in self.seeds]

    def validate(self) -> None:
        """Reject an unknown experiment before any work starts."""
        if self.experiment not in EXPERIMENTS:
            raise ValueError(f"experiment {self.experiment!r} is not registered; known: {sorted(EXPERIMENTS)}")

    @classmethod
    def from_dict(cls, data: dict) -> "SweepSpec":
        return config_from_dict(cls, data)

    def to_dict(self) -> dict:
        return config_to_dict(self)


def job_key(experiment_name: str, params: dict, seed: int, code_version: str = CODE_VERSION) -> str:
    payload = json.dumps({"e": experiment_name, "p": params, "s": seed, "v": code_version}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _checksum(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class ResultStore:
    """One JSON record per job under ``root``, written atomically and checksummed."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

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
        except (ValueError, OSError):
            p.unlink(missing_ok=True)
            return None

    def put(self, record: dict) -> None:
        record = dict(record)
        record["checksum"] = _checksum(record)
        p = self.path(record["key"])
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(record, f, sort_keys=True, default=str)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, p)  # atomic on POSIX: readers see the old file or the new one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _run_job(experiment_name: str, params: dict, seed: int, key: str) -> dict:
    record = {"key": key, "experiment": experiment_name, "params": params, "seed": seed, "code_version": CODE_VERSION}
    try:
        result = EXPERIMENTS[experiment_name](dict(params), seed)
        if not isinstance(result, dict):
            raise ValueError(f"experiment {experiment_name!r} must return a dict; got {type(result).__name__}")
        record.update(status="ok", result=result, error=None)
    except Exception as e:  # one failing config must not stop the sweep
        record.update(status="error", result=None, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=5))
    return record


def run_sweep(spec: SweepSpec, store: ResultStore, *, workers: int = 1, progress: bool = True) -> pd.DataFrame:
    """Run the missing or failed jobs of ``spec`` and return every record as a tidy DataFrame.

    Columns: the parameters, ``seed``, ``status``, ``error`` and ``result.<field>`` per result field.
    """
    if not isinstance(spec, SweepSpec):
        raise ValueError(f"spec must be a SweepSpec; got {type(spec).__name__}")
    spec.validate()
    workers = check_int("workers", workers, lo=1)
    jobs = [(p, s, job_key(spec.experiment, p, s)) for p, s in spec.jobs()]
    todo = [(p, s, k) for p, s, k in jobs if (r := store.get(k)) is None or r["status"] != "ok"]
    bar = tqdm(total=len(todo), disable=not progress, desc=f"sweep {spec.experiment}", unit="job")
    if workers == 1:
        for p, s, k in todo:
            store.put(_run_job(spec.experiment, p, s, k))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_run_job, spec.experiment, p, s, k) for p, s, k in todo]
            for f in as_completed(futures):
                store.put(f.result())
                bar.update()
    bar.close()
    return records_frame([store.get(k) for _, _, k in jobs])


def records_frame(records: list[dict]) -> pd.DataFrame:
    """Flatten records into one row each: the params, seed, status, error and ``result.<field>`` columns."""
    rows = []
    for r in records:
        if r is None:
            continue
        row = dict(r["params"], seed=r["seed"], status=r["status"], error=r.get("error"))
        row.update({f"result.{k}": v for k, v in (r.get("result") or {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)
