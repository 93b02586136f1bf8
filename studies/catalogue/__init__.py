"""Figures and commands that compare studies: cosine-vs-sharpness, best-w-vs-budget, gain-vs-size; ``toys`` and ``plane``."""
