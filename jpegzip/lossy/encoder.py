"""A JPEG and a target -> the requantized baseline JPEG that meets it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..jpeg.baseline import write_baseline
from ..jpeg.record import JpegRecord
from .ladder import Ladder
from .quality import decoded_pixels, psnr
from .requantize import rd_decisions
from .search import lam_for_quality, lam_for_size

TARGET_KINDS = ("rate", "bpp", "psnr")


@dataclass(frozen=True)
class Target:
    """What a lossy compress aims at: ``rate`` (a fraction of this file's lossless .jrz
    size), ``bpp`` (bits of .jrz per pixel) or ``psnr`` (the smallest file whose pixels
    stay at least this many dB from the original's)."""

    kind: str
    value: float

    def goal_bytes(self, lossless_size: int, pixels: int) -> float:
        """The .jrz size aimed at (size targets only)."""
        if self.kind == "rate":
            return self.value * lossless_size
        if self.kind == "bpp":
            return self.value * pixels / 8
        raise ValueError(f"{self.kind} is not a size target")


@dataclass(frozen=True)
class LossyJpeg:
    """The requantized JPEG, the setting that made it, its PSNR against the original and
    its pixel count."""

    jpeg: bytes
    lam: float
    psnr_db: float
    pixels: int


def requantize_jpeg(
    original: bytes,
    record: JpegRecord,
    target: Target,
    lossless_size: int,
    coded_size: Callable[[list[np.ndarray], list[np.ndarray]], int],
    ladder: Ladder,
) -> LossyJpeg:
    """Meet ``target`` for the JPEG ``original`` (``record`` is its reading).

    ``lossless_size`` is the original's lossless .jrz size; ``coded_size(planes, tables)``
    is the exact length of the coefficient stream (the rest of a .jrz barely changes with
    the coefficients, so it is carried over); ``ladder`` gives the tables for each setting.
    """
    layout = record.layout
    frame = layout.frame
    planes = [np.array(plane) for plane in record.planes()]
    tables = [np.maximum(table, 1).astype(np.int64) for table in layout.quant_tables]
    sampling = [(c.h, c.v) for c in frame.components]
    reference = decoded_pixels(original)

    def requantized(lam: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
        new_tables = ladder.tables_at(lam, tables)
        return rd_decisions(planes, tables, sampling, lam, new_tables), new_tables

    def jpeg_of(lam: float) -> bytes:
        new, new_tables = requantized(lam)
        coefficients = np.concatenate([plane.reshape(-1, 64) for plane in new])
        return write_baseline(layout, record.raw, coefficients, new_tables)

    def psnr_of(lam: float) -> float:
        return psnr(reference, decoded_pixels(jpeg_of(lam)))

    if target.kind == "psnr":
        lam = lam_for_quality(psnr_of, target.value)
    else:
        overhead = lossless_size - coded_size(planes, tables)
        goal = target.goal_bytes(lossless_size, frame.width * frame.height)

        def size_of(lam: float) -> int:
            return overhead + coded_size(*requantized(lam))

        lam = lam_for_size(size_of, goal, lossless_size)
    jpeg = jpeg_of(lam)
    pixels = frame.width * frame.height
    return LossyJpeg(jpeg, lam, psnr(reference, decoded_pixels(jpeg)), pixels)
