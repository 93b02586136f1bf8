import pytest
import sympy as sp
import torch
from helpers import F64

from neon_theory.rng import draw, generator
from neon_theory.samplers import Temperature
from neon_theory.symbolic import one_d_alignment, warmup_gamma
from toy_models.gaussian import GaussianModel, GaussianTarget, exact_quantities


@pytest.mark.parametrize("v, tau", [(1.05, 0.7), (0.8, 0.7), (1.3, 1.4), (0.5, 1.2)])
def test_symbolic_one_d_alignment_matches_the_engine(v, tau):
    sym = one_d_alignment().numeric(v, tau)
    target = GaussianTarget(torch.zeros(1, dtype=F64), torch.ones(1, 1, dtype=F64))
    model = GaussianModel(torch.zeros(1, dtype=F64), torch.full((1, 1), v, dtype=F64))
    o = exact_quantities(target, model, Temperature(tau, "std"))
    # engine coordinates are (μ, log σ); ∂/∂log σ = 2v ∂/∂v
    assert float(o.r_d[1]) == pytest.approx(2 * v * sym["r_d"], rel=1e-12, abs=0)
    assert float(o.r_s[1]) == pytest.approx(2 * v * sym["r_s"], rel=1e-12, abs=0)
    assert sym["s"] == pytest.approx(sym["r_d"] * sym["r_s"], rel=1e-12, abs=0)


def warmup_gradient_draws(d: int, m: int, reps: int, seed: int) -> torch.Tensor:
    """∇_Σ L_pop(μ̂, Σ̂) for `reps` independent MLE fits on m draws from N(0, I_d); shape (reps, d, d)."""
    x = draw(torch.randn, reps, m, d, generator=generator(seed, "warmup"), dtype=F64)
    mu = x.mean(1, keepdim=True)
    S = (x - mu).transpose(1, 2) @ (x - mu) / m
    Si = torch.linalg.inv(S)
    delta = mu.transpose(1, 2)
    return 0.5 * (Si - Si @ (torch.eye(d, dtype=F64) + delta @ delta.transpose(1, 2)) @ Si)


@pytest.mark.parametrize("d, m", [(1, 25), (3, 30), (5, 40)])
def test_warmup_gamma_matches_monte_carlo(d, m):
    gamma, n, D = warmup_gamma()
    assert sp.simplify(gamma - n * (D + 2) * (2 * n - D - 3) / (2 * (n - D - 1) * (n - D - 2) * (n - D - 4))) == 0
    grad = warmup_gradient_draws(d, m, 100_000, seed=d)
    diag = grad.diagonal(dim1=1, dim2=2).mean(-1)  # E = −γ
    value = float(gamma.subs({n: m, D: d}))
    assert abs(float(diag.mean()) + value) <= 6 * float(diag.std() / len(diag) ** 0.5)
    off = grad[:, 0, -1] if d > 1 else torch.zeros(2)
    assert abs(float(off.mean())) <= 6 * float(off.std() / len(off) ** 0.5) + 1e-15


def test_design_warmup_gamma_is_wrong_for_d_at_least_2():
    """Counterexample to an earlier, wrong E[Σ̂⁻¹Σ*Σ̂⁻¹]: at D = 4, n = 30 the printed γ is ~30 SE off."""
    printed, n, D = warmup_gamma(design=True)
    correct, _, _ = warmup_gamma()
    assert sp.simplify((printed - correct).subs(D, 1)) == 0  # they agree at D = 1
    grad = warmup_gradient_draws(4, 30, 100_000, seed=11)
    diag = grad.diagonal(dim1=1, dim2=2).mean(-1)
    se = float(diag.std() / len(diag) ** 0.5)
    assert abs(float(diag.mean()) + float(printed.subs({n: 30, D: 4}))) > 10 * se
    assert abs(float(diag.mean()) + float(correct.subs({n: 30, D: 4}))) <= 6 * se
