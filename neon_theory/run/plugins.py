"""Plugins: model-family packages add experiments, figures, presets, commands and claims through entry points.

A package (this project's toys, or a user's own) declares in its ``pyproject.toml``::

    [project.entry-points."neon_theory.experiments"]
    my_package = "my_package.experiments"     # registers with @experiment(...)

    [project.entry-points."neon_theory.figures"]
    my_package = "my_package.figures"         # registers with register_figure / register_preset

    [project.entry-points."neon_theory.commands"]
    my_package = "my_package.commands"        # registers with register_command

    [project.entry-points."neon_theory.claims"]
    my_package = "my_package.claims"          # registers with register_claim (the scorecard's rows)

Each entry point names a module; importing it registers what it defines.  The run layer loads
a group only when a command needs it (``--help`` loads the commands alone), so a command
module should import its heavy dependencies inside its functions.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from importlib.metadata import entry_points

GROUPS = ("neon_theory.experiments", "neon_theory.figures", "neon_theory.commands", "neon_theory.claims")


class PluginWarning(UserWarning):
    """An installed plugin could not be loaded; the rest still are."""


@functools.cache
def load(group: str) -> tuple[str, ...]:
    """Import every module registered under the entry-point ``group``; returns their names.

    A plugin that fails to import gives one :class:`PluginWarning` naming it and the error;
    it does not stop the others.
    """
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}; got {group!r}")
    loaded = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            importlib.import_module(ep.value.partition(":")[0])
        except Exception as e:  # a broken user package must not take the CLI down
            warnings.warn(f"plugin {ep.name!r} ({ep.value}) in {group} could not be loaded: {type(e).__name__}: {e}", PluginWarning, stacklevel=2)
            continue
        loaded.append(ep.value)
    return tuple(loaded)
