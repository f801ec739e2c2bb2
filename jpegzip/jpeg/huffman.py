"""Huffman tables as a DHT defines them: decode lookups and encode tables.

Codes are assigned by increasing length and, within a length, in the order the DHT lists
its symbols (T.81 Annex C). The DHT therefore fixes the code completely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

from ..errors import Unsupported

LOOKUP_BITS = 16


@dataclass(frozen=True)
class HuffmanTable:
    """One DHT table: ``counts[i]`` codes of length i+1, symbols in listed order."""

    counts: tuple[int, ...]
    symbols: bytes
    _codes: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.counts) != 16 or sum(self.counts) != len(self.symbols):
            raise Unsupported("bad-huffman-table", "counts do not match symbols")
        codes = []
        code = 0
        for length_minus_1, count in enumerate(self.counts):
            for _ in range(count):
                codes.append(code)
                code += 1
            if code > (1 << (length_minus_1 + 1)):
                raise Unsupported("bad-huffman-table", "code lengths overflow")
            code <<= 1
        object.__setattr__(self, "_codes", tuple(codes))

    @cached_property
    def _lengths(self) -> np.ndarray:
        return np.repeat(np.arange(1, 17, dtype=np.int64), self.counts)

    @cached_property
    def decode_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        """(length, symbol) for every 16-bit window; length 0 marks an invalid code."""
        return _decode_lookup(self.counts, self.symbols)

    @cached_property
    def encode_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(code, length) per symbol; length 0 marks a symbol the table cannot code."""
        if len(set(self.symbols)) != len(self.symbols):
            raise Unsupported("bad-huffman-table", "a symbol is listed twice")
        codes = np.zeros(256, dtype=np.uint16)
        lengths = np.zeros(256, dtype=np.uint8)
        symbols = np.frombuffer(self.symbols, dtype=np.uint8)
        codes[symbols] = np.asarray(self._codes, dtype=np.uint16)
        lengths[symbols] = self._lengths
        return codes, lengths


@lru_cache(maxsize=64)
def _decode_lookup(counts: tuple[int, ...], symbols: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Canonical codes tile the 16-bit window space in order, so each code owns one run."""
    lengths = np.repeat(np.arange(1, 17, dtype=np.int64), counts)
    spans = np.left_shift(1, LOOKUP_BITS - lengths)
    used = int(spans.sum())
    lookup_lengths = np.zeros(1 << LOOKUP_BITS, dtype=np.uint8)
    lookup_symbols = np.zeros(1 << LOOKUP_BITS, dtype=np.uint8)
    lookup_lengths[:used] = np.repeat(lengths, spans)
    lookup_symbols[:used] = np.repeat(np.frombuffer(symbols, dtype=np.uint8), spans)
    lookup_lengths.flags.writeable = False
    lookup_symbols.flags.writeable = False
    return lookup_lengths, lookup_symbols


def stack_decode_lookups(tables: list[HuffmanTable | None]) -> tuple[np.ndarray, np.ndarray]:
    """Lookups of several tables as two (n, 65536) arrays for the numba scan kernels."""
    lengths = np.zeros((max(len(tables), 1), 1 << LOOKUP_BITS), dtype=np.uint8)
    symbols = np.zeros_like(lengths)
    for index, table in enumerate(tables):
        if table is not None:
            lengths[index], symbols[index] = table.decode_lookup
    return lengths, symbols


def stack_encode_tables(tables: list[HuffmanTable | None]) -> tuple[np.ndarray, np.ndarray]:
    """Encode tables of several tables as (n, 256) code and length arrays."""
    codes = np.zeros((max(len(tables), 1), 256), dtype=np.uint16)
    lengths = np.zeros((max(len(tables), 1), 256), dtype=np.uint8)
    for index, table in enumerate(tables):
        if table is not None:
            codes[index], lengths[index] = table.encode_table
    return codes, lengths


def _annex_k(counts: str, symbols: str) -> HuffmanTable:
    return HuffmanTable(tuple(bytes.fromhex(counts)), bytes.fromhex(symbols))


# The typical tables of T.81 Annex K.3 (Tables K.3 to K.6): what libjpeg decodes a scan
# with when its slot 0 or 1 was never defined, as in Motion-JPEG frames, which leave out
# their DHT. Keyed by (class: 0 DC, 1 AC; slot).
STANDARD_TABLES = {
    (0, 0): _annex_k("00010501010101010100000000000000", "000102030405060708090a0b"),
    (0, 1): _annex_k("00030101010101010101010000000000", "000102030405060708090a0b"),
    (1, 0): _annex_k(
        "0002010303020403050504040000017d",
        "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a16"
        "1718191a25262728292a3435363738393a434445464748494a535455565758595a63646566676869"
        "6a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6"
        "b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8"
        "f9fa",
    ),
    (1, 1): _annex_k(
        "00020102040403040705040400010277",
        "000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434"
        "e125f11718191a262728292a35363738393a434445464748494a535455565758595a636465666768"
        "696a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4"
        "b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8"
        "f9fa",
    ),
}
