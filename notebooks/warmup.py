# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation
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
out = "figures"

# %%
from IPython.display import Image, display

from neon_theory.run.figures import make_figure, workspace_path
from neon_theory.run.summary import display_table, summarise

store, out = workspace_path(store), workspace_path(out)  # where the CLI writes, from any working directory

# %%
w = make_figure("warmup", preset, store=store, out=out)
display(Image(filename=str(w["paths"][0])))
display_table(summarise(w["frames"]["rate"], ["improvement_rate"]))
