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
# # The Gaussian warm-up (App. B.1)
#
# One Neon step moves the MLE covariance Σ̂ to Σ̂ + aΣ̂⁻¹.  The population loss falls in
# expectation over training draws, but the per-draw improvement rate is far from 100% in
# low dimension.

# %% tags=["parameters"]
preset = "smoke"
store = "results/store"
out = "results/figures"

# %%
from IPython.display import Image, display

from neon_theory.run.figures import make_figure
from neon_theory.run.plots import seed_bands

# %%
w = make_figure("warmup", preset, store=store, out=out)
display(Image(filename=str(w["paths"][0])))
seed_bands(w["frames"]["rate"], x="n", y="result.improvement_rate", hue="dim").round(3)
