"""Per-image table adaptation of stream version 2: chosen when it pays, exact on both
sides, header checked."""

from __future__ import annotations

import constriction
import numpy as np
import pytest

from jpegzip.coding import ALPHABET, adapt, decode_planes, encode_planes
from jpegzip.coding.streams import FIXED_TABLES_VERSION
from jpegzip.coding.tables import coder_tables
from jpegzip.errors import ContainerError
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


def test_adaptation_is_chosen_and_pays():
    model = load_default_model()
    plane = requantized((48, 64), 1)
    tables = coder_tables(model)
    histogram = np.zeros((tables.count, ALPHABET), np.int32)
    data = encode_planes([plane], [QUANT], [(1, 1)], model, FIXED_TABLES_VERSION)
    out = decode_planes(data, [plane.shape[:2]], [QUANT], [(1, 1)], model)
    assert np.array_equal(out[0], plane)
    # the same planes coded without any adaptation cost clearly more
    session = model.begin([plane.shape[:2]], [QUANT], [(1, 1)], [plane])
    bits = 0.0
    for step in range(session.step_count):
        pred, ctx, values = session.encode_step(step)
        sym = np.clip(values - pred + 15, 0, 30)  # no escapes at these magnitudes
        np.add.at(histogram, (ctx, sym), 1)
        bits -= np.log2(model.probabilities[ctx, sym]).sum()
    session.finish()
    assert adapt.choose(histogram, tables.frequencies)[0].size
    assert len(data) * 8 < 0.9 * bits


def test_header_round_trip():
    model = load_default_model()
    frequencies = coder_tables(model).frequencies
    rng = np.random.default_rng(0)
    tables = np.array([0, 5, 4100, frequencies.shape[0] - 1])
    tables = np.unique(np.minimum(tables, frequencies.shape[0] - 1))
    modes = np.arange(tables.size) % 2
    totals = rng.integers(0, adapt.LEVELS, tables.size)
    levels = rng.integers(0, adapt.LEVELS, (tables.size, ALPHABET))
    encoder = constriction.stream.queue.RangeEncoder()
    sent = adapt.encode_header(encoder, (tables, totals, modes, levels), frequencies)
    decoder = constriction.stream.queue.RangeDecoder(encoder.get_compressed())
    got, freq = adapt.decode_header(decoder, frequencies)
    assert np.array_equal(got, tables)
    assert np.array_equal(freq, sent)
    assert freq.min() >= 1
    for i, t in enumerate(tables):
        count = adapt.MODE_VALUES[modes[i]]
        expect = adapt.adapted_frequencies(modes[i], levels[i, :count], frequencies[t])
        assert np.array_equal(freq[i], expect)


def test_damaged_header_is_a_container_error():
    model = load_default_model()
    plane = requantized((16, 16), 2)
    data = bytearray(encode_planes([plane], [QUANT], [(1, 1)], model, FIXED_TABLES_VERSION))
    data[1:5] = b"\xff\xff\xff\xff"
    with pytest.raises(ContainerError):
        decode_planes(bytes(data), [plane.shape[:2]], [QUANT], [(1, 1)], model)
