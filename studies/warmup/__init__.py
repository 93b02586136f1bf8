"""The Gaussian warm-up of App. B.1: ``warmup-cell`` and the figure warmup."""
