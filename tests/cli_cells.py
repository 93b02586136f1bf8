"""The ``test-reliability`` experiment that the CLI's and the store's reliability tests sweep.

Registered here, once: an experiment name may be registered by one module only, and the tests that
run it live in several files (``acceptance/test_cli_bad_input.py``, ``acceptance/test_cli_exit_codes.py``,
``run/test_store_recovery.py``).  ``RUNS`` records every (x, seed) the cell computed.
"""

from helpers import SquareConfig

from neon_theory.run.sweeps import experiment

RUNS: list = []


@experiment("test-reliability", config=SquareConfig)
def _cell(cfg: SquareConfig, seed: int):
    RUNS.append((cfg.x, seed))
    if cfg.x < cfg.fail_below:
        raise RuntimeError(f"x = {cfg.x:g} is negative")
    return {"y": cfg.x + seed}
