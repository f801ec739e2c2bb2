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
