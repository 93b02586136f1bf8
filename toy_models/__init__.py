"""Model families for neon-theory, one module each (Gaussian, GMM, MLP diffusion, flow, AR, tokens),
and their drivers in :mod:`toy_models.drivers` (official presets, experiments, figures, commands)."""
