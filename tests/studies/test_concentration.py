"""App. B.10's concentration of the displacement direction on exact Gaussian cases (studies/theory/concentration.py)."""

import torch

from neon_theory.rng import draw, generator
from neon_theory.samplers import Temperature
from studies.theory import concentration as C
from toy_models.gaussian import GaussianModel, GaussianTarget, model_from_theta


def test_one_step_moves_the_base_by_minus_the_rate_times_the_minibatch_gradient():
    """d_1 = -g exactly: the one-step displacement over αT is minus the gradient of the minibatch it drew."""
    g = generator(3, "test")
    target = GaussianTarget(torch.tensor([0.5, -1.0], dtype=torch.float64), torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=torch.float64))
    base = GaussianModel.fit_mle(target.sample(50, g))
    S = base.sample(40, Temperature(0.5), g)
    theta_r = base.theta()
    d = C.displacement_direction(theta_r, 2, S, 1, generator(3, "stream"))
    rows = draw(torch.randint, S.shape[0], (C.BATCH,), generator=generator(3, "stream"))  # the same stream: the same minibatch
    minibatch = C._gradient(model_from_theta(theta_r, 2), S[rows])
    torch.testing.assert_close(d, -minibatch, rtol=1e-9, atol=1e-12)


def test_the_direction_concentrates_on_the_gradient_of_s_not_of_the_population():
    """Seed 100 (the design's development seed, not the claim's): ‖d_T + r_s^(S)‖²/‖r_s^(S)‖² falls about as 1/T
    (slopes -0.85 and -0.96 in D = 1 and 3), while against the population r_s it flattens once T·B passes |S| = 100
    (-0.30 and -0.45)."""
    for dim in (1, 3):
        case = C.case(100, dim)
        assert case.slope("s") < -0.75, case
        assert case.slope("population") > -0.7, case
        assert case.to_s[-1] < case.to_population[-1] / 3, case  # at T = 64 the direction is much closer to S's gradient
