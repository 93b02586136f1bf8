"""What the studies' cells record: None and the phrase at a neutral sampler (a finite-step sampler
is never neutral), a documented meaning for every result field of every registered experiment, and
the published values as plain records.
"""

import json

import pytest

from neon_theory.run.cli import main
from neon_theory.samplers import UNDEFINED_AT_NEUTRAL


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# ---- item 5: uncertainty and the neutral sampler -------------------------------------------


def _cell(name, **params):
    from neon_theory.run.experiments import get_experiment

    e = get_experiment(name)
    return e.run(e.build(params), 0)


TINY = dict(vocab_size=2, length=2, n_base=20)


@pytest.mark.parametrize(
    "name, neutral, sharp",
    [
        ("token-cell", dict(TINY, sampler="temperature=1"), dict(TINY, sampler="temperature=0.7")),
        ("token-cell", dict(TINY, sampler="top-k=2"), dict(TINY, sampler="top-k=1")),
        ("gaussian-cell", dict(sampler="temperature=1", n_synthetic=200), dict(sampler="temperature=0.7", n_synthetic=200)),
        ("ar-cell", dict(sampler="std-temperature=1", best_w=False), dict(sampler="std-temperature=0.5", best_w=False)),
    ],
)
def test_records_at_a_neutral_sampler_hold_none_and_the_phrase_not_a_noise_estimate(name, neutral, sharp):
    record = _cell(name, **neutral)
    assert record["undefined"] == UNDEFINED_AT_NEUTRAL
    assert record["s"] is None and record["cosine"] is None and record.get("w_star") is None
    record = _cell(name, **sharp)
    assert "undefined" not in record and isinstance(record["cosine"], float)


def test_a_finite_step_sampler_is_never_neutral_so_the_diffusion_toy_measures_zeta_1():
    """ζ = 1 on the diffusion toy's 20-step DDIM is still mode-seeking (discretisation; the paper
    reports its negative cosine there): a measurement with its SE, not the neutral phrase."""
    record = _cell("diffusion-cell", sampler="score-scale=1")
    assert "undefined" not in record and isinstance(record["cosine"], float) and record["cosine_se"] > 0


# ---- item 7: outputs documented where a user looks --------------------------------------


#: every registered experiment at smoke size, with the options that add result fields switched on,
#: and at a neutral sampler where it has one (the field 'undefined')
SMOKE = {
    "gaussian-cell": [dict(n_synthetic=200, w_values=[0.0, 1.0], proxy_ws=[0.01, 0.1]), dict(n_synthetic=200, sampler="temperature=1")],
    "gaussian-fit-cell": [dict(fit="early-stopped")],
    "solver-cell": [dict(n=200, steps=2), dict(n=200, solver="exact")],
    "warmup-cell": [dict(draws=20)],
    "token-cell": [dict(vocab_size=2, length=2, n_base=20), dict(vocab_size=2, length=2, n_base=20, sampler="temperature=1")],
    "ar-cell": [dict(w_values=[0.0, 1.0], n_pr=50), dict(sampler="std-temperature=1", best_w=False)],
    "diffusion-cell": [dict(best_w=True), dict(sampler="score-scale=1")],
    "flow-cell": [{}],
    "plane-cell": [{}],
    "image-cell": [dict(best_w=True, w_values=[0.0, 1.0], directions=True)],
    "mixture-neighbours-cell": [{}, dict(sampler="std-temperature=1", arms=False)],
    "mixture-loop-cell": [dict(generations=1)],
    "diffusion-neighbours-cell": [{}],  # its neutral sampler (pixel-ar) adds only 'undefined', checked above
    "diffusion-loop-cell": [dict(generations=1)],
}


@pytest.mark.slow
def test_every_result_field_of_every_registered_experiment_is_documented():
    from neon_theory.run import plugins
    from neon_theory.run.experiments import EXPERIMENTS

    installed = set(plugins.load("neon_theory.experiments"))
    names = sorted(n for n, e in EXPERIMENTS.items() if e.module in installed)
    assert names == sorted(SMOKE), "add each new experiment to SMOKE, with the options that add result fields"
    undocumented = {}
    for name in names:
        produced = set().union(*(_cell(name, **params) for params in SMOKE[name]))
        missing = sorted(produced - set(EXPERIMENTS[name].results))
        if missing:
            undocumented[name] = missing
    assert undocumented == {}


def test_published_values_are_plain_records_keyed_by_the_toys_axes():
    from studies.catalogue.commands import published_records

    d = published_records("diffusion")
    assert {"zeta": 1.1, "ft_steps": 50, "best_w": 1.2} in d["best_w"] and {"zeta": 0.9, "best_log10_fd": -1.28} in d["best_log10_fd"]
    assert json.loads(json.dumps(d)) == d and isinstance(d["cosine"], str)
    assert {"tau": 1.6, "ft_epochs": 250, "best_w": -0.175} in published_records("ar")["best_w"]
