"""Lossy mode: a smaller standard JPEG, as close to the original as the size allows.

``encoder.requantize_jpeg`` finds, for a ``Target`` (a fraction of the lossless size, bits
per pixel, or a PSNR), the coefficients and tables of a new baseline JPEG; the caller
then codes that JPEG losslessly. Knows the JPEG layer, not the model: the caller passes
the coder's size. Importing this package is light; the heavy parts load when used.
"""

from .target import TARGET_KINDS, Target

__all__ = ["TARGET_KINDS", "Target"]
