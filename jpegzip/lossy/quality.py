"""How far a lossy JPEG is from the original: PSNR over the pixels libjpeg decodes."""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np

_PEAK = 255.0


def decoded_pixels(jpeg: bytes) -> np.ndarray:
    """The JPEG's pixels as libjpeg (jpeglib) decodes them by default (RGB for colour)."""
    import jpeglib

    with tempfile.TemporaryDirectory(prefix="jpegzip-") as folder:  # jpeglib reads paths only
        path = os.path.join(folder, "image.jpg")
        with open(path, "wb") as handle:
            handle.write(jpeg)
        return np.asarray(jpeglib.read_spatial(path).spatial)


def psnr(reference: np.ndarray, pixels: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over every sample; inf when they are identical."""
    if reference.shape != pixels.shape:
        raise ValueError(f"pixel shapes differ: {reference.shape} and {pixels.shape}")
    error = np.mean(np.square(reference.astype(np.float64) - pixels.astype(np.float64)))
    return math.inf if error == 0 else 10.0 * math.log10(_PEAK**2 / error)
