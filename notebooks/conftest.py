"""nbmake executes the notebooks here when it is installed (and not disabled with ``-p no:nbmake``).

It is switched on here rather than in ``addopts``, where a missing plugin would make every
pytest call fail (``pytest tests/engine/test_samplers.py`` works without nbmake).  Each executed
notebook is marked ``slow``: ``pytest -m "not slow"`` leaves them out (docs/testing.md).
"""

import pytest


def pytest_configure(config):
    if hasattr(config.option, "nbmake"):
        config.option.nbmake = True


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
