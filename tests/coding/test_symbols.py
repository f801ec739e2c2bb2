"""The residual alphabet: every residual an int16 coefficient can produce has a symbol."""

from __future__ import annotations

import numpy as np

from jpegzip.coding.symbols import (
    ALPHABET,
    FIRST_ESCAPE,
    MAX_RESIDUAL,
    K,
    residuals_to_symbols,
)


def _check_symbols(res: np.ndarray) -> None:
    """Every residual's symbol names it: itself up to K, else its escape length and sign
    (the raw bits below the leading one carry the rest)."""
    res = res.astype(np.int32)
    sym = np.empty(res.size, np.int32)
    raw_count = residuals_to_symbols(res, sym)
    assert np.all((sym >= 0) & (sym < ALPHABET))
    small = np.abs(res) <= K
    assert np.array_equal(sym[small], res[small] + K)
    m = np.abs(res[~small]).astype(np.int64) - K
    lengths = np.floor(np.log2(m)).astype(np.int64) + 1
    assert np.array_equal((sym[~small] - FIRST_ESCAPE) // 2 + 1, lengths)
    assert np.array_equal((sym[~small] - FIRST_ESCAPE) % 2 == 1, res[~small] < 0)
    assert raw_count == int(np.count_nonzero(lengths >= 2))


def test_small_residuals_are_their_own_symbol():
    res = np.arange(-K, K + 1, dtype=np.int32)
    sym = np.empty(res.size, np.int32)
    assert residuals_to_symbols(res, sym) == 0
    assert np.array_equal(sym, res + K)


def test_every_boundary_and_extreme_round_trips():
    edges = [0, 1, K, K + 1, K + 2, K + 3, 100, 1000, 32767, 32768, MAX_RESIDUAL]
    res = np.array(edges + [-e for e in edges], dtype=np.int32)
    _check_symbols(res)


def test_random_full_range_round_trips():
    rng = np.random.default_rng(1)
    res = rng.integers(-MAX_RESIDUAL, MAX_RESIDUAL + 1, size=5000)
    _check_symbols(res)


def test_escape_symbols_cover_the_largest_residual():
    sym = np.empty(2, np.int32)
    residuals_to_symbols(np.array([MAX_RESIDUAL, -MAX_RESIDUAL], np.int32), sym)
    assert sym.max() == ALPHABET - 1
    assert sym.min() >= FIRST_ESCAPE
