"""Lossy mode: a smaller standard JPEG, as close to the original as the size allows.

``requantize_jpeg`` finds, for a target (a fraction of the lossless size, bits per pixel,
or a PSNR), the coefficients of a new baseline JPEG; the caller then codes that JPEG
losslessly. Knows the JPEG layer, not the model: the caller passes the coder's size.
"""

from .encoder import LossyJpeg, Target, requantize_jpeg

__all__ = ["LossyJpeg", "Target", "requantize_jpeg"]
