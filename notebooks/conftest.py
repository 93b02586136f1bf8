"""nbmake executes the notebooks here when it is installed (and not disabled with ``-p no:nbmake``).

It is switched on here rather than in ``addopts``, where a missing plugin would make every
pytest call fail (``pytest tests/test_samplers.py`` works without nbmake).
"""


def pytest_configure(config):
    if hasattr(config.option, "nbmake"):
        config.option.nbmake = True
