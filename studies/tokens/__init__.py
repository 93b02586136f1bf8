"""Discrete tokens by exact enumeration: ``token-cell`` (drawn in the catalogue's cosine-vs-sharpness)."""
