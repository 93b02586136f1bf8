"""The Neon theory on real images (three families on bundled image sets): ``image-cell``, images-cosine and images-neon."""
