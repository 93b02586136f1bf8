"""The run layer: configs, sweeps, the result store, executors, figures, plugins and the CLI.

It sits above the core engine (``neon_theory.*`` outside this sub-package), which never
imports it.  Model families and their experiments, figures, presets and commands come in
through entry points (:mod:`neon_theory.run.plugins`), so this layer imports no family.
"""
