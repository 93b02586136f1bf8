"""Population gradients with standard errors, common random numbers and per-sample paths.

``population_gradient`` estimates r = E_source[∇_θ ℓ_θ(x)] by streaming the source in
chunks (memory does not grow with n) and accumulating in float64 on the parameters' device
(source rows are moved there chunk by chunk; :mod:`neon_theory.device` covers devices
without float64).  The n examples are split into ``n_batches`` contiguous batches whose
means are kept: they give the batch-means standard error here and the jackknife errors in
:mod:`alignment`.

``paired_population_gradients`` estimates r_d and r_s with the *same* loss noise for the
i-th real and the i-th synthetic chunk (common random numbers).

Loss noise is drawn chunk by chunk from ``noise_generator``, so for noise-carrying losses
the estimate is a reproducible function of (seed, n, n_batches, chunk_size); keep those
fixed across a sweep for common random numbers.

A *source* is one of:

* a :class:`~neon_theory.contracts.Target` (anything with ``sample(n, generator)``),
  e.g. the data law or :class:`ModelLaw` (fresh draws from q_{θ,κ});
* a ``Tensor`` of shape (N, ...): a finite set, read in order (e.g. a frozen S);
* a :class:`WeightedSupport`: exact expectation by enumeration (standard error 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from .checks import check_choice, check_generator, check_int, check_tensor
from .contracts import GenerativeModel, Noise, Target, check_model, noise_rows
from .device import RunningSum, accumulator_dtype, module_device, to_accumulator
from .params import flatten, num_parameters, trainable_named_parameters
from .progress import tqdm


@dataclass(frozen=True)
class WeightedSupport:
    """A discrete law given by its support and probabilities (exact expectations).

    Args:
        points (Tensor): shape (m, ...).
        weights (Tensor): shape (m,), nonnegative, summing to 1.
    """

    points: Tensor
    weights: Tensor

    def __post_init__(self):
        check_tensor("points", self.points)
        check_tensor("weights", self.weights, shape=(self.points.shape[0],))
        w = self.weights.detach().cpu().double()  # checked in float64 whatever the device
        if bool((w < 0).any()) or abs(float(w.sum()) - 1.0) > 1e-9:
            raise ValueError("weights must be nonnegative and sum to 1 (within 1e-9)")


@dataclass(frozen=True)
class ModelLaw:
    """Fresh draws from a model's sampling law q_{θ,κ} as a source (infinite |S|)."""

    model: object
    sampler: object = None

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.model.sample(n, self.sampler, generator)

    def uniform_dim(self) -> int:
        """Uniforms per draw for ``sampling="rqmc"`` (the model's ``sample_uniform_dim(sampler)``)."""
        if not callable(getattr(self.model, "sample_uniform_dim", None)):
            raise ValueError(f"{type(self.model).__name__} cannot sample from uniforms (no sample_uniform_dim); use sampling='mc'")
        return self.model.sample_uniform_dim(self.sampler)

    def sample_from_uniform(self, u: Tensor) -> Tensor:
        """Draws from q_{θ,κ} as a function of uniforms u of shape (n, uniform_dim())."""
        return self.model.sample_from_uniform(u, self.sampler)


#: Where population gradients are estimated from: a finite set of rows, a data law, the
#: model's own (sharpened) law, or an exact finite support with weights.
Source = Tensor | Target | ModelLaw | WeightedSupport


@dataclass(frozen=True)
class GradientEstimate:
    """A population gradient and its uncertainty.

    Attributes:
        mean (Tensor): shape (p,), float64; the estimate of E[∇ℓ].
        se (Tensor): shape (p,), float64; batch-means standard error (0 when exact).
        batch_means (Tensor): shape (n_batches, p), float64.
        batch_weights (Tensor): shape (n_batches,), float64, summing to 1.
        n (int): examples used.
        exact (bool): computed by enumeration or closed form.

    The tensors live on the parameters' device (float64 is the accumulator dtype there; see
    :mod:`neon_theory.device`).
    """

    mean: Tensor
    se: Tensor
    batch_means: Tensor
    batch_weights: Tensor
    n: int
    exact: bool = False

    @property
    def n_batches(self) -> int:
        return int(self.batch_means.shape[0])

    @classmethod
    def from_batch_sums(cls, sums: Tensor, weights: Tensor, n: int) -> "GradientEstimate":
        """The estimate from per-batch sums of (weighted) gradients, shape (k, p), and the batches'
        total weights (rows), shape (k,), k ≥ 2: the weighted mean and its batch-means SE
        sqrt(k/(k−1) Σ_b w_b² (m_b − m)²)."""
        check_tensor("sums", sums, ndim=2, finite=False)  # no value check: it would sync (and fails on meta tensors)
        k = sums.shape[0]
        check_tensor("weights", weights, shape=(k,), finite=False)
        if k < 2:
            raise ValueError(f"sums must hold at least 2 batches for a standard error; got {k}")
        means = sums / weights.clamp_min(1e-300)[:, None]
        w = weights / weights.sum()
        mean = (w[:, None] * means).sum(0)
        se = torch.sqrt(k / (k - 1) * ((w[:, None] * (means - mean)) ** 2).sum(0))
        return cls(mean, se, means, w, int(n))

    @classmethod
    def from_exact(cls, vector: Tensor) -> "GradientEstimate":
        """Wrap an exactly known gradient, shape (p,)."""
        check_tensor("vector", vector, ndim=1)
        v = to_accumulator(vector.detach())
        return cls(v, torch.zeros_like(v), v[None].clone(), v.new_ones(1), 0, True)


def as_estimate(g) -> GradientEstimate:
    """Accept a ``GradientEstimate`` or an exact vector."""
    return g if isinstance(g, GradientEstimate) else GradientEstimate.from_exact(g)


def _source_size(source: Source, n: int | None) -> int:
    if isinstance(source, WeightedSupport):
        return source.points.shape[0]
    if isinstance(source, Tensor):
        size = source.shape[0]
        if n is None:
            return size
        return check_int("n", n, lo=1, hi=size)
    if not callable(getattr(source, "sample", None)):
        raise ValueError(
            "source must be a Tensor, a WeightedSupport or an object with sample(n, generator); "
            f"got {type(source).__name__}"
        )
    if n is None:
        raise ValueError("n (number of examples) is required when the source is a sampling law")
    return check_int("n", n, lo=1)


def _take(source: Source, start: int, stop: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor | None]:
    """Rows [start, stop) of the source and their weights (``None`` = uniform)."""
    if isinstance(source, WeightedSupport):
        return source.points[start:stop], to_accumulator(source.weights[start:stop])
    if isinstance(source, Tensor):
        return source[start:stop], None
    return source.sample(stop - start, generator), None


def _batch_bounds(n: int, n_batches: int) -> list[tuple[int, int]]:
    edges = [round(i * n / n_batches) for i in range(n_batches + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _check_edges(edges, n: int) -> list[tuple[int, int]]:
    """Validate explicit batch edges 0 = e_0 < e_1 < … < e_k = n; returns [(e_i, e_{i+1})]."""
    try:
        e = [int(v) for v in edges]
    except (TypeError, ValueError):
        raise ValueError(f"batch_edges must be a sequence of integers from 0 to n={n}") from None
    if len(e) < 3 or e[0] != 0 or e[-1] != n or any(b <= a for a, b in zip(e[:-1], e[1:])):
        raise ValueError(f"batch_edges must increase strictly from 0 to n={n} with at least 2 batches; got {e[:5]}{'…' if len(e) > 5 else ''}")
    return list(zip(e[:-1], e[1:]))


def _chunk_bounds(start: int, stop: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(a, min(a + chunk_size, stop)) for a in range(start, stop, chunk_size)]


def _weighted_loss_sum(model: GenerativeModel, x: Tensor, noise: Noise, weights: Tensor | None, device=None) -> Tensor:
    """Σ weight·ℓ over a chunk (weight 1 when uniform), a differentiable scalar; the rows go to θ's
    device (``device``, when the caller already knows it: finding it walks the module)."""
    loss = model.per_example_loss(x.to(module_device(model.module) if device is None else device), noise)
    if loss.ndim != 1 or loss.shape[0] != x.shape[0]:
        raise ValueError(f"per_example_loss must return shape ({x.shape[0]},); got {tuple(loss.shape)}")
    return loss.sum() if weights is None else (loss * weights.to(loss)).sum()


def _chunk_grad(model: GenerativeModel, x: Tensor, noise: Noise, weights: Tensor | None, params) -> Tensor:
    """Sum over the chunk of weight·∇ℓ, flat float64 on θ's device."""
    gs = torch.autograd.grad(_weighted_loss_sum(model, x, noise, weights, params[0].device if params else None), params, allow_unused=True)
    return flatten(gs, params)


def _stream(model: GenerativeModel, source: Source, n, chunk_size, generator, noise_generator, *, desc: str = "", progress: bool = False):
    """Validate, then yield (x, noise, weights | None, weight sum) chunk by chunk."""
    check_model(model)
    size = _source_size(source, n)
    cs = check_int("chunk_size", chunk_size, lo=1)
    if not isinstance(source, (Tensor, WeightedSupport)):
        check_generator("generator", generator)
    for a, z in tqdm(_chunk_bounds(0, size, cs), disable=not progress, desc=desc):
        x, w = _take(source, a, z, generator)
        yield x, _draw_noise(model, z - a, noise_generator), w, (z - a) if w is None else float(w.sum())


def _defaults(n: int, n_batches: int | None, chunk_size: int | None, exact: bool) -> tuple[int, int]:
    nb = 1 if exact else check_int("n_batches", 32 if n_batches is None else n_batches, lo=2)
    if nb > n:
        raise ValueError(f"n_batches must be in [2, n={n}]; got {nb}")
    cs = check_int("chunk_size", 4096 if chunk_size is None else chunk_size, lo=1)
    return nb, cs


def paired_population_gradients(
    model: GenerativeModel,
    sources: dict,
    n: int | None = None,
    *,
    generator: torch.Generator | None = None,
    noise_generator: torch.Generator | None = None,
    n_batches: int | None = None,
    chunk_size: int | None = None,
    batch_edges=None,
    sampling: str = "mc",
    losses: dict | None = None,
    progress: bool = False,
) -> dict[str, GradientEstimate]:
    """Population gradients for several sources with common random numbers.

    The k-th chunk of every source is evaluated with the *same* loss noise, so estimates
    of r_d and r_s (and any differences between them) share their noise.

    Args:
        model: a :class:`GenerativeModel`.
        sources (dict): name → source (see module docstring).  All must give the same n.
        n (int | None): examples per source (default: the size of the first finite source).
        generator: data draws for sampling-law sources (one stream per source is split
            off by drawing seeds from it, so sources do not share data randomness).
        noise_generator: loss noise (required when the model draws noise).
        n_batches (int): batches for the standard error, in [2, n] (default 32; 1 if exact).
        chunk_size (int): examples per forward pass (default 4096); a chunk never spans two
            batches, so the effective chunk is at most n / n_batches.
        batch_edges: optional explicit batch boundaries, strictly increasing integers from 0 to n
            (so ``len(batch_edges) − 1`` batches, in [2, n]), instead of ``n_batches`` equal ones;
            e.g. :attr:`~neon_theory.preconditioners.BlockDiagonal.row_edges`, so that the
            batches coincide with the blocks of a preconditioner estimated on the same rows.
        sampling (str): ``"mc"`` (independent draws) or ``"rqmc"``: the loss noise, and the rows
            of law sources, come from scrambled Sobol points, one independent scramble per batch
            (seeded from ``noise_generator``); see :mod:`neon_theory.qmc`.  Law sources share
            their uniforms (common random numbers in the data as well as the noise); the model
            needs ``noise_dim``/``noise_from_uniform`` if its loss draws noise, and law sources
            ``uniform_dim``/``sample_from_uniform``.
        losses (dict | None): name → a model whose ``per_example_loss`` is used for that source
            instead of ``model``'s (same ``module``, same noise), e.g. a control-variate loss
            with the same expected gradient on that source.

    Returns:
        dict name → :class:`GradientEstimate`.
    """
    check_model(model)
    check_choice("sampling", sampling, ("mc", "rqmc"))
    if not isinstance(sources, dict) or not sources:
        raise ValueError("sources must be a non-empty dict name -> source")
    if n is None:  # sampling laws take their n from the finite sources, if any
        finite = [_source_size(s, None) for s in sources.values() if isinstance(s, (Tensor, WeightedSupport))]
        if len(set(finite)) > 1:
            raise ValueError(f"all sources must give the same n; the finite sources have sizes {finite}")
        n = finite[0] if finite else None
    sizes = {k: _source_size(s, n) for k, s in sources.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"all sources must give the same n; got {sizes}")
    n_eff = next(iter(sizes.values()))
    exact = all(isinstance(s, WeightedSupport) for s in sources.values())
    explicit = None if batch_edges is None else _check_edges(batch_edges, n_eff)
    if explicit is not None:
        if n_batches is not None and n_batches != len(explicit):
            raise ValueError(f"n_batches={n_batches} disagrees with batch_edges ({len(explicit)} batches); give one of them")
        n_batches = len(explicit)
    nb, cs = _defaults(n_eff, n_batches, chunk_size, exact)
    # under rqmc, law sources are driven by the Sobol points, not by a data generator
    needs_data_rng = sampling != "rqmc" and any(not isinstance(s, (Tensor, WeightedSupport)) for s in sources.values())
    if needs_data_rng:
        check_generator("generator", generator)
    if noise_generator is not None:
        check_generator("noise_generator", noise_generator)
    data_gens = {}
    for k in sources:
        if needs_data_rng:  # split streams stay on the user's generator's device: the same draws on any model device
            g = torch.Generator(device=generator.device)
            g.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)))
            data_gens[k] = g
    loss_models = _loss_models(model, sources, losses)
    params = [p for _, p in trainable_named_parameters(model.module)]
    p_dim = num_parameters(model.module)
    device = module_device(model.module)
    bounds = explicit if explicit is not None and not exact else _batch_bounds(n_eff, nb)
    batch_means = {k: RunningSum((len(bounds), p_dim), device) for k in sources}
    batch_w = {k: [0.0] * len(bounds) for k in sources}  # Python floats: no tensor op per chunk
    chunks = _chunks(model, sources, bounds, cs, data_gens, noise_generator, sampling)  # validates before any work
    bar = tqdm(total=n_eff, disable=not progress, desc="population gradient", unit="ex")
    sizes = [p.numel() for p in params]
    for b, a, z, noise, rows in chunks:
        for k, (x, w) in rows.items():
            # the gradients go straight into their slices of the float64 row (no flat float64 copy per chunk)
            grads = torch.autograd.grad(_weighted_loss_sum(loss_models[k], x, noise, w, device), params, allow_unused=True)
            batch_means[k].add_parts(grads, sizes, b)
            batch_w[k][b] += (z - a) if w is None else float(w.sum())
        bar.update(z - a)
    bar.close()
    batch_w = {k: torch.tensor(v, dtype=accumulator_dtype(device), device=device) for k, v in batch_w.items()}
    if exact:
        out = {}
        for k in sources:
            w = batch_w[k]
            mean = ((w / w.sum())[:, None] * batch_means[k].total / w.clamp_min(1e-300)[:, None]).sum(0)
            out[k] = GradientEstimate(mean, torch.zeros_like(mean), mean[None].clone(), mean.new_ones(1), n_eff, True)
        return out
    return {k: GradientEstimate.from_batch_sums(batch_means[k].total, batch_w[k], n_eff) for k in sources}


def _loss_models(model: GenerativeModel, sources: dict, losses: dict | None) -> dict:
    """name → the model whose loss a source uses (``model`` unless ``losses`` names another)."""
    if losses is None:
        return {k: model for k in sources}
    if not isinstance(losses, dict) or not set(losses) <= set(sources):
        raise ValueError(f"losses must be a dict whose keys are among the sources {sorted(sources)}; got {losses!r}")
    for k, m in losses.items():
        if check_model(m).module is not model.module:
            raise ValueError(f"losses[{k!r}] must share the model's module (the same θ)")
    return {k: losses.get(k, model) for k in sources}


def _rqmc_layout(model: GenerativeModel, sources: dict, noise_generator, n_batches: int) -> tuple:
    """Validate an rqmc pass and lay out its uniforms: (source → columns, data columns, noise columns, one scramble seed per batch)."""
    from . import qmc

    if any(isinstance(s, WeightedSupport) for s in sources.values()):
        raise ValueError("sampling='rqmc' does not apply to a WeightedSupport (its expectation is already exact)")
    check_generator("noise_generator", noise_generator)
    dims = {k: 0 if isinstance(s, Tensor) else qmc.source_uniform_dim(s) for k, s in sources.items()}
    d_data, d_noise = max(dims.values()), qmc.noise_uniform_dim(model)
    if d_data + d_noise > qmc.MAX_DIM:
        raise ValueError(f"sampling='rqmc' supports up to {qmc.MAX_DIM} uniforms per row; the sources and noise need {d_data + d_noise}")
    return dims, d_data, d_noise, qmc.scramble_seeds(noise_generator, n_batches)


def _chunks(model: GenerativeModel, sources: dict, bounds, chunk_size: int, data_gens: dict, noise_generator, sampling: str):
    """Validate, then return an iterator of (batch, start, stop, noise, {name: (x, weights | None)}), chunk by chunk.

    ``sampling="rqmc"``: each batch is one scrambled Sobol sequence (see :mod:`neon_theory.qmc`);
    law sources read its first columns, the loss noise the columns after the widest source.
    """
    check_choice("sampling", sampling, ("mc", "rqmc"))
    layout = _rqmc_layout(model, sources, noise_generator, len(bounds)) if sampling == "rqmc" else None
    return _chunk_iter(model, sources, bounds, chunk_size, data_gens, noise_generator, layout)


def _chunk_iter(model: GenerativeModel, sources: dict, bounds, chunk_size: int, data_gens: dict, noise_generator, layout):
    from . import qmc

    if layout is not None:
        dims, d_data, d_noise, seeds = layout
    for b, (lo, hi) in enumerate(bounds):
        u = qmc.sobol_uniforms(hi - lo, d_data + d_noise, seeds[b]) if layout is not None and d_data + d_noise else None
        for a, z in _chunk_bounds(lo, hi, chunk_size):
            if layout is None:
                noise = _draw_noise(model, z - a, noise_generator)
                rows = {k: _take(src, a, z, data_gens.get(k)) for k, src in sources.items()}
            else:
                uc = u[a - lo : z - lo] if u is not None else None
                noise = model.noise_from_uniform(uc[:, d_data:]) if d_noise else None
                rows = {
                    k: _take(src, a, z, None) if isinstance(src, Tensor) else (src.sample_from_uniform(uc[:, : dims[k]]), None)
                    for k, src in sources.items()
                }
            yield b, a, z, noise, rows


def _draw_noise(model: GenerativeModel, n: int, noise_generator):
    if noise_generator is None:
        noise = model.draw_noise(n, torch.Generator().manual_seed(0))
        if noise is not None:
            raise ValueError("noise_generator is required: this model's loss draws noise")
        return None
    return model.draw_noise(n, noise_generator)


def population_gradient(model: GenerativeModel, source: Source, n: int | None = None, **kwargs) -> GradientEstimate:
    """E_source[∇_θ ℓ_θ(x)] with its standard error; see :func:`paired_population_gradients`."""
    return paired_population_gradients(model, {"source": source}, n, **kwargs)["source"]


class _LossModule(nn.Module):
    """Lets ``functional_call`` swap θ while ``per_example_loss`` runs."""

    def __init__(self, model):
        super().__init__()
        self.m = model.module
        self._model = model

    def forward(self, x, noise):
        return self._model.per_example_loss(x, noise)


def per_sample_gradients(model: GenerativeModel, x: Tensor, noise: Noise = None, *, method: str = "auto") -> Tensor:
    """∇_θ ℓ_θ(x_i) for every row.

    Args:
        x (Tensor): shape (n, ...).
        noise: loss noise with leading dimension n, or ``None``.
        method (str): ``"vmap"`` (torch.func, fast), ``"loop"`` (one backward per example)
            or ``"auto"`` (vmap, falling back to the loop for losses that vmap cannot trace,
            e.g. with data-dependent input checks).

    Returns:
        Tensor: shape (n, p), float64, on the parameters' device (x is moved there).
    """
    check_model(model)
    check_choice("method", method, ("vmap", "loop", "auto"))
    if method == "auto":
        try:
            return per_sample_gradients(model, x, noise, method="vmap")
        except RuntimeError as e:
            if "vmap" not in str(e):
                raise
            return per_sample_gradients(model, x, noise, method="loop")
    device = module_device(model.module)
    x = check_tensor("x", x, finite=False).to(device)
    named = trainable_named_parameters(model.module)
    params = [p for _, p in named]
    if method == "loop":
        rows = [_chunk_grad(model, x[i : i + 1], noise_rows(noise, slice(i, i + 1)), None, params) for i in range(x.shape[0])]
        return torch.stack(rows) if rows else torch.zeros(0, num_parameters(model.module), dtype=accumulator_dtype(device), device=device)
    wrapper = _LossModule(model)
    frozen = {"m." + k: v for k, v in model.module.named_buffers()}
    frozen.update({"m." + k: p.detach() for k, p in model.module.named_parameters() if not p.requires_grad})
    theta = {"m." + k: p.detach() for k, p in named}

    def one(theta_, xi, ni):
        nb = None if ni is None else _unsqueeze(ni)
        return functional_call(wrapper, {**frozen, **theta_}, (xi.unsqueeze(0), nb)).squeeze(0)

    if noise is None:
        g = vmap(grad(lambda t, xi: one(t, xi, None)), in_dims=(None, 0))(theta, x)
    else:
        g = vmap(grad(one), in_dims=(None, 0, 0))(theta, x, noise)
    return torch.cat([to_accumulator(g["m." + k].reshape(x.shape[0], -1)) for k, _ in named], dim=1)


@dataclass(frozen=True)
class GradientSums:
    """Σ_i g_i and Σ_i g_i² (elementwise) of the per-example gradients g_i = ∇_θ ℓ_θ(x_i) of a chunk.

    Attributes:
        sum (Tensor): shape (p,), float64.
        square_sum (Tensor): shape (p,), float64.
        n (int): rows.
    """

    sum: Tensor
    square_sum: Tensor
    n: int


class _LinearTap:
    """Forward/backward hooks that record the input a and the output gradient δ of every
    trainable ``nn.Linear``, so that Σ_i (δ_i a_iᵀ)² = (δ²)ᵀ(a²) gives the per-example squared
    gradients at the cost of a few matrix products (the BackPACK "sum of squared gradients"
    idea).  ``supported`` turns False when a layer sees rows that are not the examples (a
    3-D input, as in a transformer) or runs twice: the per-example gradient is then a sum
    over uses and the identity does not hold."""

    def __init__(self, module: nn.Module, n: int):
        self.n, self.supported, self.records, self.handles = n, True, {}, []
        self.layers = [m for m in module.modules() if isinstance(m, nn.Linear) and any(p.requires_grad for p in m.parameters(recurse=False))]
        for m in self.layers:
            self.handles.append(m.register_forward_hook(self._forward))

    def _forward(self, layer, inputs, output):
        a = inputs[0]
        if a.ndim != 2 or a.shape[0] != self.n or layer in self.records or not output.requires_grad:
            self.supported = False
            return
        self.records[layer] = [a.detach(), None]
        output.register_hook(lambda g, layer=layer: self.records[layer].__setitem__(1, g.detach()))

    def close(self):
        for h in self.handles:
            h.remove()


def _linear_layout_matches(layers: list, params: list) -> bool:
    """True when the trainable parameters are exactly the weights and biases of ``layers``, each
    owned by one layer (a weight tied between two layers sums over both uses: not covered)."""
    owned = [id(p) for m in layers for p in m.parameters(recurse=False) if p.requires_grad]
    return len(owned) == len(set(owned)) and set(owned) == {id(p) for p in params}


def per_example_gradient_sums(model: GenerativeModel, x: Tensor, noise: Noise = None) -> GradientSums:
    """Σ_i g_i and Σ_i g_i² over the rows of one chunk, g_i = ∇_θ ℓ_θ(x_i).

    When every trainable parameter is the weight or bias of an ``nn.Linear`` applied once to
    the (n, features) rows (MLPs such as the toys' networks), one backward pass plus two
    matrix products per layer give the exact squared sums, at about the cost of the batch
    gradient; otherwise the per-example gradients are formed (:func:`per_sample_gradients`,
    much slower).  Rows must not interact in the loss (no batch normalisation).  A model may
    supply the per-example gradients of its other parameters with an optional method
    ``per_example_parameter_gradients(x, noise) -> {name: Tensor (n, *shape)}`` (e.g. free
    location and scale parameters, in closed form); the Linear taps then cover the rest.

    Args:
        x (Tensor): shape (n, ...).
        noise: loss noise with leading dimension n, or ``None``.

    Returns:
        :class:`GradientSums`, float64 on θ's device.
    """
    check_model(model)
    x = check_tensor("x", x, finite=False)
    n = x.shape[0]
    named = trainable_named_parameters(model.module)
    params = [p for _, p in named]
    own = getattr(model, "per_example_parameter_gradients", None)
    extra = {}
    if callable(own):
        rows = own(x, noise)
        extra = {id(p): rows[k] for k, p in named if k in rows}
        for k, p in named:
            if k in rows:
                check_tensor(f"per_example_parameter_gradients()[{k!r}]", rows[k], shape=(n, *p.shape), finite=False)
    tap = _LinearTap(model.module, n)
    try:
        if tap.layers and _linear_layout_matches(tap.layers, [p for p in params if id(p) not in extra]):
            grads = torch.autograd.grad(_weighted_loss_sum(model, x, noise, None), params, allow_unused=True)
            if tap.supported and len(tap.records) == len(tap.layers) and all(d is not None for _, d in tap.records.values()):
                squares = {i: (to_accumulator(g.detach()).reshape(n, -1) ** 2).sum(0) for i, g in extra.items()}
                for layer, (a, d) in tap.records.items():
                    a2, d2 = to_accumulator(a) ** 2, to_accumulator(d) ** 2
                    squares[id(layer.weight)] = d2.T @ a2
                    if layer.bias is not None:
                        squares[id(layer.bias)] = d2.sum(0)
                sq = flatten([squares.get(id(p)) for p in params], params)
                return GradientSums(flatten(grads, params), sq, n)
    finally:
        tap.close()
    g = per_sample_gradients(model, x, noise)
    return GradientSums(g.sum(0), (g * g).sum(0), n)


def _unsqueeze(noise):
    if isinstance(noise, Tensor):
        return noise.unsqueeze(0)
    if isinstance(noise, tuple):
        return tuple(_unsqueeze(v) for v in noise)
    return {k: _unsqueeze(v) for k, v in noise.items()}


@dataclass(frozen=True)
class SecondMoment:
    """E[g gᵀ] of per-example gradients.

    Attributes:
        value (Tensor): shape (p,) if diagonal else (p, p), float64, on the parameters' device.
        mean (Tensor): shape (p,), the mean gradient (so the covariance is value − mean meanᵀ).
        n (int): examples used.
    """

    value: Tensor
    mean: Tensor
    n: int
    diagonal: bool


def gradient_second_moment(
    model: GenerativeModel,
    source: Source,
    n: int | None = None,
    *,
    diagonal: bool = True,
    generator: torch.Generator | None = None,
    noise_generator: torch.Generator | None = None,
    chunk_size: int = 1024,
    method: str = "auto",
    progress: bool = False,
) -> SecondMoment:
    """Stream E[g gᵀ] (or its diagonal) of per-example gradients g = ∇ℓ_θ(x).

    With the data law as source and an NLL loss this is the empirical Fisher; with
    :class:`ModelLaw` it is a Monte Carlo estimate of the true Fisher.
    """
    p = num_parameters(check_model(model).module)
    device = module_device(model.module)
    acc, mean = RunningSum(p if diagonal else (p, p), device), RunningSum(p, device)
    total_w, size = 0.0, 0
    for x, noise, w, wsum in _stream(model, source, n, chunk_size, generator, noise_generator, desc="second moment", progress=progress):
        g = per_sample_gradients(model, x, noise, method=method)
        w = g.new_ones(g.shape[0]) if w is None else w.to(g)
        acc.add((w[:, None] * g * g).sum(0) if diagonal else (w[:, None] * g).T @ g)
        mean.add((w[:, None] * g).sum(0))
        total_w += wsum
        size += x.shape[0]
    return SecondMoment(acc.total / total_w, mean.total / total_w, size, diagonal)


def population_hessian(
    model: GenerativeModel, source: Source, n: int | None = None, *, generator: torch.Generator | None = None,
    noise_generator: torch.Generator | None = None, chunk_size: int = 4096, vector: Tensor | None = None,
) -> Tensor:
    """Dense ∇²_θ E_source[ℓ_θ], shape (p, p), float64 on θ's device.  For small models (p up to a few thousand).

    With ``vector`` (shape (p,)) it returns the product ∇²_θ E_source[ℓ_θ] · v instead, shape
    (p,), one streamed pass that never forms the matrix (see :func:`hessian_vector_product`).
    """
    params = [p for _, p in trainable_named_parameters(check_model(model).module)]
    p_dim, device = num_parameters(model.module), module_device(model.module)
    if vector is not None:
        check_tensor("vector", vector, shape=(p_dim,))
    out = RunningSum((p_dim, p_dim) if vector is None else p_dim, device)
    total_w = 0.0
    for x, noise, w, wsum in _stream(model, source, n, chunk_size, generator, noise_generator):
        # fused attention kernels and compiled graphs have no double backward: the math kernel, run eagerly
        with sdpa_kernel(SDPBackend.MATH), torch.compiler.set_stance("force_eager"):
            grads = torch.autograd.grad(_weighted_loss_sum(model, x, noise, w), params, create_graph=True, allow_unused=True)
        total_w += wsum
        if vector is not None:  # one more backward pass through ⟨∇ℓ, v⟩
            dot = sum((gi * vi.to(gi)).sum() for gi, vi in zip(grads, _split(vector, params)) if gi is not None)
            if isinstance(dot, Tensor) and dot.requires_grad:
                out.add(flatten(torch.autograd.grad(dot, params, allow_unused=True), params))
            continue
        g_graph = torch.cat([(gi if gi is not None else torch.zeros_like(p)).reshape(-1) for gi, p in zip(grads, params)])
        for i in range(p_dim if g_graph.requires_grad else 0):
            out.add(flatten(torch.autograd.grad(g_graph[i], params, retain_graph=True, allow_unused=True), params), i)
    H = out.total / total_w
    return H if vector is not None else 0.5 * (H + H.T)


def hessian_vector_product(model: GenerativeModel, source: Source, vector: Tensor, n: int | None = None, **options) -> Tensor:
    """∇²_θ E_source[ℓ_θ] · v for v of shape (p,), streamed; returns shape (p,), float64 on θ's device.

    ``options`` are :func:`population_hessian`'s keyword arguments (``generator``,
    ``noise_generator``, ``chunk_size``).
    """
    return population_hessian(model, source, n, vector=vector, **options)


def hessian_operator(model: GenerativeModel, source: Source, n: int | None = None, *, seed: int = 0, **options) -> Callable[[Tensor], Tensor]:
    """The function v ↦ ∇²_θ E_source[ℓ_θ] · v (shape (p,) → (p,)), for ``alignment(hessian=...)``
    on models too large for the dense matrix.

    Every call draws the same ``n`` rows and the same loss noise (generators made from ``seed``
    per call), so the products are of one fixed Monte Carlo Hessian; ``options`` as
    :func:`population_hessian`'s (a ``noise_generator`` given there advances between calls).
    """
    from .rng import generator

    check_model(model)

    def apply(vector: Tensor) -> Tensor:
        streams = {"generator": generator(seed, "hessian"), "noise_generator": generator(seed, "hessian-noise")}
        return hessian_vector_product(model, source, vector, n, **{**streams, **options})

    return apply


def _split(vector: Tensor, params) -> list[Tensor]:
    out, i = [], 0
    for p in params:
        out.append(vector[i : i + p.numel()].reshape(p.shape))
        i += p.numel()
    return out


__all__ = [
    "GradientEstimate",
    "GradientSums",
    "ModelLaw",
    "SecondMoment",
    "WeightedSupport",
    "as_estimate",
    "gradient_second_moment",
    "hessian_operator",
    "hessian_vector_product",
    "paired_population_gradients",
    "per_example_gradient_sums",
    "per_sample_gradients",
    "population_gradient",
    "population_hessian",
]
