"""The result store (one checksummed JSON record per job) and the tables made from it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..checks import check_choice, check_path, check_writable_folder


def _checksum(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class CorruptRecordWarning(UserWarning):
    """Some cached records were corrupt or truncated: they were discarded and are recomputed."""


class ResultStore:
    """One JSON record per job under ``root``, written atomically and checksummed.

    Args:
        root: the store's folder, created if needed and proved writable; with ``read_only=True`` (a
            look such as ``sweep --dry-run``) it is neither created nor written to (absent: an empty store).

    Attributes:
        discarded (int): corrupt or truncated record files found (and removed) by :meth:`get`.
    """

    def __init__(self, root: str | os.PathLike, *, read_only: bool = False):
        if read_only:
            self.root = check_path("store", root)
            if self.root.exists() and not self.root.is_dir():
                raise ValueError(f"store must be a folder; got the file {str(self.root)!r}")
        else:
            self.root = check_writable_folder("store", root)
        self.discarded = 0

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str, *, discard: bool = True) -> dict | None:
        """The stored record, or ``None`` if absent or corrupt (a corrupt file is removed, unless
        ``discard=False``: a read-only look such as ``sweep --dry-run``)."""
        p = self.path(key)
        if not p.exists():
            return None
        try:
            record = json.loads(p.read_text())
            if not isinstance(record, dict) or record.get("checksum") != _checksum(record) or record.get("key") != key:
                raise ValueError("checksum mismatch")
            return record
        except (ValueError, OSError, UnicodeDecodeError):
            if not discard:
                return None
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



def _sampler_columns(text: str) -> dict:
    from ..sampler_text import sampler_columns

    try:
        return sampler_columns(text)
    except ValueError:  # a name this process does not know (a user's spec not imported): the text column stays
        return {}


def records_frame(records: Iterable[dict | None]) -> pd.DataFrame:
    """Flatten records into one row each: the params, seed, status, error and ``result.<field>`` columns.

    A ``sampler`` param (text, :mod:`neon_theory.sampler_text`) also gives one numeric column per
    named part (``std-temperature=0.5`` → ``tau``; ``steps=20+guidance=2`` → ``steps``, ``guidance``);
    where a param already has that name, the sampler's column is ``sampler.<name>``."""
    rows = []
    for r in records:
        if r is None:
            continue
        row = dict(r["params"], seed=r["seed"], status=r["status"], error=r.get("error"))
        if isinstance(r["params"].get("sampler"), str):  # the sampler's numbers as columns (tau, top_k, ...) to plot and group by
            derived = _sampler_columns(r["params"]["sampler"])
            row = {**{(f"sampler.{k}" if k in row else k): v for k, v in derived.items()}, **row}
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
    """Read a table written by :func:`save_table` (parquet or CSV; a CSV's JSON-encoded lists become lists
    again); a clear ValueError if unreadable."""
    path = check_path("path", path)
    check_choice("table suffix", path.suffix, (".parquet", ".csv"))
    if not path.is_file():
        raise ValueError(f"results file {str(path)!r} does not exist")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        df = pd.read_csv(path)
    except Exception as e:  # pyarrow and pandas raise many kinds for a corrupt file
        raise ValueError(f"results file {str(path)!r} is not a readable {path.suffix[1:]} table: {type(e).__name__}: {e}") from None
    # the lists save_table wrote as JSON (a curve over w) are lists again
    for c in [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]:
        cells = df[c].dropna()
        if len(cells) and cells.map(lambda v: isinstance(v, str) and v.startswith("[") and v.endswith("]")).all():
            try:
                df[c] = df[c].map(lambda v: json.loads(v) if isinstance(v, str) else v).astype(object)
            except ValueError:
                pass  # text that only looks like a list stays text
    return df
