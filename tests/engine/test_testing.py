"""neon_theory.testing: the contract check passes real models and names what a broken one gets wrong;
the categorical check agrees with the engine's samplers and catches a wrong one; the strategies give valid specs."""

import dataclasses

import pytest
import torch
from helpers import mlp_denoiser
from hypothesis import given
from hypothesis import strategies as st

from neon_theory.rng import draw
from neon_theory.samplers import Chain, SamplerSpec, Temperature, TopK, TopP, categorical_logits
from neon_theory.testing import ContractError, assert_categorical_sampler, assert_model_contract, categorical_specs, logits, sampler_specs
from toy_models.gaussian import GaussianModel

F64 = torch.float64


def test_real_models_pass():
    assert_model_contract(mlp_denoiser(), n=8)
    assert_model_contract(GaussianModel(torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64)), n=8, sampler=Temperature(0.7))


def _broken(**changes):
    return dataclasses.replace(mlp_denoiser(), **changes)


def _loss(m, x, noise):
    return mlp_denoiser().loss_fn(m, x, noise)


@pytest.mark.parametrize(
    "model, message",
    [
        (_broken(sample_fn=lambda m, n, s, g: torch.randn(n, 2, dtype=F64)), "same generator state"),  # global RNG
        (_broken(sample_fn=lambda m, n, s, g: torch.zeros(n, 2, dtype=F64)), "ignores the generator"),
        (_broken(sample_fn=lambda m, n, s, g: draw(torch.randn, n - 1, 2, generator=g, dtype=F64)), "rows"),
        (_broken(noise_fn=lambda n, g: (torch.rand(n, 1, dtype=F64), torch.randn(n, 2, dtype=F64))), "draw_noise"),
        (_broken(loss_fn=lambda m, x, noise: _loss(m, x, noise).sum()), r"shape \(8,\)"),
        (_broken(loss_fn=lambda m, x, noise: _loss(m, x, noise) / 0.0), "not finite"),
        (_broken(loss_fn=lambda m, x, noise: _loss(m, x, noise) - _loss(m, x, noise).mean()), "depend on that row only"),
        (_broken(loss_fn=lambda m, x, noise: _loss(m, x, noise).detach()), "zero gradient"),
    ],
    ids=["global-rng", "constant-sampler", "wrong-rows", "global-noise", "batch-loss", "inf-loss", "batch-coupled", "no-grad"],
)
def test_a_broken_model_fails_naming_what_is_wrong(model, message):
    with pytest.raises(ContractError, match=message):
        assert_model_contract(model, n=8)


def test_an_object_that_is_not_a_model_fails():
    with pytest.raises(ContractError, match="lacks"):
        assert_model_contract(object())


@pytest.mark.slow
@given(logits(), categorical_specs(vocab_size=8))
def test_the_engines_categorical_samplers_pass_the_check(z, spec):
    assert_categorical_sampler(z, spec)


@given(logits(), st.integers(1, 7))
def test_a_top_k_that_keeps_one_token_too_many_fails(z, k):
    wrong = categorical_logits(z, TopK(k + 1))
    if torch.isfinite(wrong).sum() == torch.isfinite(categorical_logits(z, TopK(k))).sum():
        return  # ties at the k-th place: both keep the same tokens
    with pytest.raises(ContractError, match="different set"):
        assert_categorical_sampler(z, TopK(k), wrong)


def test_a_temperature_in_the_wrong_convention_fails():
    z = torch.tensor([[2.0, 0.0, -1.0, 0.5]], dtype=F64)
    assert_categorical_sampler(z, Temperature(0.5), z / 0.5)
    with pytest.raises(ContractError, match="probabilities differ"):
        assert_categorical_sampler(z, Temperature(0.5), z * 0.5)  # T applied as 1/T


def test_top_p_keeps_every_token_tied_at_the_boundary():
    z = torch.zeros(1, 4, dtype=F64)  # four equal tokens: any 2 reach p = 0.5, so all 4 are tied at the boundary
    assert torch.isfinite(categorical_logits(z, TopP(0.3))).sum() == 4
    z = torch.tensor([[3.0, 1.0, 1.0, -2.0]], dtype=F64)
    kept = torch.isfinite(categorical_logits(z, TopP(0.9))).tolist()[0]
    assert kept == [True, True, True, False]
    assert_categorical_sampler(z, Chain((Temperature(0.8), TopP(0.9))))


@given(sampler_specs())
def test_sampler_strategies_give_valid_specs_that_round_trip(spec):
    assert isinstance(spec, SamplerSpec)
    d = spec.to_dict()
    fields = {k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(spec) if f.init}}
    assert type(spec)(**fields) == spec and spec.sharpening() is not None  # valid values rebuild the same spec


def test_a_wrong_top_p_is_rejected():
    import torch

    from neon_theory.samplers import TopP, categorical_logits
    from neon_theory.testing import ContractError, assert_categorical_sampler

    z = torch.tensor([[3.0, 1.0, 0.5, -2.0]], dtype=torch.float64)
    assert_categorical_sampler(z, TopP(0.9))
    with pytest.raises(ContractError, match="different set"):
        assert_categorical_sampler(z, TopP(0.9), categorical_logits(z, TopP(0.5)))
