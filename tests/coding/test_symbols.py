"""The residual alphabet: every residual an int16 coefficient can produce survives."""

from __future__ import annotations

import numpy as np

from jpegzip.coding.symbols import (
    ALPHABET,
    FIRST_ESCAPE,
    MAX_RESIDUAL,
    K,
    raw_parts,
    raw_sizes_of,
    residuals_to_symbols,
    symbols_to_residuals,
)


def _round_trip(res: np.ndarray) -> np.ndarray:
    res = res.astype(np.int32)
    sym = np.empty(res.size, np.int32)
    raw_count = residuals_to_symbols(res, sym)
    order = np.random.default_rng(0).permutation(res.size).astype(np.int64)
    raw_values = np.empty(max(raw_count, 1), np.int32)
    raw_sizes = np.empty(res.size, np.int32)
    assert raw_parts(res, sym, order, raw_values, raw_sizes) == raw_count
    assert np.all((sym >= 0) & (sym < ALPHABET))
    decoder_sizes = np.empty(res.size, np.int32)
    assert raw_sizes_of(sym[order], decoder_sizes) == raw_count
    assert np.array_equal(decoder_sizes[:raw_count], raw_sizes[:raw_count])
    assert np.all(raw_values[:raw_count] < raw_sizes[:raw_count])
    out = np.empty(res.size, np.int32)
    symbols_to_residuals(sym[order], order, raw_values[:raw_count], out)
    return out


def test_small_residuals_are_their_own_symbol():
    res = np.arange(-K, K + 1, dtype=np.int32)
    sym = np.empty(res.size, np.int32)
    assert residuals_to_symbols(res, sym) == 0
    assert np.array_equal(sym, res + K)


def test_every_boundary_and_extreme_round_trips():
    edges = [0, 1, K, K + 1, K + 2, K + 3, 100, 1000, 32767, 32768, MAX_RESIDUAL]
    res = np.array(edges + [-e for e in edges], dtype=np.int32)
    assert np.array_equal(_round_trip(res), res)


def test_random_full_range_round_trips():
    rng = np.random.default_rng(1)
    res = rng.integers(-MAX_RESIDUAL, MAX_RESIDUAL + 1, size=5000)
    assert np.array_equal(_round_trip(res), res)


def test_escape_symbols_cover_the_largest_residual():
    sym = np.empty(2, np.int32)
    residuals_to_symbols(np.array([MAX_RESIDUAL, -MAX_RESIDUAL], np.int32), sym)
    assert sym.max() == ALPHABET - 1
    assert sym.min() >= FIRST_ESCAPE
