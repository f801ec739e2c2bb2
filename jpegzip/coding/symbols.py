"""Residual <-> symbol alphabet shared by every context table.

A residual r (coefficient minus prediction) in [-K, K] is its own symbol r + K. Larger
magnitudes escape: with m = |r| - K >= 1 and n = bit_length(m) (1..16), the symbol
2K + 1 + 2(n - 1) + sign carries n and the sign, and the n - 1 bits of m below its
leading one are coded raw (uniform). That keeps every table small while any int16
coefficient, with any int16 prediction, stays lossless.
"""

from __future__ import annotations

import numpy as np
from numba import njit

K = 15
ESCAPE_LENGTHS = 16  # |r| <= 65535 + K - K: bit_length(m) <= 16
FIRST_ESCAPE = 2 * K + 1
ALPHABET = FIRST_ESCAPE + 2 * ESCAPE_LENGTHS  # 63
MAX_RESIDUAL = 65535


@njit(cache=True)
def residuals_to_symbols(res, sym):
    """Fill sym with the symbol of each residual; return how many need raw bits."""
    raw_count = 0
    for t in range(res.size):
        r = res[t]
        a = r if r >= 0 else -r
        if a <= K:
            sym[t] = r + K
        else:
            m = a - K
            n = 0
            while m >> n:
                n += 1
            sym[t] = FIRST_ESCAPE + 2 * (n - 1) + (1 if r < 0 else 0)
            if n >= 2:
                raw_count += 1
    return raw_count


@njit(cache=True)
def raw_parts(res, sym, order, raw_values, raw_sizes):
    """Raw bits of the escaped residuals, visited in `order` (the coding order)."""
    j = 0
    for t in range(order.size):
        i = order[t]
        s = sym[i]
        if s >= FIRST_ESCAPE:
            n = (s - FIRST_ESCAPE) // 2 + 1
            if n >= 2:
                r = res[i]
                m = (r if r >= 0 else -r) - K
                raw_values[j] = m - (1 << (n - 1))
                raw_sizes[j] = 1 << (n - 1)
                j += 1
    return j


@njit(cache=True)
def raw_sizes_of(sym_sorted, raw_sizes):
    """Sizes of the uniform raw-bit models the decoder must read, in coding order."""
    j = 0
    for t in range(sym_sorted.size):
        s = sym_sorted[t]
        if s >= FIRST_ESCAPE:
            n = (s - FIRST_ESCAPE) // 2 + 1
            if n >= 2:
                raw_sizes[j] = 1 << (n - 1)
                j += 1
    return j


@njit(cache=True)
def symbols_to_values(sym_sorted, order, raw_values, pred, values):
    """Invert residuals_to_symbols: values[order[t]] = pred[order[t]] + the residual of
    sym_sorted[t] and its raw bits."""
    j = 0
    for t in range(sym_sorted.size):
        s = sym_sorted[t]
        if s < FIRST_ESCAPE:
            r = s - K
        else:
            n = (s - FIRST_ESCAPE) // 2 + 1
            m = 1 << (n - 1)
            if n >= 2:
                m += raw_values[j]
                j += 1
            r = m + K
            if (s - FIRST_ESCAPE) & 1:
                r = -r
        i = order[t]
        values[i] = pred[i] + r


def symbols_to_residuals(sym_sorted, order, raw_values, res) -> None:
    """Invert residuals_to_symbols: res[order[t]] from sym_sorted[t] and the raw bits."""
    symbols_to_values(sym_sorted, order, raw_values, np.zeros(res.size, res.dtype), res)


def symbol_bits_table() -> np.ndarray:
    """Raw bits spent per symbol (0 except escapes); used for ideal code lengths."""
    bits = np.zeros(ALPHABET, np.float64)
    for s in range(FIRST_ESCAPE, ALPHABET):
        bits[s] = (s - FIRST_ESCAPE) // 2
    return bits
