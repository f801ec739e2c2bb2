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
from .search import SIZE_TOLERANCE, lam_for_quality, lam_for_size
from .target import Target


@dataclass(frozen=True)
class LossyJpeg:
    """The requantized JPEG, the setting that made it, its PSNR against the original and
    its pixel count."""

    jpeg: bytes
    lam: float
    psnr_db: float
    pixels: int
    estimated_size: int | None  # the .jrz size the search expected (size targets)


@dataclass(frozen=True)
class LosslessSizes:
    """The original's lossless .jrz: its whole size and its coefficient stream's."""

    total: int
    coefficients: int


def requantize_jpeg(
    original: bytes,
    record: JpegRecord,
    target: Target,
    lossless: LosslessSizes,
    overhead: int,
    coded_size: Callable[[list[np.ndarray], list[np.ndarray]], int],
    ladder: Ladder,
) -> LossyJpeg:
    """Meet ``target`` for the JPEG ``original`` (``record`` is its reading).

    ``coded_size(planes, tables)`` is the exact length of a coefficient stream; a .jrz
    spends ``overhead`` bytes besides it (headers, side information, framing: estimated
    from the original's .jrz; a caller that measures another can search again with it);
    ``ladder`` gives the tables for each setting.
    """
    layout = record.layout
    frame = layout.frame
    planes = [np.array(plane) for plane in record.planes()]
    tables = [np.maximum(table, 1).astype(np.int64) for table in layout.quant_tables]
    sampling = [(c.h, c.v) for c in frame.components]
    reference = decoded_pixels(original)

    def requantized(
        lam: float, tables_lam: float | None = None
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Decisions at ``lam`` on the ladder's tables at ``tables_lam`` (default: lam)."""
        new_tables = ladder.tables_at(lam if tables_lam is None else tables_lam, tables)
        return rd_decisions(planes, tables, sampling, lam, new_tables), new_tables

    def jpeg_of(lam: float, tables_lam: float | None = None) -> bytes:
        new, new_tables = requantized(lam, tables_lam)
        coefficients = np.concatenate([plane.reshape(-1, 64) for plane in new])
        return write_baseline(layout, record.raw, coefficients, new_tables)

    def psnr_of(lam: float) -> float:
        return psnr(reference, decoded_pixels(jpeg_of(lam)))

    pixels = frame.width * frame.height
    estimated, tables_lam = None, None
    if target.kind == "psnr":
        lam = lam_for_quality(psnr_of, target.value)
    else:
        goal = target.goal_bytes(lossless.total, pixels)
        sizes: dict[float, int] = {}

        def size_of(lam: float) -> int:
            sizes[lam] = overhead + coded_size(*requantized(lam, tables_lam))
            return sizes[lam]

        unchanged = overhead + lossless.coefficients
        lam = lam_for_size(size_of, goal, unchanged)
        found = {(lam, None): sizes.get(lam, unchanged)}
        straddled = {size > goal for size in sizes.values()} == {True, False}
        if abs(found[lam, None] / goal - 1) > SIZE_TOLERANCE and straddled:
            # A table entry steps between two settings and the size jumps over the goal.
            # Keep the coarser tables and relax the decisions (measured better than finer
            # tables and harsher decisions); if even no decisions stay under the goal, keep
            # the finer tables and harden the decisions instead. Then the closer wins.
            tables_lam = min(tried for tried, size in sizes.items() if size <= goal)
            start = size_of(0.0)
            if start <= goal:
                tables_lam = max(tried for tried, size in sizes.items() if size > goal)
                start = size_of(0.0)
            sizes.clear()
            sizes[0.0] = start
            lam = lam_for_size(size_of, goal, start)
            found[lam, tables_lam] = sizes[lam]
        (lam, tables_lam), estimated = min(found.items(), key=lambda item: abs(item[1] - goal))
    jpeg = jpeg_of(lam, tables_lam)
    return LossyJpeg(jpeg, lam, psnr(reference, decoded_pixels(jpeg)), pixels, estimated)
