"""The result store and the executors lose nothing computed: corrupt records are counted and
recomputed, a folder in a record's place is replaced, a local pool starts no more processes than
jobs, a table into an unwritable folder is a ValueError.
"""


import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


import cli_cells  # noqa: E402, F401  (registers the test-reliability experiment)
import pytest  # noqa: E402
from cli_cells import RUNS  # noqa: E402
from helpers import run_cli as run  # noqa: E402
from helpers import sweep_file  # noqa: E402

from neon_theory.run import plugins  # noqa: E402

plugins.load("neon_theory.experiments")  # registers the studies' cells


from neon_theory.run.sweeps import (  # noqa: E402
    CorruptRecordWarning,
    ResultStore,
    SweepSpec,
    make_executor,
    run_sweep,
)

# an unwritable folder (even for root) and a path that cannot be created
UNWRITABLE = "/sys"


needs_sys = pytest.mark.skipif(os.access("/sys", os.W_OK) and not Path("/sys/fs").exists(), reason="needs a read-only /sys")


# ---- corrupt records are reported when recomputed ---------------------------------------------


def test_corrupt_records_are_counted_in_one_warning_and_recomputed(tmp_path, capsys):
    spec = SweepSpec("test-reliability", grid={"x": [1, 2, 3, 4]})
    store = ResultStore(tmp_path / "s")
    run_sweep(spec, store, progress=False)
    files = sorted((tmp_path / "s").glob("*/*.json"))
    for f, damage in zip(files[:3], ["{trunc", "", '{"key": "x"}']):  # truncated, empty, wrong checksum
        f.write_text(damage)
    RUNS.clear()
    with pytest.warns(CorruptRecordWarning, match="3 corrupt or truncated record"):
        df = run_sweep(spec, ResultStore(tmp_path / "s"), progress=False)
    assert len(RUNS) == 3 and (df.status == "ok").all()
    # the CLI prints it as one warning line
    for f in sorted((tmp_path / "s").glob("*/*.json"))[:2]:
        f.write_text("")
    path = sweep_file(tmp_path, "experiment: test-reliability\ngrid: {x: [1, 2, 3, 4]}\n")
    code, _, err = run(["sweep", path, "--store", tmp_path / "s", "--out", tmp_path / "t.csv", "--json"], capsys)
    assert code == 0
    warnings_ = [line for line in err.splitlines() if line.startswith("neon-theory: warning:")]
    assert len(warnings_) == 1 and "2 corrupt or truncated record(s)" in warnings_[0]


def test_intact_records_give_no_warning(tmp_path, recwarn):
    spec = SweepSpec("test-reliability", grid={"x": [1, 2]})
    run_sweep(spec, ResultStore(tmp_path / "s"), progress=False)
    run_sweep(spec, ResultStore(tmp_path / "s"), progress=False)
    assert not [w for w in recwarn if issubclass(w.category, CorruptRecordWarning)]


# ---- inputs found by an independent review ---------------------------------------------------------


def test_a_local_pool_never_starts_more_processes_than_jobs(tmp_path):
    executor = make_executor("local", 8)
    try:
        run_sweep(SweepSpec("test-reliability", grid={"x": [1, 2]}), ResultStore(tmp_path), executor=executor, progress=False)
        assert len(executor._pools) == 2  # one process each
    finally:
        executor.close()
    with pytest.raises(ValueError, match=r"workers must be an integer in \[1, 1024\]"):
        make_executor("local", 10**9)


def test_a_folder_in_a_records_place_is_discarded_and_recomputed(tmp_path):
    spec = SweepSpec("test-reliability", grid={"x": [1, 2]})
    run_sweep(spec, ResultStore(tmp_path), progress=False)
    record = sorted(tmp_path.glob("*/*.json"))[0]
    record.unlink()
    record.mkdir()
    with pytest.warns(CorruptRecordWarning, match="1 corrupt"):
        df = run_sweep(spec, ResultStore(tmp_path), progress=False)
    assert (df.status == "ok").all() and record.is_file()


@needs_sys
def test_save_table_into_an_unwritable_folder_is_a_value_error():
    import pandas as pd

    from neon_theory.run.sweeps import save_table

    with pytest.raises(ValueError, match="cannot write the table '/sys/a.csv'"):
        save_table(pd.DataFrame({"a": [1]}), f"{UNWRITABLE}/a.csv")


def test_each_seed_keeps_its_process_so_its_models_are_made_once():
    """The jobs of a seed go to one process in every sweep (its memo of base and fine-tuned models then
    fills once); with fewer seeds than processes the jobs are dealt round-robin, so none idles."""
    from neon_theory.run.executors import Job, worker_of

    jobs = [Job("e", "m", {"x": x}, seed, f"k{x}{seed}") for seed in (7, 3, 9) for x in range(4)]
    places = worker_of(jobs, 2)
    by_seed = {}
    for job, place in zip(jobs, places):
        by_seed.setdefault(job.seed, set()).add(place)
    assert all(len(p) == 1 for p in by_seed.values()) and set(places) == {0, 1}
    assert worker_of(jobs[4:8] + jobs[:4], 2)[:4] == places[4:8]  # the same seed, the same process, whatever the order
    one_seed = [j for j in jobs if j.seed == 3]
    assert worker_of(one_seed, 2) == [0, 1, 0, 1]
