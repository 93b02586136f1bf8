"""What every record and every ``--json`` output says about itself: the code, the machine, the conventions.

:func:`provenance` names the code version (the hash the cache keys use), the git commit of
the source tree when it is a git checkout, the versions of the packages that compute the
numbers, and the device.  :data:`CONVENTIONS` states, once for every output, how the
numbers are to be read: which temperature is meant and which interval is reported.
"""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .summary import INTERVAL

#: How every table, JSON output and figure is to be read (stated in each of them).
CONVENTIONS: dict[str, str] = {
    "temperature": "T is the density temperature (p^(1/T)); tau (std-temperature) scales the standard deviation (sigma -> tau*sigma), "
    "so a Gaussian's tau = sqrt(T). T < 1 and tau < 1 sharpen (mode-seeking), T > 1 diversifies",
    "s": "s = <r_d, P r_s>, r_d and r_s the population gradients of the loss on real and synthetic data at theta_r, P the preconditioner",
    "merge": "theta_Neon = (1 + w) theta_r - w theta_s; w > 0 extrapolates away from the self-trained theta_s",
    "interval": INTERVAL,  # one text, the one the tables use
}

#: The distributions whose versions change the numbers.
PACKAGES = ("neon-theory", "torch", "numpy", "scipy", "pandas")


@functools.cache
def git_commit(path: str | None = None) -> dict | None:
    """``{"sha": ..., "dirty": bool}`` of the git checkout holding ``path`` (this package by
    default), or ``None`` when it is not in one or git is not installed."""
    where = Path(path or __file__).resolve().parent
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=where, capture_output=True, text=True, timeout=5)
        # only this project's own checkout: an install inside another repository's .venv is not it
        if top.returncode != 0 or not (Path(top.stdout.strip()) / "neon_theory").is_dir():
            return None
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"sha": sha.stdout.strip(), "dirty": bool(status.stdout.strip())}


@functools.cache
def package_versions() -> dict[str, str | None]:
    """Python's and :data:`PACKAGES`' versions (``None`` for one not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def device_description(device: str = "cpu") -> str:
    """``device`` in words: the GPU's name for CUDA, the processor for the CPU."""
    if device.startswith("cuda") and "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    if device == "cpu":
        return f"cpu ({platform.processor() or platform.machine()})"
    return device


@functools.cache
def _platform() -> str:
    return platform.platform()  # reads the interpreter's binary for the libc version: once per process, not per record


def provenance(device: str = "cpu") -> dict:
    """The code version, git commit, package versions and device, as one JSON-safe dict."""
    from .experiments import code_version

    return {
        "code_version": code_version(),
        "git": git_commit(),
        "packages": package_versions(),
        "device": device_description(device),
        "platform": _platform(),
    }
