"""JPEG bytes -> JpegRecord: walk the markers, decode every scan, keep the rest raw."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import Unsupported
from .blocks import component_offsets, scan_block_order
from .huffman import stack_decode_lookups
from .markers import MAX_COEFFICIENTS, Frame, JpegLayout, ScanHeader, walk_markers
from .record import JpegRecord, ScanSideInfo, scan_mode
from .scan_decode import (
    MODE_AC_FIRST,
    MODE_DC_FIRST,
    MODE_SEQUENTIAL,
    OK,
    STATUS_REASONS,
    STREAM_TAIL,
    ZIGZAG,
    bit_windows,
    decode_scan,
    destuff,
)

# Scans that set a band's coefficients outright (a refinement only adds bits to them).
_FIRST_PASSES = (MODE_SEQUENTIAL, MODE_DC_FIRST, MODE_AC_FIRST)
_EOI = b"\xff\xd9"


class _ScanReader:
    """Decodes each scan as the marker walk reaches it."""

    def __init__(self, data: bytes) -> None:
        self.buffer = np.frombuffer(data, dtype=np.uint8)
        self.coefficients: np.ndarray | None = None
        self.offsets: np.ndarray | None = None
        self.side: list[ScanSideInfo] = []
        self.cut_reasons: list[str] = []  # why each cut scan stopped, in scan order

    def __call__(self, frame: Frame, scan: ScanHeader) -> int:
        if self.coefficients is None:
            self.offsets = component_offsets(frame)
            self.coefficients = np.zeros((int(self.offsets[-1]), 64), dtype=np.int16)
        assert self.offsets is not None
        order, block_comp, blocks_per_mcu = scan_block_order(frame, scan, self.offsets)
        interval = scan.restart_interval * blocks_per_mcu
        segments = -(-order.size // interval) if interval else 1
        stream = np.zeros(self.buffer.size - scan.offset + STREAM_TAIL + 3, dtype=np.uint8)
        starts = np.zeros(segments + 1, dtype=np.int64)
        raw_starts = np.zeros(segments + 1, dtype=np.int64)
        codes = np.zeros(segments + 1, dtype=np.int64)
        written, found, scan_end = destuff(
            self.buffer, scan.offset, segments, stream, starts, raw_starts, codes)
        wrong = np.flatnonzero(codes[: found - 1] != np.arange(found - 1) % 8)
        present = int(wrong[0]) + 1 if wrong.size else found  # intervals before a bad RST
        starts[present + 1 :] = starts[present]  # the missing intervals are empty
        dc_len, dc_sym = stack_decode_lookups(list(scan.dc_tables))
        ac_len, ac_sym = stack_decode_lookups(list(scan.ac_tables))
        pads = np.zeros(segments, dtype=np.uint8)
        resets = np.zeros(order.size, dtype=np.int64)
        zero_runs = np.zeros((order.size, 2), dtype=np.int64)
        windows = bit_windows(stream, written)
        mode = scan_mode(frame.progressive, scan)
        status, n_resets, n_zero_runs, used, cut, cut_byte = decode_scan(
            windows, starts[1 : segments + 1], order, block_comp, blocks_per_mcu,
            scan.restart_interval, dc_len, dc_sym, ac_len, ac_sym, self.coefficients,
            mode, scan.ss, scan.se, scan.al, pads, resets, zero_runs,
        )  # fmt: skip
        resets, zero_runs = resets[:n_resets], zero_runs[:n_zero_runs]
        if status == OK:
            last = segments - 1
            end = _raw_offset(stream, starts, raw_starts, last, int(starts[last]) + int(used))
            self.side.append(ScanSideInfo(end - scan.offset, pads, resets, zero_runs))
            return end - scan.offset
        if mode in _FIRST_PASSES:  # the block cut in the middle: zeros, as those after it
            self.coefficients[order[cut], ZIGZAG[scan.ss : scan.se + 1]] = 0
        segment = cut // interval if interval else 0
        if interval and cut % interval == 0 and segment > 0:
            segment -= 1  # the cut byte is the padded end of the interval before
        start = _raw_offset(stream, starts, raw_starts, segment, int(cut_byte))
        if bytes(self.buffer[scan_end : scan_end + 2]) != _EOI:
            scan_end = self.buffer.size  # what follows may be damage too: the tail takes it
        self.cut_reasons.append(STATUS_REASONS[status])
        self.side.append(ScanSideInfo(
            int(scan_end) - scan.offset, pads[: cut // interval if interval else 0],
            resets[resets < cut], zero_runs[zero_runs[:, 0] < cut], int(cut),
            self.buffer[start:scan_end].tobytes()))  # fmt: skip
        return int(scan_end) - scan.offset


def _raw_offset(stream: np.ndarray, starts: np.ndarray, raw_starts: np.ndarray, segment: int,
                position: int) -> int:
    """Where destuffed byte ``position`` of interval ``segment`` is in the file: past the
    interval's start by as many bytes again as stuffed zeros came out before it."""
    stuffed = int(np.count_nonzero(stream[starts[segment] : position] == 0xFF))
    return int(raw_starts[segment]) + position - int(starts[segment]) + stuffed


def read_jpeg(data: bytes, max_coefficients: int = MAX_COEFFICIENTS) -> JpegRecord:
    """Split a JPEG into raw bytes, scan side information and coefficients.

    A scan that stops early (truncated, damaged) is cut (see ScanSideInfo): the blocks
    before the cut are decoded, those after it are zeros, and its bytes from the cut on are
    kept. Raises NotJpegError for non-JPEG input and Unsupported(reason) for JPEGs that must
    be stored whole (arithmetic coding, 12-bit, no block decodable, ...).
    """
    reader = _ScanReader(data)
    layout = walk_markers(data, reader, max_coefficients)
    assert reader.coefficients is not None
    if all(info.cut == 0 for info in reader.side):
        reason, _, detail = reader.cut_reasons[0].partition(": ")
        raise Unsupported(reason, f"no block decodes ({detail or reason})")
    raw_parts, raw_scans, previous, removed = [], [], 0, 0
    for scan, info in zip(layout.scans, reader.side, strict=True):
        raw_parts.append(data[previous : scan.offset])
        raw_scans.append(dataclasses.replace(scan, offset=scan.offset - removed))
        previous = scan.offset + info.entropy_coded_length
        removed += info.entropy_coded_length
    raw_parts.append(data[previous:])
    raw_layout = JpegLayout(layout.frame, raw_scans, layout.quant_tables)
    return JpegRecord(raw_layout, b"".join(raw_parts), reader.side, reader.coefficients)


def read_layout(raw: bytes, max_coefficients: int = MAX_COEFFICIENTS) -> JpegLayout:
    """Walk raw bytes (scans cut out) to learn the frame, scans and tables again."""
    return walk_markers(raw, lambda frame, scan: 0, max_coefficients)
