"""Input checks that raise ``ValueError`` naming the parameter and its accepted range."""

from __future__ import annotations

import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # torch is imported where a tensor is checked, so that the CLI's --help stays fast
    import torch
    from torch import Tensor


def _interval(lo: float, hi: float, lo_open: bool, hi_open: bool) -> str:
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    return f"{left}{lo:g}, {hi:g}{right}"


def check_real(
    name: str,
    value,
    lo: float = -math.inf,
    hi: float = math.inf,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` if it is not a finite number in the interval."""
    rng = _interval(lo, hi, lo_open or lo == -math.inf, hi_open or hi == math.inf)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number in {rng}; got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number in {rng}; got {v}")
    below = v <= lo if lo_open else v < lo
    above = v >= hi if hi_open else v > hi
    if below or above:
        raise ValueError(f"{name} must lie in {rng}; got {v:g}")
    return v


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` if it is not an integer in [lo, hi]."""
    rng = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer in {rng}; got {value!r}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name} must be an integer in {rng}; got {v}")
    return v


def check_bool(name: str, value) -> bool:
    """``value`` if it is a bool (not 0/1 or a string, which a YAML typo gives), else one clear error."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false; got {value!r}")
    return value


def integral(value):
    """An integral float (``1e5`` or ``2.0`` as YAML writes counts) as an int; anything else unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_tensor(
    name: str,
    value,
    *,
    ndim: int | None = None,
    shape: tuple | None = None,
    finite: bool = True,
) -> Tensor:
    """Check that ``value`` is a tensor of the given rank/shape with finite entries (``None`` in shape = any)."""
    import torch

    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s); got shape {tuple(value.shape)}")
    if shape is not None:
        if value.ndim != len(shape) or any(s is not None and s != v for s, v in zip(shape, value.shape)):
            want = tuple("*" if s is None else s for s in shape)
            raise ValueError(f"{name} must have shape {want}; got {tuple(value.shape)}")
    if finite and value.is_floating_point() and not bool(value.isfinite().all()):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return value


def check_generator(name: str, value) -> torch.Generator:
    import torch

    if not isinstance(value, torch.Generator):
        raise ValueError(
            f"{name} must be a torch.Generator (every random draw needs an explicit generator); "
            f"got {type(value).__name__}"
        )
    return value


def check_draw(n, generator) -> int:
    """The arguments of ``sample(n, generator)``: a count n in [1, inf) and an explicit generator."""
    check_int("n", n, lo=1)
    check_generator("generator", generator)
    return n


def check_spd(name: str, matrix: Tensor) -> Tensor:
    """Check that ``matrix`` is a finite, symmetric, positive-definite square matrix."""
    check_tensor(name, matrix, ndim=2)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must be square; got shape {tuple(matrix.shape)}")
    m = matrix.double()
    scale = max(1.0, float(m.abs().max()))
    if float((m - m.T).abs().max()) > 1e-8 * scale:
        raise ValueError(f"{name} must be symmetric")
    import torch

    eig_min = float(torch.linalg.eigvalsh(m).min())
    if eig_min <= 0:
        raise ValueError(f"{name} must be positive definite (eigenvalues in (0, inf)); smallest eigenvalue is {eig_min:g}")
    return matrix


def check_path(name: str, value) -> Path:
    """``value`` as a Path, or ``ValueError`` if it is not a non-empty str or os.PathLike."""
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ValueError(f"{name} must be a path (a non-empty str or os.PathLike); got {type(value).__name__}")
    return Path(value)


def check_writable_folder(name: str, path) -> Path:
    """Create the folder ``path`` if needed and prove it writable (a probe file is written and
    removed), so a bad output path fails before any work, not after it.

    Raises:
        ValueError: naming ``name`` when ``path`` is a file, cannot be created or is not writable.
    """
    p = check_path(name, path)
    try:
        if p.exists() and not p.is_dir():
            raise ValueError(f"{name} must be a folder (existing or creatable); got the file {str(p)!r}")
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=p, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"{name} must be a writable folder; cannot write in {str(p)!r}: {e.strerror or e}") from None
    return p


#: The most seeds one ``--seeds`` or sweep file may name (a typo must not expand a billion jobs).
MAX_SEEDS = 10_000


def seed_list(name: str, text: str) -> list[int]:
    """Seeds written as text, as the CLI's ``--seeds`` and a sweep file's ``seeds:`` take them:
    ``'0-4'`` (a range, both ends included) or ``'0,2,5'``; at most :data:`MAX_SEEDS`, distinct, in [0, inf).

    Raises:
        ValueError: naming ``name``, the accepted forms and the range.
    """
    text = str(text).strip()
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-"))
            count = hi - lo + 1
        else:
            seeds = [int(v) for v in text.split(",")]
            count = len(seeds)
    except ValueError:
        raise ValueError(f"{name} must look like '0-4' or '0,2,5'; got {text!r}") from None
    if count > MAX_SEEDS:  # checked before a range is expanded into a list
        raise ValueError(f"{name} must name between 1 and {MAX_SEEDS} seeds; {text!r} names {count}")
    if "-" in text:
        seeds = list(range(lo, hi + 1))
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"{name} must name distinct seeds (a repeat would count one run twice); got {text!r}")
    if not seeds or min(seeds) < 0:
        raise ValueError(f"{name} must name at least one seed in [0, inf) ('lo-hi' with lo <= hi, or 'a,b,c'); got {text!r}")
    return seeds
