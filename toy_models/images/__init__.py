"""Image model families and the image data they train on (data shipped in PyPI packages, or the user's own).

:mod:`toy_models.images.data` loads scikit-learn's digits, scikit-image's faces and photo
patches, a user's image folder, and local checkpoints, safely; nothing is downloaded.
"""
