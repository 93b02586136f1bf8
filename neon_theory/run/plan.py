"""A sweep checked once: the :class:`Plan` that the commands, :mod:`~neon_theory.run.figures` and the
sweep engine pass down instead of a spec each of them validates again.

Validating a sweep builds every job's config (and imports the experiment's package); resolving its
device asks torch which devices exist.  Both are done once, by :meth:`SweepSpec.plan
<neon_theory.run.sweeps.SweepSpec.plan>` (the engine: the cache keys are computed there), and the
result travels as this frozen record.  This module only holds it, so it imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sweeps imports this module: the spec's type is named, not imported
    from .sweeps import SweepSpec


@dataclass(frozen=True)
class Plan:
    """A validated sweep: what :func:`~neon_theory.run.sweeps.run_sweep` and
    :func:`~neon_theory.run.sweeps.plan_sweep` run or count without checking it again.

    Attributes:
        spec (SweepSpec): the sweep, its device as it was named (``auto``, ``cuda``, ...): what the
            sweep's log records.
        device (str): that device resolved on this machine (``cuda`` → ``cuda:0``): where the jobs
            run and what their cache keys name.
        jobs (tuple): each job's ``(canonical params, seed, cache key)``, in the sweep's order.
    """

    spec: SweepSpec
    device: str
    jobs: tuple[tuple[dict, int, str], ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """The cache key of every job, in the sweep's order."""
        return tuple(key for _, _, key in self.jobs)
