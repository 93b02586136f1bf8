# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Alignment vs sampler sharpness
#
# The P-cosine of r_d and r_s for every model family and sampler (exact Gaussian, exact
# tokens with temperature / top-k / top-p, the official AR and diffusion toys), and the
# over-dispersed counterexample.  All logic lives in `toy_models.drivers.figures`; this notebook
# runs the cached sweeps and shows the figures.  `preset = "paper"` gives the full sizes.

# %% tags=["parameters"]
preset = "smoke"
store = "results/store"
out = "results/figures"

# %%
from IPython.display import Image, display

from neon_theory.run.figures import make_figure
from neon_theory.run.plots import seed_bands

# %%
cos = make_figure("cosine-vs-sharpness", preset, store=store, out=out)
display(Image(filename=str(cos["paths"][0])))

# %%
seed_bands(cos["frames"]["ar"], x="tau", y="result.cosine").round(3)

# %%
od = make_figure("over-dispersed", preset, store=store, out=out)
display(Image(filename=str(od["paths"][0])))
seed_bands(od["frames"]["gaussian"], x="T", y="result.s", hue="base").round(3)
