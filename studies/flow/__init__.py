"""Class-conditional flow matching on a two-class GMM: ``flow-cell`` (drawn in the catalogue's cosine-vs-sharpness)."""
