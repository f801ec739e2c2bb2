"""JPEG bytes -> JpegRecord: walk the markers, decode every scan, keep the rest raw."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import Unsupported
from .blocks import component_offsets, scan_block_order
from .huffman import stack_decode_lookups
from .markers import MAX_COEFFICIENTS, Frame, JpegLayout, ScanHeader, walk_markers
from .record import JpegRecord, ScanSideInfo, scan_mode
from .scan_decode import OK, STATUS_REASONS, STREAM_TAIL, bit_windows, decode_scan, destuff


class _ScanReader:
    """Decodes each scan as the marker walk reaches it."""

    def __init__(self, data: bytes) -> None:
        self.buffer = np.frombuffer(data, dtype=np.uint8)
        self.coefficients: np.ndarray | None = None
        self.offsets: np.ndarray | None = None
        self.side: list[ScanSideInfo] = []

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
        written, found, _ = destuff(
            self.buffer, scan.offset, segments, stream, starts, raw_starts, codes)
        if found < segments:
            raise Unsupported("truncated-scan", f"{found} of {segments} restart intervals present")
        if np.any(codes[: segments - 1] != np.arange(segments - 1) % 8):
            raise Unsupported("corrupt-scan", "restart markers out of sequence")
        dc_len, dc_sym = stack_decode_lookups(list(scan.dc_tables))
        ac_len, ac_sym = stack_decode_lookups(list(scan.ac_tables))
        pads = np.zeros(segments, dtype=np.uint8)
        resets = np.zeros(order.size, dtype=np.int64)
        zero_runs = np.zeros((order.size, 2), dtype=np.int64)
        windows = bit_windows(stream, written)
        status, n_resets, n_zero_runs, used = decode_scan(
            windows, starts[1 : segments + 1], order, block_comp, blocks_per_mcu,
            scan.restart_interval, dc_len, dc_sym, ac_len, ac_sym, self.coefficients,
            scan_mode(frame.progressive, scan), scan.ss, scan.se, scan.al, pads, resets, zero_runs,
        )  # fmt: skip
        if status != OK:
            reason, _, detail = STATUS_REASONS[status].partition(": ")
            raise Unsupported(reason, detail)
        last = starts[segments - 1]
        stuffed = int(np.count_nonzero(stream[last : last + used] == 0xFF))
        end = int(raw_starts[segments - 1]) + int(used) + stuffed
        self.side.append(ScanSideInfo(end - scan.offset, pads, resets[:n_resets].copy(),
                                      zero_runs[:n_zero_runs].copy()))  # fmt: skip
        return end - scan.offset


def read_jpeg(data: bytes, max_coefficients: int = MAX_COEFFICIENTS) -> JpegRecord:
    """Split a JPEG into raw bytes, scan side information and coefficients.

    Raises NotJpegError for non-JPEG input and Unsupported(reason) for JPEGs that must be
    stored whole (arithmetic coding, 12-bit, corrupt or truncated scans, ...).
    """
    reader = _ScanReader(data)
    layout = walk_markers(data, reader, max_coefficients)
    assert reader.coefficients is not None
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
