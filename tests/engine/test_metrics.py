import math

import numpy as np
import pytest
import scipy.linalg
import torch
from helpers import F64, random_spd
from hypothesis import given
from hypothesis import strategies as st

from neon_theory.metrics import (
    bures_wasserstein,
    frechet_distance_from_samples,
    gaussian_cross_entropy,
    gaussian_frechet_distance,
    gaussian_kl,
    sample_moments,
    sqrtm_psd,
    wasserstein2_empirical,
)
from neon_theory.rng import draw, generator


def gaussian(seed: int, d: int):
    g = generator(seed)
    return draw(torch.randn, d, generator=g, dtype=F64), random_spd(d, g)


def rotation(seed: int, d: int) -> torch.Tensor:
    q, r = torch.linalg.qr(draw(torch.randn, d, d, generator=generator(seed), dtype=F64))
    return q * torch.sign(torch.diagonal(r))


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(1, 5))
def test_fd_is_symmetric_nonnegative_and_rotation_translation_invariant(a, b, d):
    m1, c1 = gaussian(a, d)
    m2, c2 = gaussian(b + 20_000, d)
    fd = gaussian_frechet_distance(m1, c1, m2, c2)
    # independent reference: ‖Δm‖² + tr(c1 + c2 − 2 (c1^½ c2 c1^½)^½) with scipy's sqrtm
    r1 = scipy.linalg.sqrtm(c1.cpu().numpy())
    cross = np.real(scipy.linalg.sqrtm(r1 @ c2.cpu().numpy() @ r1))
    ref = float(((m1 - m2) ** 2).sum()) + float(np.trace(c1.cpu().numpy() + c2.cpu().numpy() - 2 * cross))
    assert fd == pytest.approx(ref, rel=1e-8, abs=1e-10)
    assert fd == pytest.approx(gaussian_frechet_distance(m2, c2, m1, c1), rel=1e-9, abs=1e-12)
    R, t = rotation(a + b, d), draw(torch.randn, d, generator=generator(b), dtype=F64)
    fd_rt = gaussian_frechet_distance(R @ m1 + t, R @ c1 @ R.T, R @ m2 + t, R @ c2 @ R.T)
    assert fd_rt == pytest.approx(fd, rel=1e-8, abs=1e-10)


@given(st.integers(0, 10_000), st.integers(1, 5))
def test_fd_is_zero_iff_equal(a, d):
    m, c = gaussian(a, d)
    assert gaussian_frechet_distance(m, c, m, c) == pytest.approx(0, rel=0, abs=1e-10)
    assert gaussian_frechet_distance(m, c, m + 1e-3, c) > 0
    assert gaussian_frechet_distance(m, c, m, c * 1.01) > 0


@given(st.floats(-3, 3), st.floats(-3, 3), st.floats(0.1, 4), st.floats(0.1, 4))
def test_fd_in_one_dimension_is_the_closed_form(m1, m2, s1, s2):
    t = lambda v: torch.tensor(v, dtype=F64)  # noqa: E731
    fd = gaussian_frechet_distance(t([m1]), t([[s1**2]]), t([m2]), t([[s2**2]]))
    assert fd == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-9, abs=1e-12)


def test_fd_commuting_covariances_closed_form_and_sqrtm_is_real():
    c1 = torch.diag(torch.tensor([1.0, 4.0, 9.0], dtype=F64))
    c2 = torch.diag(torch.tensor([4.0, 1.0, 0.0], dtype=F64))  # PSD, singular
    z = torch.zeros(3, dtype=F64)
    assert gaussian_frechet_distance(z, c1, z, c2) == pytest.approx((1 - 2) ** 2 + (2 - 1) ** 2 + 3**2, rel=1e-12, abs=1e-12)
    r = sqrtm_psd(random_spd(4, generator(0)))
    assert r.dtype == F64 and torch.allclose(r, r.T, rtol=0, atol=1e-14)


def test_fd_from_samples_converges_to_the_exact_value():
    m, c = gaussian(1, 2)
    x = m + draw(torch.randn, 200_000, 2, generator=generator(2), dtype=F64) @ torch.linalg.cholesky(c).T
    assert frechet_distance_from_samples(x, m, c) < 1e-3
    mean, cov = sample_moments(x)
    se = torch.sqrt(torch.diagonal(c) / x.shape[0])
    assert bool(((mean - m).abs() <= 6 * se).all())  # Monte Carlo: within 6 SE


def test_cross_entropy_and_kl_against_monte_carlo_within_k_se():
    mp, cp = gaussian(3, 2)
    mq, cq = gaussian(4, 2)
    n = 200_000
    x = mp + draw(torch.randn, n, 2, generator=generator(5), dtype=F64) @ torch.linalg.cholesky(cp).T

    def logpdf(x, m, c):
        L = torch.linalg.cholesky(c)
        z = torch.linalg.solve_triangular(L, (x - m).T, upper=False)
        return -0.5 * (z**2).sum(0) - torch.log(torch.diagonal(L)).sum() - math.log(2 * math.pi)

    nll = -logpdf(x, mq, cq)
    se = float(nll.std() / math.sqrt(n))
    assert abs(float(nll.mean()) - gaussian_cross_entropy(mp, cp, mq, cq)) <= 6 * se
    kl = logpdf(x, mp, cp) - logpdf(x, mq, cq)
    assert abs(float(kl.mean()) - gaussian_kl(mp, cp, mq, cq)) <= 6 * float(kl.std() / math.sqrt(n))
    assert gaussian_kl(mp, cp, mp, cp) == pytest.approx(0, rel=0, abs=1e-12)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: gaussian_frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(3), torch.eye(3)), "dimension"),
        (lambda: gaussian_frechet_distance(torch.zeros(2), -torch.eye(2), torch.zeros(2), torch.eye(2)), "semi-definite"),
        (lambda: gaussian_frechet_distance(torch.zeros(2), torch.tensor([[1.0, 2.0], [0.0, 1.0]]), torch.zeros(2), torch.eye(2)), "symmetric"),
        (lambda: gaussian_frechet_distance(torch.tensor([math.nan, 0.0]), torch.eye(2), torch.zeros(2), torch.eye(2)), "finite"),
        (lambda: gaussian_cross_entropy(torch.zeros(2), torch.eye(2), torch.zeros(2), torch.zeros(2, 2)), "positive definite"),
        (lambda: sample_moments(torch.zeros(1, 2)), "number of samples"),
    ],
)
def test_metrics_validate(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@given(st.integers(0, 10_000), st.integers(1, 4))
def test_pot_bures_wasserstein_is_the_square_root_of_our_fd(a, d):
    m1, c1 = gaussian(a, d)
    m2, c2 = gaussian(a + 50_000, d)
    assert bures_wasserstein(m1, c1, m2, c2) ** 2 == pytest.approx(gaussian_frechet_distance(m1, c1, m2, c2), rel=1e-6, abs=1e-9)


def test_empirical_w2_of_a_shift_and_of_identical_samples():
    x = draw(torch.randn, 300, 2, generator=generator(0), dtype=F64)
    assert wasserstein2_empirical(x, x) == pytest.approx(0.0, rel=0, abs=1e-6)  # √ of round-off
    shift = torch.tensor([3.0, 4.0], dtype=F64)
    assert wasserstein2_empirical(x, x + shift) == pytest.approx(5.0, rel=1e-9, abs=0)  # a translation is optimal
    with pytest.raises(ValueError, match="dimension"):
        wasserstein2_empirical(x, torch.zeros(3, 3))


def test_precision_recall_of_a_set_against_itself_is_one_and_of_a_shifted_set_falls():
    """prdc (k = 5): a set against itself has precision and recall 1; shifted by 10 SDs, both 0; a non-finite row gives NaN."""

    from neon_theory.metrics import precision_recall

    g = torch.Generator().manual_seed(3)
    x = torch.randn(300, 2, generator=g, dtype=torch.float64, device=g.device)
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, x + 10.0) == (0.0, 0.0)
    bad = x.clone()
    bad[0, 0] = float("nan")
    assert all(math.isnan(v) for v in precision_recall(x, bad))
    with pytest.raises(ValueError, match="k"):
        precision_recall(x[:5], x[:5], k=5)

