"""FID and KID on the features of a classifier the project trains itself (no downloaded weights).

:class:`FeatureNet` is a small GroupNorm CNN trained to classify the real training images;
its penultimate layer gives the features.  :func:`fid` is the Fréchet distance between
Gaussians fitted to two feature sets (the FID convention) and :func:`kid` the unbiased
squared MMD with the cubic polynomial kernel k(x, y) = (xᵀy/d + 1)³, averaged over disjoint
blocks, with an honest standard error.  Both are checked against torchmetrics in the tests.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from neon_theory.checks import check_int, check_tensor
from neon_theory.metrics import gaussian_frechet_distance, sample_moments
from neon_theory.rng import draw, generator

from .data import ImageData


class FeatureNet(nn.Module):
    """Conv(3×3) → GroupNorm → SiLU, twice with pooling, then a ``features``-wide layer and a class head.

    Args:
        channels (int): image channels; width (int): conv width; features (int): feature size;
        num_classes (int): classes of the head.
    """

    def __init__(self, channels: int = 1, width: int = 16, features: int = 32, num_classes: int = 10):
        super().__init__()
        c, w, f = (check_int(n, v, lo=1) for n, v in (("channels", channels), ("width", width), ("features", features)))
        self.body = nn.Sequential(
            nn.Conv2d(c, w, 3, padding=1), nn.GroupNorm(min(4, w), w), nn.SiLU(), nn.AvgPool2d(2, ceil_mode=True),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.GroupNorm(min(4, 2 * w), 2 * w), nn.SiLU(), nn.AdaptiveAvgPool2d(2),
            nn.Flatten(), nn.Linear(8 * w, f), nn.SiLU(),
        )
        self.head = nn.Linear(f, check_int("num_classes", num_classes, lo=2))

    def features(self, images: Tensor) -> Tensor:
        """images (n, C, H, W) → features (n, F)."""
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


@torch.enable_grad()  # it trains, even when called lazily from a metric that runs under no_grad (neon's w-sweeps)
def train_feature_net(data: ImageData, *, steps: int = 300, lr: float = 2e-3, batch_size: int = 128, seed: int = 0, **sizes) -> FeatureNet:
    """A :class:`FeatureNet` trained with Adam on the labelled ``data`` (cross-entropy); seeded, so the features are reproducible."""
    if data.labels is None:
        raise ValueError(f"data {data.name!r} has no labels: the feature network is a classifier")
    check_int("steps", steps, lo=1)
    check_int("batch_size", batch_size, lo=1)
    torch.manual_seed(seed)
    net = FeatureNet(data.shape[0], num_classes=data.num_classes, **sizes)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = generator(seed, "feature-net")
    device = next(net.parameters()).device  # torch's default device (a sweep job's device)
    images, labels = data.images.to(device), data.labels.to(device)
    for _ in range(steps):
        idx = draw(torch.randint, 0, len(data), (min(batch_size, len(data)),), generator=g, device=device)
        loss = nn.functional.cross_entropy(net(images[idx]), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def extract(net: FeatureNet, images: Tensor, batch: int = 1024) -> Tensor:
    """Features of ``images`` (n, C, H, W) in chunks, (n, F) float64."""
    check_tensor("images", images, ndim=4)
    return torch.cat([net.features(images[i : i + batch].to(torch.float32)) for i in range(0, images.shape[0], batch)]).double()


def fid(features_a: Tensor, features_b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (n, F) and (m, F)."""
    check_tensor("features_a", features_a, ndim=2)
    check_tensor("features_b", features_b, shape=(None, features_a.shape[1]))
    return gaussian_frechet_distance(*sample_moments(features_a.double()), *sample_moments(features_b.double()))


def fid_bootstrap_se(reference: Tensor, features: Tensor, *, resamples: int = 200, generator: torch.Generator) -> float:
    """The standard error of :func:`fid` (``reference``, ``features``) over the sample behind
    ``features``: the SD of the FID over ``resamples`` bootstrap resamples of its rows (with
    replacement), the reference held fixed.

    The reference is common to every FID a cell compares (across w, and the floor), so the
    SE is the one of a comparison between them; it does not include the reference's own
    sampling noise.  A bootstrap resample repeats rows, which lowers its effective size and
    raises each resampled FID a little; the spread, which is what the SE is, is much less affected
    (checked against the SD over fresh samples in the tests).
    """
    check_tensor("reference", reference, ndim=2)
    check_tensor("features", features, shape=(None, reference.shape[1]))
    check_int("resamples", resamples, lo=2)
    if features.shape[0] < 2:
        raise ValueError(f"features needs at least 2 rows for a bootstrap; got {features.shape[0]}")
    ref_moments = sample_moments(reference.double())
    x = features.double()
    n = x.shape[0]
    values = []
    for _ in range(resamples):
        idx = draw(torch.randint, 0, n, (n,), generator=generator, device=x.device)
        values.append(gaussian_frechet_distance(*ref_moments, *sample_moments(x[idx])))
    return float(torch.tensor(values, dtype=torch.float64).std(unbiased=True))


def _mmd2_unbiased(x: Tensor, y: Tensor) -> Tensor:
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    n, m = x.shape[0], y.shape[0]
    return (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1)) - 2 * kxy.mean()


def kid(features_a: Tensor, features_b: Tensor, *, subsets: int = 10, subset_size: int | None = None, seed: int = 0) -> tuple[float, float]:
    """KID: the unbiased squared MMD (cubic kernel) averaged over ``subsets`` disjoint blocks; returns (mean, SE).

    Each set is shuffled (seeded) and cut into ``subsets`` disjoint blocks of ``subset_size``
    rows (default: as large as both sets allow).  Disjoint blocks are independent, so the SE
    (the SD of the block values over √subsets) is the standard error of the mean; the SD over
    overlapping random subsets (torchmetrics' ``kid_std``) only measures the subsetting noise
    of one finite sample and understates it.  With one block as large as both sets it is the
    exact unbiased MMD² of the two sets (SE nan).
    """
    a, b = features_a.double(), features_b.double()
    check_tensor("features_b", b, shape=(None, a.shape[1]))
    check_int("subsets", subsets, lo=1)
    most = min(a.shape[0], b.shape[0]) // subsets
    if most < 2:
        raise ValueError(f"subsets={subsets} disjoint blocks of at least 2 rows need {2 * subsets} rows in each feature set")
    size = check_int("subset_size", most if subset_size is None else subset_size, lo=2, hi=most)
    g = generator(seed, "kid")
    pa = draw(torch.randperm, a.shape[0], generator=g, device=a.device)
    pb = draw(torch.randperm, b.shape[0], generator=g, device=b.device)
    values = torch.stack([_mmd2_unbiased(a[pa[i * size : (i + 1) * size]], b[pb[i * size : (i + 1) * size]]) for i in range(subsets)])
    se = float(values.std(unbiased=True)) / math.sqrt(subsets) if subsets > 1 else math.nan
    return float(values.mean()), se
