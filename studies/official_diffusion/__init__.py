"""The official diffusion toy of the paper's notebook: ``diffusion-cell`` and the figure official-diffusion."""
