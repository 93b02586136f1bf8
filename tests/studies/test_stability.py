"""App. B.8 on exact Gaussian cases (studies/theory/stability.py): the Neon step's sign convention, the
balls' geometry, and the control the scorecard's ``stability-ball-gaussian`` row names."""

import pytest
import torch

from studies.theory.stability import DISTANCE, _Case, share, stability_case


@pytest.fixture(scope="module")
def one():
    return _Case(5000, 2)


def test_the_base_sits_at_its_distance_with_s_below_zero(one):
    assert float((one.theta_r - one.theta_star).norm()) == pytest.approx(DISTANCE, rel=1e-12)
    assert one.s(one.theta_r) < 0


def test_the_neon_step_moves_the_risk_by_w_times_s_to_first_order(one):
    # θ + w·P r_s changes the real risk by w·<r_d, P r_s> = w·s as w → 0 (a flipped step would give -w·s)
    s = one.s(one.theta_r)
    for w in (1e-3, 1e-4):
        assert one.neon_gain(one.theta_r, w) / w == pytest.approx(s, rel=2e-2)


def test_the_balls_have_their_radius(one):
    points = one.ball(0.01, 8)
    radii = [float((p - one.theta_r).norm()) for p in points]
    assert all(r == pytest.approx(0.01, rel=1e-12) for r in radii[::2])  # half on the sphere
    assert all(r <= 0.01 + 1e-15 for r in radii[1::2])


def test_the_gradient_of_s_matches_a_directional_difference(one):
    g = one.grad_s(one.theta_r)
    u = torch.ones_like(one.theta_r) / one.theta_r.shape[0] ** 0.5
    h = 1e-4
    assert float(g @ u) == pytest.approx((one.s(one.theta_r + h * u) - one.s(one.theta_r - h * u)) / (2 * h), rel=1e-4)


def test_a_ball_past_theta_star_holds_bases_with_s_above_zero():
    # B.8 on its own ball; the control's ball, three times the distance, holds bases where s ≥ 0
    c = stability_case(5001, 2)
    assert c.holds and c.radius > 0 and all(v < -c.mu / 2 for v in c.s)
    assert share(c.control_s) < 1 and max(c.control_s) > 0
