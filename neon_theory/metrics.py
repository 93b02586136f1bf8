"""Exact Gaussian metrics: Fréchet distance, population NLL (cross-entropy) and KL.

"FD" follows the FID convention: the *squared* 2-Wasserstein distance between Gaussians,
FD = ‖m₁ − m₂‖² + tr(C₁ + C₂ − 2 (C₁^{1/2} C₂ C₁^{1/2})^{1/2}).
Matrix square roots use a symmetric eigen-decomposition (never ``scipy.linalg.sqrtm``,
whose result can carry complex noise), and everything runs in float64 on the inputs' device
(the optimal-transport distances from POT run on the CPU).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .checks import check_int, check_spd, check_tensor


def _moments(name: str, mean: Tensor, cov: Tensor, *, psd_ok: bool = True) -> tuple[Tensor, Tensor]:
    check_tensor(f"{name} mean", mean, ndim=1)
    d = mean.shape[0]
    check_tensor(f"{name} cov", cov, shape=(d, d))
    c = cov.double()
    if float((c - c.T).abs().max()) > 1e-8 * max(1.0, float(c.abs().max())):
        raise ValueError(f"{name} cov must be symmetric")
    if not psd_ok:
        check_spd(f"{name} cov", c)
    elif float(torch.linalg.eigvalsh(0.5 * (c + c.T)).min()) < -1e-10 * max(1.0, float(c.abs().max())):
        raise ValueError(f"{name} cov must be positive semi-definite")
    return mean.double(), 0.5 * (c + c.T)


def sqrtm_psd(matrix: Tensor) -> Tensor:
    """Symmetric PSD square root via eigh; tiny negative eigenvalues from round-off are clipped to 0."""
    m = 0.5 * (matrix.double() + matrix.double().T)
    evals, evecs = torch.linalg.eigh(m)
    return (evecs * evals.clamp_min(0).sqrt()) @ evecs.T


def gaussian_frechet_distance(mean1: Tensor, cov1: Tensor, mean2: Tensor, cov2: Tensor) -> float:
    """Squared W₂ between N(mean1, cov1) and N(mean2, cov2).

    Args:
        mean1, mean2 (Tensor): shape (D,).
        cov1, cov2 (Tensor): shape (D, D), symmetric positive semi-definite.
    """
    m1, c1 = _moments("first", mean1, cov1)
    m2, c2 = _moments("second", mean2, cov2)
    if m1.shape != m2.shape:
        raise ValueError(f"the two Gaussians must have the same dimension; got {m1.shape[0]} and {m2.shape[0]}")
    r1 = sqrtm_psd(c1)
    cross = sqrtm_psd(r1 @ c2 @ r1)
    fd = float(((m1 - m2) ** 2).sum() + torch.trace(c1) + torch.trace(c2) - 2 * torch.trace(cross))
    return max(fd, 0.0)


def sample_moments(x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of samples x of shape (n, D), in float64."""
    check_tensor("x", x, ndim=2)
    check_int("number of samples", x.shape[0], lo=2)
    xd = x.double()
    mean = xd.mean(0)
    xc = xd - mean
    return mean, xc.T @ xc / (x.shape[0] - 1)


def frechet_distance_from_samples(x: Tensor, mean: Tensor, cov: Tensor) -> float:
    """FD between the Gaussian fitted to samples x (n, D) and N(mean, cov)."""
    m, c = sample_moments(x)
    return gaussian_frechet_distance(m, c, mean, cov)


def gaussian_cross_entropy(data_mean: Tensor, data_cov: Tensor, model_mean: Tensor, model_cov: Tensor) -> float:
    """Population NLL E_{N(data)}[−log N(x; model)] in nats (model cov positive definite)."""
    m, c = _moments("data", data_mean, data_cov)
    mu, s = _moments("model", model_mean, model_cov, psd_ok=False)
    if m.shape != mu.shape:
        raise ValueError("data and model must have the same dimension")
    d = m.shape[0]
    L = torch.linalg.cholesky(s)
    delta = (m - mu)[:, None]
    quad = torch.trace(torch.cholesky_solve(c + delta @ delta.T, L))
    logdet = 2 * torch.log(torch.diagonal(L)).sum()
    return float(0.5 * (quad + logdet + d * math.log(2 * math.pi)))


def gaussian_entropy(cov: Tensor) -> float:
    """Differential entropy of N(·, cov) in nats."""
    _, c = _moments("", torch.zeros(cov.shape[0], dtype=torch.float64, device=cov.device), cov, psd_ok=False)
    d = c.shape[0]
    return float(0.5 * (torch.logdet(c) + d * (1 + math.log(2 * math.pi))))


def gaussian_kl(mean_p: Tensor, cov_p: Tensor, mean_q: Tensor, cov_q: Tensor) -> float:
    """KL(N(p) ‖ N(q)) in nats (both covariances positive definite)."""
    _moments("p", mean_p, cov_p, psd_ok=False)
    return max(gaussian_cross_entropy(mean_p, cov_p, mean_q, cov_q) - gaussian_entropy(cov_p), 0.0)


def bures_wasserstein(mean1: Tensor, cov1: Tensor, mean2: Tensor, cov2: Tensor) -> float:
    """W₂ between two Gaussians by POT's Bures–Wasserstein formula (= √FD; an independent implementation)."""
    import ot

    m1, c1 = _moments("first", mean1, cov1)
    m2, c2 = _moments("second", mean2, cov2)
    if m1.shape != m2.shape:
        raise ValueError("the two Gaussians must have the same dimension")
    return float(ot.gaussian.bures_wasserstein_distance(*(t.cpu().numpy() for t in (m1, m2, c1, c2))))


def wasserstein2_empirical(x: Tensor, y: Tensor) -> float:
    """Exact W₂ between two empirical laws with uniform weights (POT's network simplex, O(n³)).

    Args:
        x (Tensor): shape (n, D); y (Tensor): shape (m, D).  Keep n, m ≲ 5000.
    """
    import ot

    check_tensor("x", x, ndim=2)
    check_tensor("y", y, ndim=2)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension; got {x.shape[1]} and {y.shape[1]}")
    a = np.full(x.shape[0], 1.0 / x.shape[0])
    b = np.full(y.shape[0], 1.0 / y.shape[0])
    cost = ot.dist(x.double().cpu().numpy(), y.double().cpu().numpy())  # squared Euclidean, on the CPU
    return math.sqrt(max(float(ot.emd2(a, b, cost, numItermax=1_000_000)), 0.0))


def precision_recall(real: Tensor, fake: Tensor, k: int = 5) -> tuple[float, float]:
    """prdc's precision and recall (Naeem et al. 2020, k nearest neighbours) of ``fake`` against ``real``
    rows, shapes (n, D) and (m, D); NaN for both where ``fake`` holds a non-finite value.  prdc depends on
    the ratio of the two set sizes: compare like with like."""
    import contextlib
    import io

    from prdc import compute_prdc

    check_tensor("real", real, ndim=2, finite=False)
    check_tensor("fake", fake, ndim=2, finite=False)
    check_int("k", k, lo=1, hi=min(real.shape[0], fake.shape[0]) - 1)
    if not bool(torch.isfinite(fake).all()):
        return math.nan, math.nan
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sample sizes
        m = compute_prdc(real_features=real.double().cpu().numpy(), fake_features=fake.double().cpu().numpy(), nearest_k=k)
    return float(m["precision"]), float(m["recall"])

