"""Stream versions 3 and 4: the binary range coder is exact, the priors are the fitted tables, the
probability map starts neutral, and the adaptation pays where the tables do not fit."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from jpegzip.coding import decode_planes, encode_planes, iter_symbols
from jpegzip.coding.adaptive import (
    CLASSES,
    MAP_KNOTS,
    P_MAX,
    P_MIN,
    SIGN,
    _learn_map,
    _refine,
    node_priors,
)
from jpegzip.coding.rangecoder import (
    DECODER_POSITION,
    ENCODER_POSITION,
    PROB_BITS,
    decode_bit,
    decoder_registers,
    encode_bit,
    encoder_registers,
    flush,
    new_encoder,
    save_registers,
    start_decoder,
)
from jpegzip.coding.streams import FIXED_TABLES_VERSION, STREAM_VERSION, UNSIGNED_VERSION
from jpegzip.coding.symbols import ALPHABET, K, symbol_bits_table
from jpegzip.model import load_default_model

from .test_adapt import requantized

QUANT = np.full(64, 4, np.uint16)


@njit(cache=True)
def _encode_into(st, bits, probs, out):
    coder = encoder_registers(st)
    for i in range(bits.size):
        coder = encode_bit(coder, out, bits[i], probs[i])
    save_registers(st, coder)
    flush(st, out)
    return st[ENCODER_POSITION]


def _encode_bits(bits, probs, out):
    return _encode_into(new_encoder(), bits, probs, out)


@njit(cache=True)
def _decode_bits(data, probs):
    st = start_decoder(data)
    coder = decoder_registers(st)
    out = np.empty(probs.size, np.int64)
    for i in range(probs.size):
        out[i], coder = decode_bit(coder, data, probs[i])
    save_registers(st, coder)
    return out, st[DECODER_POSITION]


@pytest.mark.parametrize("seed", range(4))
def test_range_coder_round_trip_any_probabilities(seed):
    rng = np.random.default_rng(seed)
    n = 20_000
    probs = rng.integers(1, 1 << PROB_BITS, n).astype(np.int64)
    probs[: n // 4] = rng.choice([1, 2, (1 << PROB_BITS) - 1, (1 << PROB_BITS) - 2], n // 4)
    bits = (rng.integers(0, 1 << PROB_BITS, n) < probs).astype(np.int64)
    bits[::97] ^= 1  # some unlikely bits too: carries and long pending runs
    out = np.empty(8 * n + 64, np.uint8)
    size = _encode_bits(bits, probs, out)
    decoded, read = _decode_bits(out[:size].copy(), probs)
    assert np.array_equal(decoded, bits)
    assert read == size  # the decoder reads exactly what the encoder wrote


def test_range_coder_spends_the_information():
    rng = np.random.default_rng(9)
    n = 50_000
    probs = rng.integers(P_MIN, P_MAX, n).astype(np.int64)
    bits = (rng.integers(0, 1 << PROB_BITS, n) < probs).astype(np.int64)
    p1 = probs / (1 << PROB_BITS)
    ideal = -np.sum(np.where(bits == 1, np.log2(p1), np.log2(1 - p1))) / 8
    size = _encode_bits(bits, probs, np.empty(8 * n, np.uint8))
    assert ideal <= size < 1.01 * ideal + 8


def test_priors_reproduce_the_tables():
    """The chain of stop decisions and the sign give back each table's probabilities."""
    model = load_default_model()
    priors = node_priors(model.probabilities)
    assert priors.shape == (model.probabilities.shape[0], CLASSES)
    assert priors.min() >= P_MIN and priors.max() <= P_MAX
    rows = model.probabilities / model.probabilities.sum(axis=1, keepdims=True)
    stop = priors[:, :SIGN] / (1 << PROB_BITS)
    reach = np.cumprod(np.hstack([np.ones((rows.shape[0], 1)), 1 - stop]), axis=1)
    class_p = np.hstack([stop * reach[:, :SIGN], reach[:, SIGN:]])  # last class: no stop
    zero = rows[:, K]
    assert np.allclose(class_p[:, 0], zero, atol=2e-3)
    one = rows[:, K - 1] + rows[:, K + 1]
    assert np.allclose(class_p[:, 1], one, atol=2e-3)
    negative = rows[:, :K].sum(axis=1) + rows[:, 2 * K + 2::2].sum(axis=1)
    assert np.allclose(priors[:, SIGN] / (1 << PROB_BITS),
                       np.clip(negative / (1 - zero), P_MIN / 65536, P_MAX / 65536), atol=1e-3)
    assert ALPHABET == 2 * K + 1 + 2 * (CLASSES - K - 1)


def test_adaptation_follows_an_image_the_tables_do_not_fit():
    model = load_default_model()
    plane = requantized((48, 64), 1)
    adaptive = encode_planes([plane], [QUANT], [(1, 1)], model)
    out = decode_planes(adaptive, [plane.shape[:2]], [QUANT], [(1, 1)], model)
    assert np.array_equal(out[0], plane)
    rows = model.probabilities / model.probabilities.sum(axis=1, keepdims=True)
    fixed_bits = sum(float(-np.log2(rows[ctx, sym]).sum() + symbol_bits_table()[sym].sum())
                     for ctx, sym in iter_symbols([plane], [QUANT], [(1, 1)], model))
    assert 8 * len(adaptive) < 0.9 * fixed_bits
    # and it beats sending table corrections up front (stream 2) on this image too
    assert len(adaptive) < len(encode_planes([plane], [QUANT], [(1, 1)], model,
                                             FIXED_TABLES_VERSION))


def test_probability_map_starts_as_identity_and_follows_outcomes():
    prob_map = np.tile(MAP_KNOTS, (SIGN, 1))
    for p in (P_MIN, 100, 1000, 32768, 40000, 65000, P_MAX):
        refined, _, _ = _refine(prob_map, 3, p)
        assert abs(refined - p) <= 1
    for _ in range(200):  # decision 3 keeps coming out 1 where p says 0.25
        refined, knot, fraction = _refine(prob_map, 3, 1 << (PROB_BITS - 2))
        _learn_map(prob_map, 3, knot, fraction, 1)
    assert _refine(prob_map, 3, 1 << (PROB_BITS - 2))[0] > 0.55 * (1 << PROB_BITS)
    assert np.array_equal(prob_map[2], MAP_KNOTS)  # other nodes untouched
    assert prob_map.min() >= 0 and prob_map.max() <= 1 << PROB_BITS


def test_sign_contexts_learn_signs_a_block_repeats():
    """Stream 4 codes AC signs per sign context, which holds the signs of the block's own
    lower neighbours (here (0, 1) -> (0, 2) -> (0, 3), one sign per block, unrelated to the
    neighbouring blocks, so stream 3's context on those learns nothing): clearly fewer
    bytes. Both round-trip."""
    rng = np.random.default_rng(5)
    shape = (40, 48)
    plane = np.zeros((*shape, 64), np.int16)
    plane[..., 0] = rng.integers(-50, 50, shape)
    block_signs = rng.choice([-1, 1], size=(*shape, 1))
    plane[..., 1:4] = block_signs * rng.integers(1, 6, (*shape, 3))  # (0, 1) .. (0, 3)
    model = load_default_model()
    sizes = {}
    for version in (STREAM_VERSION, UNSIGNED_VERSION):
        data = encode_planes([plane], [QUANT], [(1, 1)], model, version)
        out = decode_planes(data, [shape], [QUANT], [(1, 1)], model)
        assert np.array_equal(out[0], plane)
        sizes[version] = len(data)
    assert sizes[STREAM_VERSION] < 0.95 * sizes[UNSIGNED_VERSION]
