"""Residual <-> symbol alphabet shared by every context table.

A residual r (coefficient minus prediction) in [-K, K] is its own symbol r + K. Larger
magnitudes escape: with m = |r| - K >= 1 and n = bit_length(m) (1..16), the symbol
2K + 1 + 2(n - 1) + sign carries n and the sign, and the n - 1 bits of m below its
leading one are coded raw (uniform). That keeps every table small while any int16
coefficient, with any int16 prediction, stays lossless. The fitted tables are over these
symbols; the adaptive coder (adaptive.py) codes the same classes as binary decisions.
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


def symbol_bits_table() -> np.ndarray:
    """Raw bits spent per symbol (0 except escapes); used for ideal code lengths."""
    bits = np.zeros(ALPHABET, np.float64)
    for s in range(FIRST_ESCAPE, ALPHABET):
        bits[s] = (s - FIRST_ESCAPE) // 2
    return bits
