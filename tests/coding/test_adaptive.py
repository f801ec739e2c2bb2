"""The adaptive coder: the binary range coder is exact, the priors are the fitted tables, the
probability map and the mixer start neutral and learn, and the adaptation pays where the
tables do not fit."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from jpegzip.coding import decode_planes, encode_planes, iter_symbols
from jpegzip.coding.adaptive import (
    MAP_KNOTS,
    MIX_INPUTS,
    MIX_WEIGHT_BITS,
    P_MAX,
    P_MIN,
    RESIDUAL_CLASSES,
    SIGN,
    SQUASH,
    SQUASH_RANGE,
    STRETCH,
    STRETCH_SHIFT,
    AdaptiveState,
    _learn_map,
    _learn_mix,
    _mix,
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
from jpegzip.coding.symbols import ALPHABET, K, symbol_bits_table
from jpegzip.model import load_default_model

QUANT = np.full(64, 4, np.uint16)


def requantized(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Coefficients that are all even, like a JPEG requantized at half its step: the fitted
    tables expect many +-1, this image has none."""
    rng = np.random.default_rng(seed)
    decay = 6.0 / (1.0 + np.arange(64)) ** 0.8
    values = np.round(rng.laplace(0.0, 1.0, size=(*shape, 64)) * decay) * 2
    values[..., 0] = rng.integers(-300, 300, size=shape)
    return values.astype(np.int16)


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
    assert priors.shape == (model.probabilities.shape[0], RESIDUAL_CLASSES)
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
    assert ALPHABET == 2 * K + 1 + 2 * (RESIDUAL_CLASSES - K - 1)


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
    """AC signs are coded per sign context, which holds the signs of the block's own lower
    neighbours (here (0, 1) -> (0, 2) -> (0, 3), one sign per block, unrelated to the
    neighbouring blocks): clearly fewer bytes than the same magnitudes with a sign per
    coefficient. Both round-trip."""
    rng = np.random.default_rng(5)
    shape = (40, 48)
    magnitudes = rng.integers(1, 6, (*shape, 3))
    sizes = []
    for signs in (rng.choice([-1, 1], size=(*shape, 1)), rng.choice([-1, 1], size=(*shape, 3))):
        plane = np.zeros((*shape, 64), np.int16)
        plane[..., 0] = rng.integers(-50, 50, shape)
        plane[..., 1:4] = signs * magnitudes  # (0, 1) .. (0, 3)
        model = load_default_model()
        data = encode_planes([plane], [QUANT], [(1, 1)], model)
        out = decode_planes(data, [shape], [QUANT], [(1, 1)], model)
        assert np.array_equal(out[0], plane)
        sizes.append(len(data))
    assert sizes[0] < 0.95 * sizes[1]


def test_stretch_inverts_squash():
    assert np.all(np.diff(SQUASH) >= 0) and np.all(np.diff(STRETCH) >= 0)
    assert SQUASH[SQUASH_RANGE] == 1 << (PROB_BITS - 1)  # log-odds 0 is 1/2
    for p in range(P_MIN, P_MAX, 97):
        back = SQUASH[STRETCH[p >> STRETCH_SHIFT] + SQUASH_RANGE]
        assert abs(back - p) <= max(24, p // 200, (65536 - p) // 200)


@njit(cache=True)
def _mix_steps(side_state, keys, p, bits):
    """Mix node 0 with the counts' p held fixed, learning from each bit; the mixed p's."""
    out = np.empty(bits.size, np.int64)
    for i in range(bits.size):
        mixed, x = _mix(side_state, keys, 0, p, p, p)
        out[i] = mixed
        _learn_mix(side_state, keys, 0, x, mixed, bits[i])
    return out


def _side_state():
    state = AdaptiveState(load_default_model())
    return state.arrays[-1].copy()


def test_mixer_starts_as_the_counts_and_learns_what_they_miss():
    side_state = _side_state()
    quarter = 1 << (PROB_BITS - 2)
    keys = (5, 900, 70_000, 100_000)
    mixed = _mix_steps(side_state, keys, quarter, np.ones(400, np.int64))
    assert abs(mixed[0] - quarter) < quarter // 50  # neutral at first: the counts' p
    assert mixed[-1] > 0.8 * (1 << PROB_BITS)  # the side contexts keep saying 1
    assert (side_state[4:MIX_INPUTS] > 0).all()  # ...and gained weight
    # other side contexts, still at 1/2, lean less on them
    others = (6, 901, 70_001, 100_001)
    assert _mix_steps(side_state, others, quarter, np.ones(1, np.int64))[0] < mixed[-1]


def test_mixer_weights_do_not_drift_on_balanced_outcomes():
    """Updates round to nearest: decisions at p = 1/2 that come out 0 and 1 in turn leave
    the weights of the counts' inputs (log-odds about 0) where they were; a floor moved
    them down half a unit each time, which over a 16 MP photo ruined the mix."""
    side_state = _side_state()
    weights = side_state[:MIX_INPUTS].copy()
    assert weights[0] == 1 << MIX_WEIGHT_BITS and not weights[1:].any()
    _mix_steps(side_state, (5, 900, 70_000, 100_000), 1 << (PROB_BITS - 1),
               np.tile([0, 1], 5000))
    counts_inputs = [0, 2, 3]  # the mapped, fine and table levels' p
    assert np.array_equal(side_state[counts_inputs], weights[counts_inputs])
    assert abs(side_state[1]) <= 16  # the bias moved up and down by the same step
