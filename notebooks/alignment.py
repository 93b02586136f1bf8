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
# # Alignment vs sampler sharpness
#
# The P-cosine of r_d and r_s for every model family and sampler (exact Gaussian, exact
# tokens with temperature / top-k / top-p, the official AR and diffusion toys), and the
# over-dispersed counterexample.  All logic lives in `studies` (the catalogue and the Gaussian study's figures); this notebook
# runs the cached sweeps and shows the figures.  `preset = "paper"` gives the full sizes.

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
cos = make_figure("cosine-vs-sharpness", preset, store=store, out=out)
display(Image(filename=str(cos["paths"][0])))

# %%
display_table(summarise(cos["frames"]["ar"], ["cosine"]))

# %%
od = make_figure("over-dispersed", preset, store=store, out=out)
display(Image(filename=str(od["paths"][0])))
display_table(summarise(od["frames"]["gaussian"], ["s"]))
