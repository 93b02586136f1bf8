"""Drivers of the toy model families: the official presets, the registered experiments, the
figure catalogue and the toys' commands.  They reach the run layer through the entry points
in ``pyproject.toml``, as a user's own package would; the families (one module each in
:mod:`toy_models`) know nothing of them.
"""
