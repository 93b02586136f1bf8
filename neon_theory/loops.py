"""Self-consuming loops: a generator retrained, generation after generation, on its own samples.

Neon's neighbour in the literature on model collapse: where Neon uses self-generated data once and
extrapolates *away* from it, a self-consuming loop trains *on* it again and again.  Three forms:

- ``replace``: generation g + 1 trains on n fresh samples of generation g only;
- ``accumulate``: it trains on the real data and every synthetic set so far (the pool grows by n);
- ``fresh``: it trains on n rows, a share ``fresh_fraction`` of them fresh real draws and the rest
  samples of generation g.

The sampler (with its bias knob: a temperature, a score scale) and the training recipe are the
caller's: :func:`self_consuming_loop` only composes each generation's training set, on named
streams of one seed, and records what ``evaluate`` says of every generation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .checks import check_choice, check_int, check_real, check_tensor

#: the loop forms, and what each trains generation g + 1 on
LOOP_FORMS = {
    "replace": "n samples of generation g only",
    "accumulate": "the real data and every synthetic set so far",
    "fresh": "n rows: a share fresh_fraction of fresh real draws, the rest samples of generation g",
}


@dataclass(frozen=True)
class LoopSpec:
    """A self-consuming loop's shape.

    Attributes:
        form (str): one of :data:`LOOP_FORMS`.
        generations (int): retrainings after generation 0 (the model trained on real data), in [1, inf).
        n_synthetic (int): samples drawn from each generation, in [1, inf).
        fresh_fraction (float): the share of fresh real rows in a ``fresh`` loop's training set, in [0, 1].
    """

    form: str = "replace"
    generations: int = 5
    n_synthetic: int = 1000
    fresh_fraction: float = 0.5

    def __post_init__(self):
        check_choice("form", self.form, tuple(LOOP_FORMS))
        check_int("generations", self.generations, lo=1)
        check_int("n_synthetic", self.n_synthetic, lo=1)
        check_real("fresh_fraction", self.fresh_fraction, 0.0, 1.0)

    @property
    def n_fresh(self) -> int:
        """Fresh real rows per generation (0 outside ``fresh``)."""
        return round(self.fresh_fraction * self.n_synthetic) if self.form == "fresh" else 0


def self_consuming_loop(
    real_data: Tensor,
    spec: LoopSpec,
    *,
    train: Callable,
    sample: Callable,
    evaluate: Callable,
    fresh_real: Callable | None = None,
    streams: Callable,
    progress: bool = False,
) -> list[dict]:
    """Run one loop and evaluate every generation.

    Args:
        real_data (Tensor): generation 0's training set, shape (n, ...).
        spec (LoopSpec): the form, the number of generations and the sizes.
        train: ``train(data, generation, previous)`` → the model of that generation (``previous`` is
            generation g's model, ``None`` for generation 0: warm start or not is the caller's choice).
        sample: ``sample(model, n, generator)`` → n draws of the loop's sampler (its bias knob included).
        evaluate: ``evaluate(model)`` → a dict of metrics.
        fresh_real: ``fresh_real(n, generator)`` → n fresh real rows (needed by ``fresh`` only).
        streams: ``streams(name)`` → a generator for that name (e.g. ``functools.partial(rng.generator, seed)``):
            the samples generation g trains on (drawn from generation g − 1) come from "loop-sample/g", its fresh
            real rows from "loop-real/g", so two loops of one seed share them where their forms agree.

    Returns:
        list[dict]: per generation 0..generations, ``{"generation": g, "n_train": rows trained on, **evaluate(model)}``.
    """
    check_tensor("real_data", real_data, finite=False)
    if not isinstance(spec, LoopSpec):
        raise ValueError(f"spec must be a LoopSpec(form, generations, n_synthetic, fresh_fraction); got {type(spec).__name__}")
    if spec.n_fresh and fresh_real is None:
        raise ValueError("fresh_real must be given for a 'fresh' loop with round(fresh_fraction * n_synthetic) > 0")
    model = train(real_data, 0, None)
    records = [{"generation": 0, "n_train": int(real_data.shape[0]), **evaluate(model)}]
    pool = [real_data]
    for g in tqdm(range(1, spec.generations + 1), disable=not progress, desc=f"loop ({spec.form})"):
        synthetic = sample(model, spec.n_synthetic, streams(f"loop-sample/{g}")).to(real_data)
        if spec.form == "replace":
            data = synthetic
        elif spec.form == "accumulate":
            pool.append(synthetic)
            data = torch.cat(pool)
        else:
            fresh = fresh_real(spec.n_fresh, streams(f"loop-real/{g}")).to(real_data) if spec.n_fresh else real_data[:0]
            data = torch.cat([fresh, synthetic[: spec.n_synthetic - spec.n_fresh]])
        model = train(data, g, model)
        records.append({"generation": g, "n_train": int(data.shape[0]), **evaluate(model)})
    return records


__all__ = ["LOOP_FORMS", "LoopSpec", "self_consuming_loop"]
