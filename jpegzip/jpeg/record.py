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
    """What one scan's encoder chose beyond the coefficients (see scan_decode), and where
    a scan that stops early was cut."""

    entropy_coded_length: int
    pad_bits: np.ndarray  # uint8, one value per restart interval before the cut
    reset_points: np.ndarray  # int64, scan-order block indices
    extra_zero_runs: np.ndarray  # int64 (n, 2): scan-order block index, ZRL count
    cut: int | None = None  # scan-order index of the first block not coded; None: all coded
    tail: bytes = b""  # the scan's bytes from the cut on, as they were


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


# Layout 1: u32 scan count, then per scan these four counts. Layout 2 opens with a u32 0
# (a scan count is never 0) and the layout number, and adds the cut and the tail's length.
_SCAN_COUNTS = {1: struct.Struct("<IIII"), 2: struct.Struct("<IIIIII")}
_VERSIONED = struct.Struct("<IB")
_NOT_CUT = 0xFFFFFFFF


def pack_side_info(side: list[ScanSideInfo], version: int = 1) -> bytes:
    """Side information as bytes in layout ``version``: per-scan counts, then the arrays in
    scan order. Layout 1 cannot hold a cut scan; layout 2 can, and tells the codec the
    coefficients were coded without their known zero bits (codec.py)."""
    if version == 1 and any(info.cut is not None for info in side):
        raise ValueError("side information layout 1 cannot hold a cut scan")
    parts = [] if version == 1 else [_VERSIONED.pack(0, version)]
    parts.append(struct.pack("<I", len(side)))
    for info in side:
        counts = [info.pad_bits.size, info.reset_points.size, len(info.extra_zero_runs)]
        if version == 2:
            counts += [_NOT_CUT if info.cut is None else info.cut, len(info.tail)]
        parts.append(_SCAN_COUNTS[version].pack(info.entropy_coded_length, *counts))
    for info in side:
        parts.append(info.pad_bits.astype(np.uint8).tobytes())
        parts.append(np.diff(info.reset_points, prepend=0).astype("<i4").tobytes())
        parts.append(info.extra_zero_runs.astype("<i4").tobytes())
        parts.append(info.tail)
    return b"".join(parts)


def side_info_version(data: bytes) -> int:
    """The layout of packed side information (1 or 2); a ContainerError for another."""
    if len(data) < _VERSIONED.size or struct.unpack_from("<I", data)[0] != 0:
        return 1
    version = data[4]
    if version != 2:
        raise ContainerError(f"scan side information has unknown layout {version}")
    return version


def unpack_side_info(data: bytes) -> list[ScanSideInfo]:
    """Inverse of pack_side_info (either layout); any inconsistency is a ContainerError."""
    version = side_info_version(data)
    counts_struct = _SCAN_COUNTS[version]
    try:
        pos = 0 if version == 1 else _VERSIONED.size
        (count,) = struct.unpack_from("<I", data, pos)
        pos += 4
        counts = [counts_struct.unpack_from(data, pos + counts_struct.size * i)
                  for i in range(count)]  # fmt: skip
        pos += counts_struct.size * count
        side = []
        for length, pads, resets, runs, *cut_fields in counts:
            cut, tail = cut_fields if cut_fields else (_NOT_CUT, 0)
            if pos + pads + 4 * resets + 8 * runs + tail > len(data):
                raise ContainerError("scan side information is truncated")
            pad_bits = np.frombuffer(data, np.uint8, pads, pos).copy()
            pos += pads
            reset_points = np.cumsum(np.frombuffer(data, "<i4", resets, pos), dtype=np.int64)
            pos += 4 * resets
            zero_runs = np.frombuffer(data, "<i4", 2 * runs, pos).astype(np.int64)
            zero_runs = zero_runs.reshape(runs, 2)
            pos += 8 * runs
            side.append(ScanSideInfo(length, pad_bits, reset_points, zero_runs,
                                     None if cut == _NOT_CUT else cut, data[pos : pos + tail]))
            pos += tail
    except struct.error as error:
        raise ContainerError(f"scan side information is truncated ({error})") from None
    if pos != len(data):
        raise ContainerError("scan side information has trailing bytes")
    return side
