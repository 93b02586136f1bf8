"""Adding a sampler is its spec class, one name in the text syntax and one function per family that
implements it: a user's module does only that, and the sampler runs through a sweep of a study's cell."""

import importlib
import math
import sys
import textwrap

import pytest

from neon_theory import sampler_text
from neon_theory.run.sweeps import ResultStore, SweepSpec, run_sweep
from neon_theory.samplers import CATEGORICAL, UNDEFINED_AT_NEUTRAL

USER_MODULE = textwrap.dedent('''
    from dataclasses import dataclass

    import torch

    from neon_theory.checks import check_real
    from neon_theory.sampler_text import register_sampler_name
    from neon_theory.samplers import CATEGORICAL, SamplerSpec, Sharpening


    @dataclass(frozen=True)
    class MinP(SamplerSpec):
        """Keep the tokens whose probability is at least p times the largest (p = 0: plain sampling)."""

        p: float = 0.1

        def __post_init__(self):
            check_real("p", self.p, 0.0, 1.0)

        def sharpening(self, vocab_size=None):
            return Sharpening.NEUTRAL if self.p == 0 else Sharpening.MODE_SEEKING


    register_sampler_name("min-p", MinP, "p", column="min_p", label="min-p")


    @CATEGORICAL.register(MinP)
    def _min_p(s, logits):
        probs = logits.softmax(-1)
        return logits.masked_fill(probs < s.p * probs.max(-1, keepdim=True).values, float("-inf"))
''')


@pytest.fixture
def user_sampler(tmp_path, monkeypatch):
    (tmp_path / "user_min_p.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "user_min_p", raising=False)  # each test imports (and registers) it afresh
    user_min_p = importlib.import_module("user_min_p")
    yield user_min_p
    sampler_text.SAMPLER_NAMES.pop("min-p", None)
    CATEGORICAL._functions.pop(user_min_p.MinP, None)


def test_a_sampler_added_in_a_users_module_runs_through_a_token_sweep(user_sampler, tmp_path):
    # 1e-12 keeps every token (the law is the model's own: s = 0 up to round-off); 0.6 drops some
    spec = SweepSpec("token-cell", grid={"sampler": ["min-p=0", "min-p=1e-12", "min-p=0.6"]}, seeds=(0, 1),
                     fixed={"vocab_size": 3, "length": 2, "n_base": 50, "preconditioner": "identity"})
    df = run_sweep(spec, ResultStore(tmp_path / "store"), progress=False)
    assert (df.status == "ok").all() and sorted(df.min_p.unique()) == [0.0, 1e-12, 0.6]  # the records show its number
    neutral, kept_all, sharp = (df[df.min_p == v] for v in (0.0, 1e-12, 0.6))
    assert (neutral["result.undefined"] == UNDEFINED_AT_NEUTRAL).all() and neutral["result.s"].isna().all()
    assert kept_all["result.s"].abs().max() < 1e-12  # the function ran: no token was dropped, q = p_theta
    assert all(math.isfinite(s) and abs(s) > 1e-6 for s in sharp["result.s"])  # and here it changed the law
    assert (sharp["result.sharpening"] == "mode-seeking").all()


def test_a_family_that_does_not_implement_it_refuses_it_when_the_cell_is_built(user_sampler):
    from studies.flow.cells import FlowCell

    with pytest.raises(ValueError, match="FlowCell takes Steps, Guidance parts only"):
        FlowCell(sampler="min-p=0.3")
    with pytest.raises(ValueError, match="min-p=1.5.*p must lie in"):
        sampler_text.parse_sampler("min-p=1.5")  # the spec's own validation, through the one parser


def test_a_users_sampler_is_in_the_cache_key_and_a_fresh_worker_imports_it(user_sampler, tmp_path):
    """The cell never imports the user's module, so the key must see it another way (editing the sampler's
    function makes old records stale), and a worker that starts empty (spawn, submitit) must import it."""
    import os
    import pickle
    import subprocess

    from neon_theory.run.executors import Job
    from neon_theory.run.experiments import _extensions_version, extension_modules, job_key

    params = {"sampler": "min-p=0.6", "vocab_size": 3, "length": 2, "n_base": 50, "preconditioner": "identity"}
    assert "user_min_p" in extension_modules()
    before = job_key("token-cell", params, 0)
    source = tmp_path / "user_min_p.py"
    source.write_text(source.read_text().replace("s.p * probs.max", "0.5 * s.p * probs.max"))
    _extensions_version.cache_clear()
    assert job_key("token-cell", params, 0) != before
    job = Job("token-cell", "studies.tokens.cells", params, 0, "key", imports=extension_modules())
    code = ("import pickle, sys; from neon_theory.run.executors import run_job; "
            "r = run_job(pickle.loads(sys.stdin.buffer.read())); print(r['status'], r['error'])")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(job), env=env, capture_output=True, timeout=120)
    assert out.stdout.decode().startswith("ok None"), out.stdout.decode() + out.stderr.decode()
