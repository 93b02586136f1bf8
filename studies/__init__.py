"""The studies of neon-theory: one sub-package per study, apart from the model families.

Each study holds its configs and cells (``cells.py``: what computes a record), its sweeps and
figures (``figures.py``), its commands where it has some (``commands.py``), and the models it
builds (``toy.py``).  They reach the run layer through entry points in ``pyproject.toml``
(``neon_theory.experiments``, ``neon_theory.figures``, ``neon_theory.commands``), as a user's
own package would; the families in :mod:`toy_models` know nothing of them.

A record's cache key covers the code its cell imports (the cell module's import closure
inside the project's packages: the engine, the families, this package's shared modules), so
editing a figure or a command changes no key, and editing a cell, a family or the engine does.
"""
