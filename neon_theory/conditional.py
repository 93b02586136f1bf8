"""The exact P-cosine of a model whose rows split into an outer part and a Gaussian-like inner part.

When a row splits into an outer part o and an inner part i whose law given o is known on both
the real and the synthetic side (the AR toy: o = x₁, i = x₂ | x₁ Gaussian), every population
moment that the P-cosine needs can be conditioned on o (Rao–Blackwell):

* r = E[∇ℓ] = E_o[∇ E[ℓ | o]]: the gradient of the *conditional loss* E[ℓ | o];
* m₂ = E[g²] = E_o[(E[g | o])²] + E_o[Var(g | o)], and Var(g | o) = Σ_k (∇p_k)² for k
  *variance pseudo-losses* p_k(o) whose coefficients factor the covariance of ∂ℓ/∂(outputs)
  given o (for the AR toy: the Cholesky factor of the 2×2 covariance of (∂ℓ/∂μ₂, ∂ℓ/∂log σ₂));
* P = diag(1/(√E[g_B²] + eps)) with E[g_B²] = r²(1 − 1/B) + m₂/B, the expectation of Adam's
  minibatch second moment (:func:`~neon_theory.preconditioners.moment_second_moment`).

When o is low-dimensional the outer expectation is a quadrature: a
:class:`~neon_theory.gradients.WeightedSupport` of outer rows whose weights are the rule's
weights times the law's density (the family places the nodes, e.g. between the kinks of a ReLU
network, where the integrand is smooth).  Then r_d, r_s and P are computed, not estimated: the
cosine is exact up to the rule's error, which a finer rule bounds.  The estimand is the plain
estimator's (its limit in the number of rows); no row is drawn at random.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import torch
from torch import Tensor

from .checks import check_int
from .gradients import WeightedSupport, paired_population_gradients, per_example_gradient_sums
from .preconditioners import Diagonal
from .probe import CosineProbe, Streams


@runtime_checkable
class ConditionalLoss(Protocol):
    """A model's loss integrated over the inner part of each row, on outer rows.

    * ``module``: the model's ``nn.Module`` (θ);
    * ``per_example_loss(rows, noise)``: E[ℓ_θ | o] per row, shape (n,) (``noise`` is ``None``);
      its gradient is E[∇ℓ_θ | o];
    * ``variance_losses(rows)``: shape (n, k): pseudo-losses p_k whose per-example gradients
      satisfy Σ_k (∇p_k)² = Var(∇ℓ_θ | o) elementwise (coefficients detached from θ);
    * ``outer_parameters``: names of parameters whose gradient is a function of o alone (zero
      conditional variance, so the pseudo-losses give them no gradient);
    * optional ``per_example_parameter_gradients(rows, noise)``, as for a model
      (:func:`~neon_theory.gradients.per_example_gradient_sums`).
    """

    module: torch.nn.Module
    outer_parameters: tuple

    def per_example_loss(self, rows: Tensor, noise=None) -> Tensor:
        ...

    def variance_losses(self, rows: Tensor) -> Tensor:
        ...


class _AsModel:
    """A :class:`ConditionalLoss` seen by the gradient engine as a model whose loss draws no noise."""

    def __init__(self, loss: ConditionalLoss):
        self.loss, self.module = loss, loss.module
        own = getattr(loss, "per_example_parameter_gradients", None)
        if callable(own):
            self.per_example_parameter_gradients = own

    def draw_noise(self, n, generator):
        return None

    def sample(self, n, sampler, generator):
        raise NotImplementedError("a loss view (conditional, weighted or variance rows) is not a sampler")

    def per_example_loss(self, rows, noise=None):
        return self.loss.per_example_loss(rows, noise)


class _Weighted(_AsModel):
    """A model over rows with a last column √w: loss √w·ℓ, so per-example squared gradients sum to Σ w g²."""

    def __init__(self, model):
        self.model, self.module = model, model.module
        own = getattr(model, "per_example_parameter_gradients", None)
        if callable(own):
            self.per_example_parameter_gradients = lambda rows, noise=None: {
                k: g * rows[:, -1].reshape(-1, *[1] * (g.ndim - 1)).to(g) for k, g in own(rows[:, :-1], noise).items()
            }

    def per_example_loss(self, rows: Tensor, noise=None) -> Tensor:
        loss = self.model.per_example_loss(rows[:, :-1], noise)
        return loss * rows[:, -1].to(loss)


class _VarianceRows(_Weighted):
    """The pseudo-losses as a model over k·n rows (outer row, pseudo-loss index, √w), so that
    per-example squared gradients sum to Σ_i w_i Σ_k (∇p_k(o_i))² = Σ_i w_i Var(g | o_i)."""

    def __init__(self, loss: ConditionalLoss, k: int):
        self.loss, self.module, self.k = loss, loss.module, k

    def per_example_loss(self, rows: Tensor, noise=None) -> Tensor:
        losses = self.loss.variance_losses(rows[:, :-2])
        pick = rows[:, -2:-1] == torch.arange(self.k, device=rows.device, dtype=rows.dtype)  # one-hot; traceable by vmap
        return (losses * pick.to(losses)).sum(-1) * rows[:, -1].to(losses)

    def per_example_parameter_gradients(self, rows: Tensor, noise=None) -> dict:
        named = dict(self.module.named_parameters())
        return {name: rows.new_zeros((rows.shape[0], *named[name].shape)) for name in self.loss.outer_parameters}

    @staticmethod
    def expand(rows: Tensor, root_w: Tensor, k: int) -> Tensor:
        index = torch.arange(k, dtype=rows.dtype, device=rows.device).repeat_interleave(rows.shape[0])
        return torch.cat([rows.repeat(k, 1), index[:, None], root_w.to(rows).repeat(k)[:, None]], 1)


def _check_loss(loss) -> ConditionalLoss:
    missing = [a for a in ("module", "per_example_loss", "variance_losses", "outer_parameters") if not hasattr(loss, a)]
    if missing:
        raise ValueError(f"loss must implement the ConditionalLoss contract; {type(loss).__name__} lacks {', '.join(missing)}")
    return loss


def conditional_second_moment(loss: ConditionalLoss, support: WeightedSupport, *, batch_size: int, eps: float = 1e-8, chunk_size: int = 4096):
    """Adam-minibatch P and r over a quadrature of outer rows, the inner part integrated exactly.

    Args:
        loss: a :class:`ConditionalLoss`.
        support: outer rows and their probabilities (a quadrature of the outer law).
        batch_size (int): Adam's minibatch B, in [1, inf).
        eps (float): Adam's eps.
        chunk_size (int): rows per forward pass.

    Returns:
        (Diagonal, GradientEstimate): P = diag(1/(√(r²(1 − 1/B) + m₂/B) + eps)) and r, both exact.
    """
    model = _AsModel(_check_loss(loss))
    if not isinstance(support, WeightedSupport):
        raise ValueError(f"support must be a WeightedSupport of outer rows (a quadrature); got {type(support).__name__}")
    B = check_int("batch_size", batch_size, lo=1)
    chunk = check_int("chunk_size", chunk_size, lo=1)
    r = paired_population_gradients(model, {"x": support}, chunk_size=chunk)["x"]
    m2 = torch.zeros_like(r.mean)
    spread = _VarianceRows(loss, loss.variance_losses(support.points[:1]).shape[-1])
    for a in range(0, support.points.shape[0], chunk):
        rows, root_w = support.points[a : a + chunk], support.weights[a : a + chunk].sqrt()
        m2 += per_example_gradient_sums(_Weighted(model), torch.cat([rows, root_w[:, None].to(rows)], 1)).square_sum
        m2 += per_example_gradient_sums(spread, _VarianceRows.expand(rows, root_w, spread.k)).square_sum
    v = r.mean * r.mean * (1 - 1 / B) + m2 / B
    return Diagonal(1.0 / (v.sqrt() + eps), f"adam-minibatch(B={B}, exact)"), r


def exact_conditional_probe(loss: ConditionalLoss, real: WeightedSupport, synthetic_of: Callable, sizes, streams: Streams, *, name: str) -> CosineProbe:
    """A P-cosine probe computed by quadrature: r_d, P and every r_s are exact (standard errors 0).

    Args:
        loss: a :class:`ConditionalLoss` of θ_r.
        real: the real law's outer rows as a quadrature (:class:`~neon_theory.gradients.WeightedSupport`).
        synthetic_of: ``value -> WeightedSupport``: the synthetic law's at one sampler setting.
        sizes: :class:`~neon_theory.probe.ProbeSizes` (``grad_batch`` is Adam's B).
        streams: :class:`~neon_theory.probe.Streams` (records carry its seed; nothing is drawn).
        name: the record column of the sampler setting.
    """
    P, real_estimate = conditional_second_moment(loss, real, batch_size=sizes.grad_batch)
    return CosineProbe(_AsModel(loss), real, synthetic_of, P, sizes=sizes, streams=streams, name=name, real_estimate=real_estimate)


__all__ = ["ConditionalLoss", "conditional_second_moment", "exact_conditional_probe"]
