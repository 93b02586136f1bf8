"""The two official toys of the Neon paper (its toy notebook), reproduced with seeds and error bars.

Both run on the engine only (sampling, :func:`self_train`, :func:`merge`, Brent search,
:func:`paired_population_gradients`, :func:`adam_minibatch`, :func:`alignment`).

What the official notebook actually does, and what is reproduced here:

* **Diffusion.** Cosine schedule ᾱ_t = f(t)/f(0) (so ᾱ_0 = 1), T = 1000 for training;
  sampling uses a fresh cosine schedule of length 20 with network time input t/19.  The
  notebook asks for DDIM with η = 1, but its σ_t formula uses 1 − α_t/ᾱ_t (instead of
  1 − ᾱ_t/ᾱ_{t−1}), which is ≤ 0 and clamped to 0: the sampler it ran is *deterministic*
  DDIM.  The ``paper`` preset therefore uses η = 0 (``eta`` is a config field).  ζ
  multiplies the score inside x̂₀ only.
* **AR.** p(x₁)p(x₂|x₁), std temperature τ (σ → τσ), fine-tuned with Adam at batch 2048;
  the notebook walks the minibatches in order each epoch, here they are drawn at random
  without replacement (same number of steps: epochs × ⌈n_s/2048⌉).

The best w is found by bounded Brent search on the FD (common evaluation noise across w),
not by the notebook's dense grid.  The experiments ``ar-cell`` and ``diffusion-cell``
(:mod:`studies.official_ar.cells`, :mod:`studies.official_diffusion.cells`) run one (sharpness, budget, seed) cell each; the
figures ``official-ar`` and ``official-diffusion`` (``neon-theory toys``) run them over seeds.
"""

from __future__ import annotations

import torch

from neon_theory.metrics import frechet_distance_from_samples
from neon_theory.qmc import sobol_uniforms
from toy_models.gmm import official_gaussian

TOY_AXES = {"diffusion": ("zeta", "ft_steps"), "ar": ("tau", "ft_epochs")}

PUBLISHED = {
    "diffusion": {
        "base_log10_fd": -0.80,
        "best_w": {(1.1, 50): 1.2, (1.1, 250): 0.28, (0.9, 50): -1.1, (0.9, 250): -0.28},
        "best_log10_fd": {1.1: -1.47, 0.9: -1.28},
        "cosine": "≈ +0.1 below ζ ≈ 0.98, −0.17…−0.34 above (negative already at ζ = 1)",
    },
    "ar": {
        "base_fd": 0.099,
        "best_w": {(0.5, 50): 0.2, (0.5, 250): 0.1, (1.6, 50): -0.25, (1.6, 250): -0.175},
        "cosine": "≈ −0.5 for every τ < 1, ≈ +0.5 for every τ > 1",
    },
}


#: How the diffusion toy's P-cosine is estimated (the estimand is the same; see ``neon-theory bench``).

def evaluation_draws(model, sampler, n_eval: int, g, sampling: str = "mc"):
    """``n_eval`` draws of ``model`` at ``sampler`` for a metric: independent draws from the evaluation stream
    ``g``, or (``sampling="rqmc"``) a deterministic sampler on scrambled Sobol initial noise whose scramble
    is the evaluation stream's seed, so common across w (and across models: a merge, a guided sampler)."""
    if sampling == "rqmc":
        return model.sample_from_uniform(sobol_uniforms(n_eval, model.sample_uniform_dim(sampler), g.initial_seed() % 2**63), sampler)
    return model.sample(n_eval, sampler, g)


def fd_metric(sampler, n_eval: int, sampling: str = "mc"):
    """FD to the official Gaussian of ``n_eval`` :func:`evaluation_draws`."""
    target = official_gaussian()

    def metric(model, g):
        x = evaluation_draws(model, sampler, n_eval, g, sampling).double()
        if not bool(torch.isfinite(x).all()):
            return 1e6  # a diverged merge: worse than anything finite
        return frechet_distance_from_samples(x, target.mean(), target.cov())

    return metric




def population_loss_metric(n_rows: int, loss_of=None, chunk: int = 65_536):
    """The population loss for a best-w search: ``n_rows`` fixed target rows (one stream for every
    seed) with the loss noise (t, ε, where there is any) from the evaluation stream, so common across w.

    Args:
        n_rows (int): rows of the official Gaussian.
        loss_of: model ↦ the loss to average (default: the model's own ``per_example_loss``).
        chunk (int): rows a forward pass.
    """
    from neon_theory.rng import generator

    rows = official_gaussian().sample(n_rows, generator(0, "pop-loss")).float()

    def metric(model, g):
        loss = model if loss_of is None else loss_of(model)
        total = 0.0
        with torch.no_grad():
            for i in range(0, rows.shape[0], chunk):
                x = rows[i : i + chunk].to(torch.get_default_device())
                total += float(loss.per_example_loss(x, loss.draw_noise(x.shape[0], g)).double().sum())
        return total / rows.shape[0]

    return metric
