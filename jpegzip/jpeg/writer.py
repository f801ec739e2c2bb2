"""JpegRecord -> JPEG bytes: raw bytes with every scan's entropy-coded segment re-encoded."""

from __future__ import annotations

import numpy as np

from ..errors import VerificationFailed
from .blocks import component_offsets, scan_block_order
from .huffman import stack_encode_tables
from .record import JpegRecord, ScanSideInfo, scan_mode
from .scan_encode import BLOCK_BYTES_BOUND, ENCODE_OK, encode_scan


def write_jpeg(record: JpegRecord, *, exact_lengths: bool = True) -> bytes:
    """Rebuild the JPEG. Raises VerificationFailed if a scan cannot be re-encoded as recorded.

    ``exact_lengths=False`` lets a scan come out shorter than its recorded length, for
    tests that edit side information to imitate other encoders.
    """
    frame = record.layout.frame
    offsets = component_offsets(frame)
    parts, previous = [], 0
    for scan, info in zip(record.layout.scans, record.side, strict=True):
        order, block_comp, blocks_per_mcu = scan_block_order(frame, scan, offsets)
        _check_side_info(info, order.size, scan.restart_interval * blocks_per_mcu)
        dc_codes, dc_lengths = stack_encode_tables(list(scan.dc_tables))
        ac_codes, ac_lengths = stack_encode_tables(list(scan.ac_tables))
        out = np.zeros(info.entropy_coded_length + BLOCK_BYTES_BOUND, dtype=np.uint8)
        status, written = encode_scan(
            out, order, block_comp, blocks_per_mcu, scan.restart_interval,
            dc_codes, dc_lengths, ac_codes, ac_lengths, record.coefficients,
            scan_mode(frame.progressive, scan), scan.ss, scan.se, scan.al,
            info.pad_bits, info.reset_points, info.extra_zero_runs, info.cut,
        )  # fmt: skip
        written_length = written + len(info.tail)
        if status != ENCODE_OK or (exact_lengths and written_length != info.entropy_coded_length):
            raise VerificationFailed(f"scan re-encode differs (status {status})")
        parts.append(record.raw[previous : scan.offset])
        parts.append(out[:written].tobytes())
        parts.append(info.tail)
        previous = scan.offset
    parts.append(record.raw[previous:])
    return b"".join(parts)


def _check_side_info(info: ScanSideInfo, blocks: int, interval: int) -> None:
    """Side information from a .jrz must fit its scan before a kernel trusts its sizes: a
    cut inside the scan, one pad value per restart interval it completes, and 1 to 3 ZRLs
    after a block's last nonzero (the most a 63-coefficient band leaves room for, as
    scan_decode enforces)."""
    if info.cut is None:
        segments = -(-blocks // interval) if interval else 1
    elif 0 <= info.cut < blocks:
        segments = info.cut // interval if interval else 0
    else:
        raise VerificationFailed("scan side information cuts outside the scan")
    runs = info.extra_zero_runs
    if info.pad_bits.size != segments or (
        runs.size and not 1 <= runs[:, 1].min() <= runs[:, 1].max() <= 3
    ):
        raise VerificationFailed("scan side information does not fit the scan")
