"""Quantized coefficients -> a fresh baseline JPEG with optimized Huffman tables.

Lossy mode writes a new file rather than rebuilding the original: the same frame (size,
components, sampling), new quantization tables, every APPn and COM segment of the original
in its order, one sequential scan (interleaved when T.81's 10-blocks-per-MCU limit allows,
else one scan per component) and Huffman tables built from the file's own symbol counts
(T.81 Annex K.2, codes at most 16 bits). Any decoder reads it.
"""

from __future__ import annotations

import heapq
import struct

import numpy as np

from .blocks import component_offsets, scan_block_order
from .huffman import HuffmanTable
from .markers import Frame, JpegLayout, ScanHeader
from .metadata import read_metadata
from .reader import read_layout
from .record import JpegRecord, ScanSideInfo
from .scan_decode import ZIGZAG
from .scan_encode import BIT_LENGTH
from .writer import write_jpeg

_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"
_SOF_BASELINE, _SOF_EXTENDED = 0xC0, 0xC1  # extended: a table needs 16-bit entries
_MAX_BLOCKS_PER_MCU = 10  # T.81 B.2.3
_MAX_CODE_LENGTH = 16
_ALL_ONES = 0xFF  # pad bits, as libjpeg writes them


def write_baseline(
    layout: JpegLayout, raw: bytes, coefficients: np.ndarray, quant_tables: list[np.ndarray]
) -> bytes:
    """A baseline JPEG of ``coefficients`` ((total_blocks, 64) int16, natural order, laid out
    as ``layout``'s frame) quantized with ``quant_tables`` (one natural-order table of
    1..255 per component; larger entries make it extended sequential, SOF1), keeping the
    APPn/COM segments found in ``raw`` (the original's bytes outside its scans). Data after
    the original's EOI is not carried over."""
    frame = layout.frame
    slots, tables = _table_slots(quant_tables)
    kept = [segment.segment for segment in read_metadata(raw).segments]
    header = [_SOI, *kept, _dqt(tables), _sof(frame, slots, tables)]
    scans = _scan_components(frame)
    counts = _symbol_counts(frame, scans, coefficients)
    header.append(_dht(counts))
    raw_parts = [b"".join(header)]
    for components in scans:
        raw_parts.append(_sos(frame, components))
    raw_parts.append(_EOI)
    new_raw = b"".join(raw_parts)
    walked = read_layout(new_raw)
    side = [
        ScanSideInfo(_scan_bytes_bound(frame, scan, coefficients),
                     np.full(1, _ALL_ONES, np.uint8), np.zeros(0, np.int64),
                     np.zeros((0, 2), np.int64))
        for scan in walked.scans
    ]  # fmt: skip
    return write_jpeg(JpegRecord(walked, new_raw, side, coefficients), exact_lengths=False)


def optimal_huffman_table(frequencies: np.ndarray) -> HuffmanTable:
    """The shortest prefix code for symbol ``frequencies`` (256 entries) with no code longer
    than 16 bits and none made only of 1 bits (T.81 K.2: a reserved symbol takes that code)."""
    used = [int(s) for s in np.flatnonzero(frequencies)]
    heap = [(int(frequencies[s]), s, [s]) for s in used] + [(1, 256, [256])]
    heapq.heapify(heap)
    depth = dict.fromkeys([*used, 256], 0)
    while len(heap) > 1:
        f1, key1, members1 = heapq.heappop(heap)
        f2, key2, members2 = heapq.heappop(heap)
        for symbol in members1 + members2:
            depth[symbol] += 1
        heapq.heappush(heap, (f1 + f2, max(key1, key2), members1 + members2))
    bits = np.zeros(max(depth.values()) + 1, dtype=np.int64)
    for length in depth.values():
        bits[length] += 1
    for length in range(len(bits) - 1, _MAX_CODE_LENGTH, -1):  # K.2 Figure K.3
        while bits[length] > 0:
            shorter = length - 2
            while bits[shorter] == 0:
                shorter -= 1
            bits[length] -= 2
            bits[length - 1] += 1
            bits[shorter + 1] += 2
            bits[shorter] -= 1
    bits = np.pad(bits, (0, max(0, _MAX_CODE_LENGTH + 1 - len(bits))))[: _MAX_CODE_LENGTH + 1]
    longest = int(np.flatnonzero(bits)[-1])
    bits[longest] -= 1  # the reserved symbol's code goes
    by_length = sorted(used, key=lambda s: (depth[s], s))
    return HuffmanTable(tuple(int(b) for b in bits[1:]), bytes(by_length))


def _table_slots(quant_tables: list[np.ndarray]) -> tuple[list[int], list[np.ndarray]]:
    """One DQT slot per distinct table; which slot each component reads."""
    tables: list[np.ndarray] = []
    slots = []
    for table in quant_tables:
        match = next((i for i, t in enumerate(tables) if np.array_equal(t, table)), None)
        if match is None:
            tables.append(np.asarray(table, dtype=np.int64))
            match = len(tables) - 1
        slots.append(match)
    return slots, tables


def _dqt(tables: list[np.ndarray]) -> bytes:
    body = b""
    for slot, table in enumerate(tables):
        wide = int(table.max()) > 255
        zigzag = table[ZIGZAG]
        body += bytes([(int(wide) << 4) | slot])
        body += zigzag.astype(">u2" if wide else np.uint8).tobytes()
    return b"\xff\xdb" + struct.pack(">H", 2 + len(body)) + body


def _sof(frame: Frame, slots: list[int], tables: list[np.ndarray]) -> bytes:
    marker = _SOF_EXTENDED if any(int(t.max()) > 255 for t in tables) else _SOF_BASELINE
    body = struct.pack(">BHHB", 8, frame.height, frame.width, len(frame.components))
    for component, slot in zip(frame.components, slots, strict=True):
        body += bytes([component.identifier, (component.h << 4) | component.v, slot])
    return bytes([0xFF, marker]) + struct.pack(">H", 2 + len(body)) + body


def _scan_components(frame: Frame) -> list[tuple[int, ...]]:
    """One interleaved scan, or one per component where an MCU would exceed 10 blocks."""
    everything = tuple(range(len(frame.components)))
    blocks = sum(c.h * c.v for c in frame.components)
    if len(everything) == 1 or blocks <= _MAX_BLOCKS_PER_MCU:
        return [everything]
    return [(index,) for index in everything]


def _table_class(component: int) -> int:
    """Huffman table slot: 0 for the first component (luma), 1 for the others, as libjpeg."""
    return 0 if component == 0 else 1


def _symbol_counts(
    frame: Frame, scans: list[tuple[int, ...]], coefficients: np.ndarray
) -> np.ndarray:
    """Symbol frequencies, shape (2 kinds: DC/AC, 2 table slots, 256)."""
    counts = np.zeros((2, 2, 256), dtype=np.int64)
    offsets = component_offsets(frame)
    for components in scans:
        scan = _bare_scan(components)
        order, block_comp, _ = scan_block_order(frame, scan, offsets)
        zigzag = coefficients[order][:, ZIGZAG].astype(np.int64)
        for scan_index, component in enumerate(components):
            mine = zigzag[block_comp == scan_index]
            slot = _table_class(component)
            dc_sizes = _bit_length(np.diff(mine[:, 0], prepend=0))
            np.add.at(counts[0, slot], dc_sizes, 1)
            np.add.at(counts[1, slot], _ac_symbols(mine[:, 1:]), 1)
    return counts


def _ac_symbols(ac: np.ndarray) -> np.ndarray:
    """The AC symbols (run << 4 | size, ZRL 0xF0, EOB 0x00) of blocks in zigzag order."""
    rows, cols = np.nonzero(ac)
    starts = np.ones(rows.size, dtype=bool)
    starts[1:] = rows[1:] != rows[:-1]
    previous = np.where(starts, -1, np.roll(cols, 1))
    runs = cols - previous - 1
    symbols = ((runs % 16) << 4) | _bit_length(ac[rows, cols])
    zrls = np.full(int((runs // 16).sum()), 0xF0, dtype=np.int64)
    last = np.full(ac.shape[0], -1, dtype=np.int64)
    last[rows] = cols  # nonzero() is row-major: the last write per row is its last nonzero
    eobs = np.zeros(int(np.count_nonzero(last < ac.shape[1] - 1)), dtype=np.int64)
    return np.concatenate([symbols, zrls, eobs])


def _bit_length(values: np.ndarray) -> np.ndarray:
    return BIT_LENGTH[np.abs(values)]


def _dht(counts: np.ndarray) -> bytes:
    body = b""
    for kind in (0, 1):
        for slot in (0, 1):
            if not counts[kind, slot].any():
                continue
            table = optimal_huffman_table(counts[kind, slot])
            body += bytes([(kind << 4) | slot, *table.counts]) + table.symbols
    return b"\xff\xc4" + struct.pack(">H", 2 + len(body)) + body


def _sos(frame: Frame, components: tuple[int, ...]) -> bytes:
    body = bytes([len(components)])
    for index in components:
        slot = _table_class(index)
        body += bytes([frame.components[index].identifier, (slot << 4) | slot])
    body += bytes([0, 63, 0])
    return b"\xff\xda" + struct.pack(">H", 2 + len(body)) + body


def _bare_scan(components: tuple[int, ...]) -> ScanHeader:
    """A scan header carrying only what scan_block_order reads."""
    return ScanHeader(components, (), (), 0, 63, 0, 0, 0, 0)


def _scan_bytes_bound(frame: Frame, scan: ScanHeader, coefficients: np.ndarray) -> int:
    """More bytes than the scan can take: every code at 16 bits plus its value bits, every
    byte stuffed."""
    order, _, _ = scan_block_order(frame, scan, component_offsets(frame))
    nonzero = int(np.count_nonzero(coefficients[order]))
    symbols = nonzero + 5 * order.size  # per block at most: a DC code, 3 ZRLs, an EOB
    return 2 * ((symbols * (16 + 16) + 7) // 8) + 16
