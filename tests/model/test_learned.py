"""The learned model: integer-exact network, causal features, identical results whatever
evaluates it (thread count, float32 or float64, CPU or CUDA)."""

from __future__ import annotations

import numpy as np
import pytest

from jpegzip.coding import decode_planes, encode_planes
from jpegzip.model import LearnedModel, load_default_model
from jpegzip.model.learned import resolve_device
from jpegzip.model.net import (
    EST_OF_T,
    EXACT_LIMIT,
    GROUPS,
    MAG_LUT,
    T_STEP,
    T_ZERO,
    IntegerNet,
    IntLayer,
    group_features,
    input_count,
    luma_context,
)

HAS_CUDA = resolve_device("auto") == "cuda"  # imports torch only where a GPU can be


@pytest.fixture(scope="module")
def model() -> LearnedModel:
    model = load_default_model()
    assert isinstance(model, LearnedModel)
    return model


def photo_planes(seed: int = 5):
    """A 4:2:0 image's three planes with photo-like statistics (smooth, decaying AC)."""
    rng = np.random.default_rng(seed)
    decay = (1 + np.arange(64)) ** 0.8
    shapes = [(40, 48), (20, 24), (20, 24)]
    planes = [np.round(rng.laplace(0, 24, size=s + (64,)) / decay).astype(np.int16)
              for s in shapes]
    quants = [np.full(64, 4, np.uint16), np.full(64, 6, np.uint16), np.full(64, 6, np.uint16)]
    return planes, quants, [(2, 2), (1, 1), (1, 1)]


def test_every_partial_sum_is_below_the_exact_limit(model):
    """Derive each layer's worst case from its integer weights and the 0..255 bound of
    every input and activation: float32 holds every such sum exactly."""
    assert len(model.net.layers) == len(GROUPS)
    for group in model.net.layers:
        for layer in group:
            assert np.abs(layer.weight).max() <= 127
            worst = 0
            for channel in range(layer.weight.shape[0]):
                exponent = int(layer.exponent[channel])
                half = 2 ** (-exponent - 1) if exponent < 0 else 0
                total = int(np.abs(layer.weight[channel]).sum()) * 255
                worst = max(worst, total + abs(int(layer.bias[channel]) + half))
            assert worst == layer.worst_case_sum()
            assert worst < EXACT_LIMIT[np.dtype(np.float32)]


def test_a_network_that_could_overflow_float32_is_refused():
    layers = []
    for g, (lo, hi) in enumerate(GROUPS):
        wide = IntLayer(np.ones((64, input_count(g), 1, 1), np.int64), np.zeros(64, np.int64),
                        np.zeros(64, np.int64))
        weight = np.full((hi - lo, 64, 3, 3), 127, np.int64)  # 64 * 9 * 127 * 255 > 2^24
        layers.append([wide, IntLayer(weight, np.zeros(hi - lo, np.int64),
                                      np.zeros(hi - lo, np.int64))])
    with pytest.raises(ValueError, match="2\\^24"):
        IntegerNet(layers)


def test_lookup_tables_are_exact_integer_functions():
    for v in range(1, 300):
        expected = min(255, int(np.floor(32 * np.log2(1 + v) + 1e-9)))
        assert MAG_LUT[v] == expected
    assert MAG_LUT[0] == 0 and MAG_LUT[-1] == 255
    assert EST_OF_T[T_ZERO] == 8  # b = 1 reads as the classic estimate's 8
    assert EST_OF_T[T_ZERO + T_STEP] == 16
    assert np.all(np.diff(EST_OF_T) >= 0)


def test_features_read_only_what_the_decoder_has():
    planes, quants, sampling = photo_planes()
    z = np.moveaxis(planes[0], 2, 0).copy()
    nnz = np.count_nonzero(z[1:], axis=0)
    rng = np.random.default_rng(1)
    for g, (lo, _) in enumerate(GROUPS):
        features = group_features(g, z, nnz, quants[0], False, None)
        assert features.shape == (input_count(g),) + nnz.shape
        assert features.min() >= 0 and features.max() <= 255
        later = z.copy()
        later[lo:] = rng.integers(-500, 500, size=later[lo:].shape)
        assert np.array_equal(features, group_features(g, later, nnz, quants[0], False, None))


def test_chroma_sees_pooled_luma_only_when_blocks_tile():
    luma = np.arange(24).reshape(4, 6)
    pooled = luma_context(luma, [(2, 2), (1, 1), (1, 1)], 1, (2, 3))
    assert pooled.tolist() == [[3, 5, 7], [15, 17, 19]]
    assert luma_context(luma, [(2, 2), (1, 1), (1, 1)], 0, (4, 6)) is None
    assert luma_context(luma, [(3, 1), (2, 1), (2, 1)], 1, (4, 4)) is None


def test_float32_and_float64_networks_agree(model):
    rng = np.random.default_rng(2)
    for g in range(len(GROUPS)):
        features = rng.integers(0, 256, size=(input_count(g), 33, 41))
        assert np.array_equal(model.net.run(g, features, "cpu", "float32"),
                              model.net.run(g, features, "cpu", "float64"))


def code(model, planes, quants, sampling) -> bytes:
    return encode_planes(planes, quants, sampling, model)


def test_same_bytes_with_one_or_two_threads_and_float64(model):
    planes, quants, sampling = photo_planes()
    one = code(model.on_device("cpu", threads=1), planes, quants, sampling)
    two = code(model.on_device("cpu", threads=2), planes, quants, sampling)
    wide = code(model.on_device("cpu", "float64"), planes, quants, sampling)
    assert one == two == wide
    shapes = [p.shape[:2] for p in planes]
    back = decode_planes(one, shapes, quants, sampling, model.on_device("cpu", "float64"))
    assert all(np.array_equal(a, b) for a, b in zip(planes, back, strict=True))


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_encode_on_gpu_decode_on_cpu_and_back(model):
    planes, quants, sampling = photo_planes()
    shapes = [p.shape[:2] for p in planes]
    on_gpu = code(model.on_device("cuda"), planes, quants, sampling)
    assert on_gpu == code(model.on_device("cpu"), planes, quants, sampling)
    for device in ("cpu", "cuda"):
        back = decode_planes(on_gpu, shapes, quants, sampling, model.on_device(device))
        assert all(np.array_equal(a, b) for a, b in zip(planes, back, strict=True))


def test_decoder_replays_the_encoder_contexts_across_components(model):
    """Chroma reads the decoded luma: a decoder session fed the same values derives the
    same contexts in every step of a 4:2:0 image."""
    planes, quants, sampling = photo_planes(seed=9)
    shapes = [p.shape[:2] for p in planes]
    encoder = model.begin(shapes, quants, sampling, planes)
    decoder = model.begin(shapes, quants, sampling, None)
    for step in range(encoder.step_count):
        pred, ctx, values = encoder.encode_step(step)
        side = encoder.side_contexts().copy()
        p2, c2 = decoder.contexts(step)
        assert np.array_equal(pred, p2) and np.array_equal(ctx, c2)
        assert np.array_equal(side, decoder.side_contexts())
        if pred.size:
            decoder.commit(step, values.copy())
    for a, b in zip(planes, decoder.finish(), strict=True):
        assert np.array_equal(a, b)


def test_cuda_without_a_gpu_is_a_clear_error(model):
    if HAS_CUDA:
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="CUDA"):
        model.on_device("cuda")


def test_tiles_give_the_whole_plane_outputs_where_they_are_needed(model, monkeypatch):
    from jpegzip.model import net

    rng = np.random.default_rng(6)
    for g in (0, 3, 6):
        features = rng.integers(0, 256, size=(input_count(g), 23, 31)).astype(np.uint8)
        remaining = features[net.remaining_row(g)]
        remaining[:, 12:] = 0  # whole tiles with nothing to code are skipped
        monkeypatch.setattr(net, "TILE", 1000)
        whole = model.net.run(g, features)
        monkeypatch.setattr(net, "TILE", 5)
        tiled = model.net.run(g, features)
        needed = remaining > 0
        assert needed.sum() > 100
        assert np.array_equal(whole[:, needed], tiled[:, needed])
        assert not tiled[:, :, 15:].any()  # skipped tiles read 0
