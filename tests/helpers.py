"""Shared builders for the tests (random SPD matrices, small Gaussian cases, a tiny MLP adapter, the CLI's runner and
one-line-error check, a sweep file, a cube cell)."""

import textwrap
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from neon_theory.checks import check_real
from neon_theory.contracts import ModelAdapter
from neon_theory.rng import draw
from studies.theory.cases import random_spd  # noqa: F401  (the tests' random SPD matrices are the theory cases')

F64 = torch.float64


@dataclass(frozen=True)
class SquareConfig:
    """Config of the tests' fast sweep experiments: a job fails when x < fail_below."""

    x: float = 0.0
    fail_below: float = 0.0

    def __post_init__(self):
        check_real("x", self.x, -100, 100)


def mlp_denoiser(dim: int = 2, hidden: int = 8, seed: int = 0) -> ModelAdapter:
    """A tiny ε-prediction model with explicit (t, noise): exercises noise-carrying losses."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(dim + 1, hidden), nn.Tanh(), nn.Linear(hidden, dim)).double()

    def noise_fn(n, g):
        return (draw(torch.rand, n, 1, generator=g, dtype=F64), draw(torch.randn, n, dim, generator=g, dtype=F64))

    def loss_fn(m, x, noise):
        t, eps = noise
        a = torch.cos(0.5 * torch.pi * t)
        xt = a * x + torch.sqrt(1 - a**2) * eps
        return ((m(torch.cat([xt, t], -1)) - eps) ** 2).sum(-1)

    def sample_fn(m, n, sampler, g):
        return draw(torch.randn, n, dim, generator=g, dtype=F64)

    return ModelAdapter(net, loss_fn=loss_fn, sample_fn=sample_fn, noise_fn=noise_fn)


def hand_sampler_law(probs, spec):
    """One categorical step's sampling law q, computed by hand in numpy (never through
    ``categorical_logits``): temperature raises p to 1/T, top-k keeps the k largest after a
    numpy sort (callers avoid ties), top-p walks tokens in decreasing p until the kept mass
    reaches p; each stage renormalises.  Returns a float64 array of shape (V,)."""
    import numpy as np

    from neon_theory.samplers import Chain, Temperature, TopK, TopP

    p = np.asarray(probs, dtype=np.float64)
    p = p / p.sum()
    specs = () if spec is None else spec.specs if isinstance(spec, Chain) else (spec,)
    for s in specs:
        order = np.argsort(-p, kind="stable")
        keep = np.zeros(p.shape[0], dtype=bool)
        if isinstance(s, Temperature):
            p = p ** (1.0 / s.density_power)
            keep[:] = True
        elif isinstance(s, TopK):
            keep[order[: s.k]] = True
        elif isinstance(s, TopP):
            mass = 0.0
            for i in order:
                if mass >= s.p:
                    break
                keep[i] = True
                mass += p[i]
        else:
            raise ValueError(f"hand_sampler_law does not know {type(s).__name__}")
        p = np.where(keep, p, 0.0)
        p = p / p.sum()
    return p


def run_cli(argv, capsys):
    """``neon-theory ARGV`` in-process: (exit status, stdout, stderr)."""
    from neon_theory.run.cli import main

    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(err: str, *needles: str) -> None:
    assert err.startswith("neon-theory: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def sweep_file(tmp_path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@dataclass(frozen=True)
class CubeCell:
    """A cell for these tests.

    Attributes:
        x (float): in [0, 10].
        scale, offset (float): y = scale * x³ + offset + seed,
            written on two lines.
    """

    x: float = 1.0
    scale: float = 1.0
    offset: float = 0.0

    def __post_init__(self):
        if not 0 <= self.x <= 10:
            raise ValueError(f"x must lie in [0, 10]; got {self.x}")
