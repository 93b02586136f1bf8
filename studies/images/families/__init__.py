"""The built-in image families, one module each (importing this package registers them):
:mod:`.diffusion`, :mod:`.flow` and :mod:`.pixel_ar`; :mod:`.unet` holds what the two UNet families share."""

from . import diffusion, flow, pixel_ar  # noqa: F401  (each registers its family)
