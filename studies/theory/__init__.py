"""The exact theory study: Theorem 1 on closed-form Gaussian and categorical cases."""
