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


# Both layouts open with a u32: the scan count, with the layout number less 1 in its top
# byte; then per scan these four counts, then per scan its arrays. Layout 2 then lists the
# cut scans: a count, per cut scan its index, cut and tail length, then the tails.
_SCAN_COUNTS = struct.Struct("<IIII")
_CUT = struct.Struct("<III")
_MAX_SCANS = 1 << 24


def pack_side_info(side: list[ScanSideInfo], version: int = 1) -> bytes:
    """Side information as bytes in layout ``version``. Layout 1 cannot hold a cut scan;
    layout 2 can, and tells the codec the coefficients were coded without their known
    zero bits (codec.py)."""
    cut = [(index, info) for index, info in enumerate(side) if info.cut is not None]
    if version == 1 and cut:
        raise ValueError("side information layout 1 cannot hold a cut scan")
    if len(side) >= _MAX_SCANS:
        raise ValueError(f"{len(side)} scans")
    parts = [struct.pack("<I", len(side) | (version - 1) << 24)]
    for info in side:
        parts.append(_SCAN_COUNTS.pack(info.entropy_coded_length, info.pad_bits.size,
                                       info.reset_points.size, len(info.extra_zero_runs)))
    for info in side:
        parts.append(info.pad_bits.astype(np.uint8).tobytes())
        parts.append(np.diff(info.reset_points, prepend=0).astype("<i4").tobytes())
        parts.append(info.extra_zero_runs.astype("<i4").tobytes())
    if version == 2:
        parts.append(struct.pack("<I", len(cut)))
        parts += [_CUT.pack(index, info.cut, len(info.tail)) for index, info in cut]
        parts += [info.tail for _, info in cut]
    return b"".join(parts)


def side_info_version(data: bytes) -> int:
    """The layout of packed side information (1 or 2); a ContainerError for another."""
    version = (data[3] + 1) if len(data) >= 4 else 1
    if version > 2:
        raise ContainerError(f"scan side information has unknown layout {version}")
    return version


def unpack_side_info(data: bytes) -> list[ScanSideInfo]:
    """Inverse of pack_side_info (either layout); any inconsistency is a ContainerError."""
    version = side_info_version(data)
    try:
        count = struct.unpack_from("<I", data, 0)[0] % _MAX_SCANS
        pos = 4
        counts = [_SCAN_COUNTS.unpack_from(data, pos + _SCAN_COUNTS.size * i)
                  for i in range(count)]  # fmt: skip
        pos += _SCAN_COUNTS.size * count
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
        if version == 2:
            pos = _unpack_cuts(data, pos, side)
    except struct.error as error:
        raise ContainerError(f"scan side information is truncated ({error})") from None
    if pos != len(data):
        raise ContainerError("scan side information has trailing bytes")
    return side


def _unpack_cuts(data: bytes, pos: int, side: list[ScanSideInfo]) -> int:
    """Layout 2's list of cut scans, into ``side``; returns where it ends."""
    (count,) = struct.unpack_from("<I", data, pos)
    pos += 4
    cuts = [_CUT.unpack_from(data, pos + _CUT.size * i) for i in range(min(count, len(side)))]
    indices = [index for index, _, _ in cuts]
    if count > len(side) or indices != sorted(set(indices)) or any(i >= len(side) for i in indices):
        raise ContainerError("scan side information: bad list of cut scans")
    pos += _CUT.size * count
    for index, cut, length in cuts:
        if pos + length > len(data):
            raise ContainerError("scan side information is truncated")
        side[index].cut, side[index].tail = cut, data[pos : pos + length]
        pos += length
    return pos
