"""Marker segments: walk a JPEG's header bytes and say what its frame and scans are.

T.81 names are kept: SOFn frame header, SOS scan header, Ss/Se spectral band, Ah/Al
successive-approximation bit positions, Ri restart interval (DRI), Tq quantization slot.
Everything outside the entropy-coded segments stays raw bytes elsewhere; this module
only reads it, so the same walk works on the original file and on the raw bytes left
once the scans are cut out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import NotJpegError, Unsupported
from ..limits import MAX_COEFFICIENTS
from .huffman import STANDARD_TABLES, HuffmanTable

# Zigzag index -> natural (row-major) index within an 8x8 block.
ZIGZAG_TO_NATURAL = np.array(
    [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
     12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
     35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
     58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63],
    dtype=np.int64,
)  # fmt: skip

_SOF_REASONS = {
    0xC3: "lossless-jpeg",
    0xC5: "hierarchical", 0xC6: "hierarchical", 0xC7: "hierarchical",
    0xC9: "arithmetic-coding", 0xCA: "arithmetic-coding", 0xCB: "arithmetic-coding",
    0xCD: "arithmetic-coding", 0xCE: "arithmetic-coding", 0xCF: "arithmetic-coding",
}  # fmt: skip
_OTHER_UNSUPPORTED = {
    0xCC: "arithmetic-coding",  # DAC
    0xDC: "dnl-marker",
    0xDE: "hierarchical",  # DHP
    0xDF: "hierarchical",  # EXP
    0xD8: "second-soi",
}


@dataclass(frozen=True)
class FrameComponent:
    """One SOF component: identifier, sampling factors and quantization slot."""

    identifier: int
    h: int
    v: int
    tq: int


@dataclass(frozen=True)
class Frame:
    """The SOFn header, with the block grids derived from it."""

    marker: int
    height: int
    width: int
    components: tuple[FrameComponent, ...]

    @property
    def progressive(self) -> bool:
        return self.marker == 0xC2

    @property
    def hmax(self) -> int:
        return max(c.h for c in self.components)

    @property
    def vmax(self) -> int:
        return max(c.v for c in self.components)

    @property
    def mcus_wide(self) -> int:
        return -(-self.width // (8 * self.hmax))

    @property
    def mcus_high(self) -> int:
        return -(-self.height // (8 * self.vmax))

    def padded_grid(self, index: int) -> tuple[int, int]:
        """(rows, cols) of blocks stored for a component: whole MCUs, as interleaved scans code."""
        c = self.components[index]
        return self.mcus_high * c.v, self.mcus_wide * c.h

    def coded_grid(self, index: int) -> tuple[int, int]:
        """(rows, cols) of blocks a non-interleaved scan codes: the component's own extent."""
        c = self.components[index]
        component_width = -(-self.width * c.h // self.hmax)
        component_height = -(-self.height * c.v // self.vmax)
        return -(-component_height // 8), -(-component_width // 8)


@dataclass(frozen=True)
class ScanHeader:
    """One SOS with the tables and restart interval in force when it starts."""

    components: tuple[int, ...]  # indices into Frame.components, in SOS order
    dc_tables: tuple[HuffmanTable | None, ...]
    ac_tables: tuple[HuffmanTable | None, ...]
    ss: int
    se: int
    ah: int
    al: int
    restart_interval: int
    offset: int  # where the entropy-coded segment starts in the walked bytes


@dataclass
class JpegLayout:
    """What the marker segments of one JPEG say."""

    frame: Frame
    scans: list[ScanHeader] = field(default_factory=list)
    quant_tables: list[np.ndarray] = field(default_factory=list)  # natural order, per component


def known_zero_bits(layout: JpegLayout) -> np.ndarray:
    """Per component and coefficient (natural order), how many low bits every scan leaves
    zero: the smallest successive-approximation bit position (Al) of the scans that code
    it. A progressive file that stops before its refinement scans has such bits; a
    coefficient no scan codes is zero, and gets 0 here."""
    count = len(layout.frame.components)
    bits = np.full((count, 64), 64, dtype=np.int16)
    for scan in layout.scans:
        band = ZIGZAG_TO_NATURAL[scan.ss : scan.se + 1]
        for index in scan.components:
            bits[index, band] = np.minimum(bits[index, band], scan.al)
    bits[bits == 64] = 0
    return bits


def _u16(data: bytes, pos: int) -> int:
    return (data[pos] << 8) | data[pos + 1]


class _Walker:
    """State of one walk over the marker segments."""

    def __init__(self, data: bytes, max_coefficients: int) -> None:
        self.data = data
        self.max_coefficients = max_coefficients
        self.frame: Frame | None = None
        # Slots 0 and 1 hold the Annex K tables until a DHT defines them (as in libjpeg).
        self.dc_slots: dict[int, HuffmanTable] = {}
        self.ac_slots: dict[int, HuffmanTable] = {}
        self.quant_slots: dict[int, np.ndarray] = {}
        self.latched_quant: dict[int, np.ndarray] = {}
        self.restart_interval = 0
        self.scans: list[ScanHeader] = []

    def read_dht(self, seg: bytes) -> None:
        pos = 0
        while pos < len(seg):
            if pos + 17 > len(seg):
                raise Unsupported("bad-huffman-table", "DHT segment too short")
            table_class, slot = seg[pos] >> 4, seg[pos] & 15
            counts = tuple(seg[pos + 1 : pos + 17])
            end = pos + 17 + sum(counts)
            if table_class > 1 or slot > 3 or end > len(seg):
                raise Unsupported("bad-huffman-table", "bad DHT class, slot or length")
            table = HuffmanTable(counts, bytes(seg[pos + 17 : end]))
            (self.ac_slots if table_class else self.dc_slots)[slot] = table
            pos = end

    def read_dqt(self, seg: bytes) -> None:
        pos = 0
        while pos < len(seg):
            precision, slot = seg[pos] >> 4, seg[pos] & 15
            size = 128 if precision else 64
            if precision > 1 or slot > 3 or pos + 1 + size > len(seg):
                raise Unsupported("bad-quant-table", "bad DQT precision, slot or length")
            dtype = ">u2" if precision else "u1"
            zigzag = np.frombuffer(seg, dtype=dtype, count=64, offset=pos + 1)
            natural = np.zeros(64, dtype=np.uint16)
            natural[ZIGZAG_TO_NATURAL] = zigzag
            self.quant_slots[slot] = natural
            pos += 1 + size

    def read_sof(self, marker: int, seg: bytes) -> None:
        if self.frame is not None:
            raise Unsupported("second-frame", "more than one SOF marker")
        if len(seg) < 6 or seg[0] != 8:
            reason = "bad-frame-header" if len(seg) < 6 else f"precision-{seg[0]}-bit"
            raise Unsupported(reason, "only 8-bit samples go through the model")
        height, width, count = _u16(seg, 1), _u16(seg, 3), seg[5]
        if len(seg) < 6 + 3 * count or not 1 <= count <= 4:
            raise Unsupported("bad-frame-header", f"{count} components")
        if height == 0 or width == 0:
            raise Unsupported("zero-dimension", "height or width 0 (DNL) is not supported")
        components = []
        for i in range(count):
            identifier, sampling, tq = seg[6 + 3 * i : 9 + 3 * i]
            h, v = sampling >> 4, sampling & 15
            if not (1 <= h <= 4 and 1 <= v <= 4) or tq > 3:
                raise Unsupported("bad-frame-header", "sampling factor or table slot out of range")
            components.append(FrameComponent(identifier, h, v, tq))
        if len({c.identifier for c in components}) != count:
            raise Unsupported("bad-frame-header", "duplicate component identifiers")
        frame = Frame(marker, height, width, tuple(components))
        blocks = sum(r * c for r, c in (frame.padded_grid(i) for i in range(count)))
        if blocks * 64 > self.max_coefficients:
            raise Unsupported("image-too-large", f"{width}x{height}, {blocks} blocks")
        self.frame = frame

    def read_sos(self, seg: bytes, offset: int) -> ScanHeader:
        frame = self.frame
        if frame is None:
            raise Unsupported("scan-before-frame", "SOS before SOF")
        count = seg[0] if seg else 0
        if not 1 <= count <= 4 or len(seg) != 4 + 2 * count:
            raise Unsupported("bad-scan-header", "bad SOS length or component count")
        ids = [c.identifier for c in frame.components]
        components, dc, ac = [], [], []
        for i in range(count):
            identifier, tables = seg[1 + 2 * i], seg[2 + 2 * i]
            if identifier not in ids or ids.index(identifier) in components:
                raise Unsupported("bad-scan-header", f"unknown or repeated component {identifier}")
            components.append(ids.index(identifier))
            dc.append(self.dc_slots.get(tables >> 4, STANDARD_TABLES.get((0, tables >> 4))))
            ac.append(self.ac_slots.get(tables & 15, STANDARD_TABLES.get((1, tables & 15))))
        ss, se = seg[1 + 2 * count], seg[2 + 2 * count]
        ah, al = seg[3 + 2 * count] >> 4, seg[3 + 2 * count] & 15
        scan = ScanHeader(tuple(components), tuple(dc), tuple(ac), ss, se, ah, al,
                          self.restart_interval, offset)  # fmt: skip
        self._check_scan(frame, scan)
        for index in components:
            if index not in self.latched_quant:
                table = self.quant_slots.get(frame.components[index].tq)
                if table is None:
                    raise Unsupported("missing-quant-table", "no DQT for a component")
                self.latched_quant[index] = table
        return scan

    @staticmethod
    def _check_scan(frame: Frame, scan: ScanHeader) -> None:
        if not frame.progressive:
            if (scan.ss, scan.se, scan.ah, scan.al) != (0, 63, 0, 0):
                raise Unsupported("bad-scan-header", "sequential scan with a partial band")
        elif scan.se > 63 or scan.ss > scan.se or (scan.ss == 0) != (scan.se == 0):
            raise Unsupported("bad-scan-header", "bad spectral band")
        elif scan.ss > 0 and len(scan.components) != 1:
            raise Unsupported("bad-scan-header", "interleaved AC scan")
        elif scan.al > 13 or (scan.ah and scan.ah != scan.al + 1):
            raise Unsupported("bad-scan-header", "bad successive approximation")
        needs_dc = scan.ss == 0 and scan.ah == 0
        needs_ac = scan.se > 0
        for dc, ac in zip(scan.dc_tables, scan.ac_tables, strict=True):
            if (needs_dc and dc is None) or (needs_ac and ac is None):
                raise Unsupported("missing-huffman-table", "a scan uses an undefined table")
            for table in (dc if needs_dc else None, ac if needs_ac else None):
                if table is not None:  # the scan must be re-encodable with it
                    _ = table.encode_table  # refuses a table that lists a symbol twice


def walk_markers(
    data: bytes,
    entropy_coded_length: Callable[[Frame, ScanHeader], int],
    max_coefficients: int = MAX_COEFFICIENTS,
) -> JpegLayout:
    """Read every marker segment up to EOI.

    After each SOS, ``entropy_coded_length(frame, scan)`` says how many bytes of
    entropy-coded data follow (the scan decoder knows; on raw bytes it is 0). Bytes the
    walk skips (fill, junk, stray RST, data after EOI) need no meaning: they stay raw.
    """
    if len(data) < 2 or data[0] != 0xFF or data[1] != 0xD8:
        raise NotJpegError("no SOI marker: not a JPEG file")
    walker = _Walker(data, max_coefficients)
    pos, end = 2, len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= end:
            break
        marker = data[pos + 1]
        if marker == 0xFF or marker == 0x00 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 1 if marker == 0xFF else 2  # fill byte, junk or a standalone marker
            continue
        if marker == 0xD9:
            break
        if marker in _SOF_REASONS or marker in _OTHER_UNSUPPORTED:
            reason = _SOF_REASONS.get(marker) or _OTHER_UNSUPPORTED[marker]
            raise Unsupported(reason, f"marker 0x{marker:02X}")
        if pos + 4 > end or pos + 2 + _u16(data, pos + 2) > end or _u16(data, pos + 2) < 2:
            raise Unsupported("truncated-header", f"segment 0x{marker:02X} at byte {pos}")
        segment_end = pos + 2 + _u16(data, pos + 2)
        seg = data[pos + 4 : segment_end]
        if marker in (0xC0, 0xC1, 0xC2):
            walker.read_sof(marker, seg)
        elif marker == 0xC4:
            walker.read_dht(seg)
        elif marker == 0xDB:
            walker.read_dqt(seg)
        elif marker == 0xDD:
            if len(seg) != 2:
                raise Unsupported("bad-restart-interval", "DRI length")
            walker.restart_interval = _u16(seg, 0)
        elif marker == 0xDA:
            scan = walker.read_sos(seg, segment_end)
            walker.scans.append(scan)
            assert walker.frame is not None
            segment_end += entropy_coded_length(walker.frame, scan)
        pos = segment_end
    if walker.frame is None or not walker.scans:
        raise Unsupported("no-image-data", "no frame or no scan before EOI")
    frame = walker.frame
    missing = [i for i in range(len(frame.components)) if i not in walker.latched_quant]
    if missing:
        raise Unsupported("component-never-scanned", f"components {missing} have no scan")
    quant = [walker.latched_quant[i] for i in range(len(frame.components))]
    return JpegLayout(frame, walker.scans, quant)
