"""The shipped models: weights loading and identity, context ranges, causality."""

from __future__ import annotations

import hashlib
import io
import zipfile
from importlib.resources import files

import numpy as np
import pytest

from jpegzip.coding import ALPHABET
from jpegzip.model import (
    LEVEL_WEIGHTS,
    SHIPPED_WEIGHTS,
    ClassicModel,
    LearnedModel,
    level_model,
    level_of,
    load_default_model,
    load_model,
    shipped_names,
)
from jpegzip.model.classic import CONTEXT_COUNT, ZIGZAG, context_families, context_groups
from jpegzip.model.weights import model_from_bytes, save_weights


def test_default_model_is_cached_and_named_by_its_file_hash():
    model = load_default_model()
    assert load_default_model() is model
    data = (files("jpegzip.weights") / SHIPPED_WEIGHTS[0]).read_bytes()
    assert model.model_id == hashlib.sha256(data).digest()
    assert len(model.model_id) == 32
    assert isinstance(model, LearnedModel)


def test_every_shipped_model_loads_by_its_id():
    assert len(shipped_names()) == len(SHIPPED_WEIGHTS)
    for name in SHIPPED_WEIGHTS:
        data = (files("jpegzip.weights") / name).read_bytes()
        assert load_model(hashlib.sha256(data).digest()).model_id == hashlib.sha256(data).digest()
    with pytest.raises(KeyError):
        load_model(bytes(32))


def test_each_level_codes_with_its_own_model_and_is_found_by_its_id():
    assert not isinstance(level_model(1), LearnedModel)  # level 1 runs no network
    assert isinstance(level_model(2), LearnedModel)
    for level in LEVEL_WEIGHTS:
        assert level_of(level_model(level).model_id) == level
    assert level_of(bytes(32)) is None


@pytest.mark.parametrize("name", SHIPPED_WEIGHTS)
def test_weights_hold_no_pickles_and_are_small(name):
    data = (files("jpegzip.weights") / name).read_bytes()
    assert len(data) < 20_000_000
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        for name in npz.files:
            assert npz[name].dtype != object
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {"layout.npy", "frequencies.npy", "context_map.npy"} <= set(archive.namelist())


def test_tables_are_valid_distributions():
    model = load_default_model()
    p = model.probabilities
    assert p.shape[1] == ALPHABET
    assert np.all(p > 0)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert model.context_map.shape == (CONTEXT_COUNT,)
    assert model.context_map.min() >= 0 and model.context_map.max() < p.shape[0]


def test_weights_with_another_layout_are_refused(tmp_path):
    path = tmp_path / "bad.npz"
    buffer = io.BytesIO()
    np.savez(buffer, layout=np.array([999, CONTEXT_COUNT]), frequencies=np.ones((2, ALPHABET)),
             context_map=np.zeros(CONTEXT_COUNT))
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError):
        model_from_bytes(path.read_bytes())


def test_saved_weights_load_back(tmp_path):
    freq = np.ones((3, ALPHABET), np.uint16)
    cmap = np.arange(CONTEXT_COUNT) % 3
    data = save_weights(tmp_path / "w.npz", freq, cmap)
    model = model_from_bytes(data)
    assert model.probabilities.shape == (3, ALPHABET)
    assert np.array_equal(model.context_map, cmap)


def test_context_families_and_groups_cover_every_context():
    assert context_families().shape == (CONTEXT_COUNT,)
    assert context_groups().shape == (CONTEXT_COUNT,)


@pytest.mark.parametrize("name", SHIPPED_WEIGHTS)
def test_decoder_session_replays_the_encoder_contexts(name):
    """A session without the planes, fed the same values, derives the same contexts and
    side contexts."""
    model = load_model(hashlib.sha256((files("jpegzip.weights") / name).read_bytes()).digest())
    assert isinstance(model, ClassicModel)
    rng = np.random.default_rng(3)
    plane = np.round(rng.laplace(0, 3, size=(7, 9, 64)) / (1 + np.arange(64)) ** 0.7)
    plane = plane.astype(np.int16)
    quant = [np.full(64, 3, np.uint16)]
    truth = model.begin([(7, 9)], quant, [(1, 1)], [plane])
    fused = model.begin([(7, 9)], quant, [(1, 1)], [plane])
    replay = model.begin([(7, 9)], quant, [(1, 1)], None)
    for step in range(truth.step_count):
        p1, c1 = truth.contexts(step)
        p2, c2 = replay.contexts(step)
        p3, c3, v3 = fused.encode_step(step)
        assert np.array_equal(p1, p2) and np.array_equal(c1, c2)
        assert np.array_equal(p1, p3) and np.array_equal(c1, c3)
        s1, s2, s3 = truth.side_contexts(), replay.side_contexts(), fused.side_contexts()
        assert np.array_equal(s1, s2) and np.array_equal(s1, s3)
        assert s1.shape in ((0, 5), (p1.size, 5))
        if s1.size:
            assert 0 <= s1[:, 0].min() <= s1[:, 0].max() < model.sign_context_count
            assert 0 <= s1[:, 1:].min() <= s1[:, 1:].max() < model.magnitude_context_count
        if p1.size:
            values = truth.targets(step)
            assert np.array_equal(values, v3)
            truth.commit(step, values)
            replay.commit(step, values.copy())
    out = replay.finish()
    assert np.array_equal(out[0], plane)
    assert np.array_equal(fused.finish()[0], plane)


def test_zigzag_is_a_permutation():
    assert sorted(ZIGZAG.tolist()) == list(range(64))
