"""Concrete targets and models for neon-theory (one module per model family)."""
