"""How far a lossy JPEG is from the original: PSNR over the pixels libjpeg decodes."""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np

_PEAK = 255.0
_ROWS_AT_A_TIME = 256  # bounds the working memory on camera-sized images


def decoded_pixels(jpeg: bytes) -> np.ndarray:
    """The JPEG's pixels as libjpeg (jpeglib) decodes them by default (RGB for colour);
    ValueError when libjpeg refuses the file."""
    import jpeglib

    with tempfile.TemporaryDirectory(prefix="jpegzip-") as folder:  # jpeglib reads paths only
        path = os.path.join(folder, "image.jpg")
        with open(path, "wb") as handle:
            handle.write(jpeg)
        try:
            return np.asarray(jpeglib.read_spatial(path).spatial)
        except OSError:  # jpeglib names its temporary path; say what failed instead
            raise ValueError("libjpeg cannot decode this JPEG to pixels") from None


def psnr(reference: np.ndarray, pixels: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over every sample; inf when they are identical."""
    if reference.shape != pixels.shape:
        raise ValueError(f"pixel shapes differ: {reference.shape} and {pixels.shape}")
    total = 0
    for start in range(0, reference.shape[0], _ROWS_AT_A_TIME):
        rows = slice(start, start + _ROWS_AT_A_TIME)
        difference = reference[rows].astype(np.int32) - pixels[rows].astype(np.int32)
        total += int(np.square(difference, dtype=np.int64).sum())
    if total == 0:
        return math.inf
    return 10.0 * math.log10(_PEAK**2 * reference.size / total)
