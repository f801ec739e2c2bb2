"""JpegRecord: everything a bit-exact rebuild needs, and the side information's byte form."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..errors import ContainerError
from .blocks import component_offsets
from .markers import JpegLayout, ScanHeader
from .scan_decode import (
    MODE_AC_FIRST,
    MODE_AC_REFINE,
    MODE_DC_FIRST,
    MODE_DC_REFINE,
    MODE_SEQUENTIAL,
)


@dataclass
class ScanSideInfo:
    """What one scan's encoder chose beyond the coefficients (see scan_decode)."""

    entropy_coded_length: int
    pad_bits: np.ndarray  # uint8, one value per restart interval
    reset_points: np.ndarray  # int64, scan-order block indices
    extra_zero_runs: np.ndarray  # int64 (n, 2): scan-order block index, ZRL count


@dataclass
class JpegRecord:
    """A JPEG split into raw non-scan bytes, per-scan side information and coefficients.

    ``layout`` is the walk of ``raw`` (scan offsets point into ``raw``, where each
    entropy-coded segment is to be inserted). ``coefficients`` is (total_blocks, 64)
    int16 in natural order; ``planes()`` gives per-component views on the block grid.
    """

    layout: JpegLayout
    raw: bytes
    side: list[ScanSideInfo]
    coefficients: np.ndarray

    def planes(self) -> list[np.ndarray]:
        """Per component, a (rows, cols, 64) view of the padded block grid."""
        return split_planes(self.layout, self.coefficients)


def split_planes(layout: JpegLayout, coefficients: np.ndarray) -> list[np.ndarray]:
    """Per-component (rows, cols, 64) views of the shared coefficient array."""
    offsets = component_offsets(layout.frame)
    planes = []
    for index in range(len(layout.frame.components)):
        rows, cols = layout.frame.padded_grid(index)
        planes.append(coefficients[offsets[index] : offsets[index + 1]].reshape(rows, cols, 64))
    return planes


def scan_mode(progressive: bool, scan: ScanHeader) -> int:
    """Which kernel codes this scan."""
    if not progressive:
        return MODE_SEQUENTIAL
    if scan.ss == 0:
        return MODE_DC_REFINE if scan.ah else MODE_DC_FIRST
    return MODE_AC_REFINE if scan.ah else MODE_AC_FIRST


_SCAN_COUNTS = struct.Struct("<IIII")


def pack_side_info(side: list[ScanSideInfo]) -> bytes:
    """Side information as bytes: a count, per-scan counts, then the arrays in scan order."""
    parts = [struct.pack("<I", len(side))]
    for info in side:
        counts = (info.pad_bits.size, info.reset_points.size, len(info.extra_zero_runs))
        parts.append(_SCAN_COUNTS.pack(info.entropy_coded_length, *counts))
    for info in side:
        parts.append(info.pad_bits.astype(np.uint8).tobytes())
        parts.append(np.diff(info.reset_points, prepend=0).astype("<i4").tobytes())
        parts.append(info.extra_zero_runs.astype("<i4").tobytes())
    return b"".join(parts)


def unpack_side_info(data: bytes) -> list[ScanSideInfo]:
    """Inverse of pack_side_info; any inconsistency is a ContainerError."""
    try:
        (count,) = struct.unpack_from("<I", data, 0)
        counts = [_SCAN_COUNTS.unpack_from(data, 4 + 16 * i) for i in range(count)]
        pos = 4 + 16 * count
        side = []
        for length, pads, resets, runs in counts:
            if pos + pads + 4 * resets + 8 * runs > len(data):
                raise ContainerError("scan side information is truncated")
            pad_bits = np.frombuffer(data, np.uint8, pads, pos).copy()
            pos += pads
            reset_points = np.cumsum(np.frombuffer(data, "<i4", resets, pos), dtype=np.int64)
            pos += 4 * resets
            zero_runs = np.frombuffer(data, "<i4", 2 * runs, pos).astype(np.int64)
            zero_runs = zero_runs.reshape(runs, 2)
            pos += 8 * runs
            side.append(ScanSideInfo(length, pad_bits, reset_points, zero_runs))
    except struct.error as error:
        raise ContainerError(f"scan side information is truncated ({error})") from None
    if pos != len(data):
        raise ContainerError("scan side information has trailing bytes")
    return side
