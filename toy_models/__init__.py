"""Model families for neon-theory and their data, one module each (Gaussian, GMM, MLP diffusion,
flow, AR, tokens, warm-up) and the image families in :mod:`toy_models.images`.  The studies that
run them live apart, in :mod:`studies`."""
