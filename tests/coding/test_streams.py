"""Planes -> bytes -> planes: lossless for any int16 input, in one part (stream version 4)
and in several (version 5: the parts are made small here, as a large image's are), with
one thread or several (the same bytes); damage raises ContainerError; the retired
versions 2 and 3 are refused."""

from __future__ import annotations

import numpy as np
import pytest

from jpegzip.coding import ALPHABET, decode_planes, encode_planes, parts
from jpegzip.coding.streams import PARTS_VERSION, STREAM_VERSION
from jpegzip.errors import ContainerError
from jpegzip.model import load_default_model
from jpegzip.model.weights import untrained_model

QUANT = np.full(64, 4, np.uint16)


@pytest.fixture(params=["default", "untrained"])
def model(request):
    return load_default_model() if request.param == "default" else untrained_model(ALPHABET)


@pytest.fixture(params=[STREAM_VERSION, PARTS_VERSION])
def version(request, monkeypatch):
    """The stream version the test's images are coded in: version 5 where an image of 24
    blocks or more is cut into parts of at most 24 blocks (a few rows each)."""
    if request.param == PARTS_VERSION:
        monkeypatch.setattr(parts, "SPLIT_FROM", 24)
        monkeypatch.setattr(parts, "PART_BLOCKS", 24)
    return request.param


def photo_like(shape: tuple[int, int], seed: int, scale: float = 8.0) -> np.ndarray:
    """Sparse coefficients that shrink with frequency, like a quantized photo."""
    rng = np.random.default_rng(seed)
    decay = scale / (1.0 + np.arange(64)) ** 0.9
    values = rng.laplace(0.0, 1.0, size=(*shape, 64)) * decay
    values[..., 0] = rng.integers(-300, 300, size=shape)
    return np.round(values).astype(np.int16)


def round_trip(planes, model, quants=None, sampling=None, version=STREAM_VERSION):
    """Encode and decode with one thread and with three: the same bytes, the same planes."""
    quants = quants or [QUANT] * len(planes)
    sampling = sampling or [(1, 1)] * len(planes)
    data = encode_planes(planes, quants, sampling, model)
    several = len(parts.bands([p.shape[:2] for p in planes], sampling)) > 1
    assert data[0] == (PARTS_VERSION if several else STREAM_VERSION)
    assert encode_planes(planes, quants, sampling, model, threads=3) == data
    for threads in (1, 3):
        out = decode_planes(data, [p.shape[:2] for p in planes], quants, sampling, model,
                            threads)
        assert len(out) == len(planes)
        for a, b in zip(planes, out, strict=True):
            assert b.dtype == np.int16
            assert np.array_equal(a, b)
    into = [np.full(p.shape, 7, np.int16) for p in planes]  # every value gets written
    shapes = [p.shape[:2] for p in planes]
    assert decode_planes(data, shapes, quants, sampling, model, 3, out=into) is into
    assert all(np.array_equal(a, b) for a, b in zip(planes, into, strict=True))
    return data


@pytest.mark.parametrize("components", [1, 3, 4])
def test_round_trip_components(model, components, version):
    planes = [photo_like((9, 13), seed=c) for c in range(components)]
    data = round_trip(planes, model, version=version)
    assert data[0] == version


def test_round_trip_chroma_of_other_sizes(model, version):
    planes = [photo_like((16, 22), 0), photo_like((8, 11), 1), photo_like((16, 11), 2)]
    round_trip(planes, model, sampling=[(2, 2), (1, 1), (1, 2)], version=version)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1), (2, 2), (3, 5)])
def test_round_trip_tiny_grids(model, shape, version):
    round_trip([photo_like(shape, 3), photo_like(shape, 4), photo_like(shape, 5)], model,
               version=version)


def test_round_trip_extreme_values(model, version):
    rng = np.random.default_rng(7)
    plane = rng.integers(-32768, 32768, size=(5, 6, 64)).astype(np.int16)
    plane[0, 0, :] = -32768
    plane[1, 1, :] = 32767
    plane[2, 2, ::2] = 32767
    plane[2, 2, 1::2] = -32768
    round_trip([plane], model, version=version)


def test_round_trip_all_zero_and_dense(model, version):
    zero = np.zeros((4, 4, 64), np.int16)
    dense = np.ones((4, 4, 64), np.int16) * np.int16(-1)
    round_trip([zero, dense, zero], model, version=version)


def test_round_trip_any_quantization(model, version):
    planes = [photo_like((6, 6), 1), photo_like((3, 3), 2)]
    quants = [np.arange(1, 65, dtype=np.uint16), np.full(64, 65535, np.uint16)]
    round_trip(planes, model, quants=quants, sampling=[(2, 2), (1, 1)], version=version)


def test_encoding_is_deterministic(model, version):
    planes = [photo_like((12, 12), 9)]
    first = encode_planes(planes, [QUANT], [(1, 1)], model)
    assert encode_planes(planes, [QUANT], [(1, 1)], model, threads=2) == first


def test_real_jpeg_coefficients_round_trip(tmp_path):
    from PIL import Image

    jpeglib = pytest.importorskip("jpeglib")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:75, 0:101]
    pixels = np.stack([128 + 80 * np.sin(x / 9.0), 100 + y, (x * y) % 256], axis=-1)
    pixels = np.clip(pixels + rng.normal(0, 8, pixels.shape), 0, 255).astype(np.uint8)
    path = tmp_path / "synthetic.jpg"
    Image.fromarray(pixels).save(path, quality=80, subsampling=2)
    jpeg = jpeglib.read_dct(str(path))
    comps = [jpeg.Y, jpeg.Cb, jpeg.Cr]
    planes = [c.reshape(c.shape[0], c.shape[1], 64).astype(np.int16) for c in comps]
    quants = [jpeg.qt[jpeg.quant_tbl_no[i]].reshape(64).astype(np.uint16) for i in range(3)]
    data = round_trip(planes, load_default_model(), quants=quants,
                      sampling=[(2, 2), (1, 1), (1, 1)])
    assert len(data) < path.stat().st_size


def _decode_or_container_error(data, planes, model):
    try:
        out = decode_planes(data, [p.shape[:2] for p in planes], [QUANT] * len(planes),
                            [(1, 1)] * len(planes), model)
    except ContainerError:
        return None
    assert [o.shape for o in out] == [p.shape for p in planes]
    return out


def test_corrupted_streams_raise_container_error_only(version):
    model = load_default_model()
    planes = [photo_like((10, 10), 11), photo_like((5, 5), 12)]
    data = encode_planes(planes, [QUANT] * 2, [(1, 1)] * 2, model)
    rng = np.random.default_rng(5)
    failures = 0
    for trial in range(60):
        damaged = bytearray(data)
        if trial % 3 == 0:
            damaged = damaged[: 1 + 4 * rng.integers(0, (len(data) - 1) // 4)]
        else:
            for _ in range(1 + trial % 4):
                damaged[rng.integers(1, len(damaged))] ^= 1 << rng.integers(0, 8)
        if _decode_or_container_error(bytes(damaged), planes, model) is None:
            failures += 1
    assert failures > 0


@pytest.mark.parametrize("data", [b"", b"\x01\x00", b"\x02" + bytes(8), b"\x01" + b"\xff" * 400,
                                  b"\x03", b"\x03" + bytes(3), b"\x04" + bytes(40),
                                  b"\x05\x02\x80", b"\x05\x01" + bytes(9)])
def test_malformed_streams(data):
    with pytest.raises(ContainerError):
        decode_planes(data, [(4, 4)], [QUANT], [(1, 1)], load_default_model())


@pytest.mark.parametrize("version", [2, 3])
def test_retired_versions_are_refused_by_name(version):
    with pytest.raises(ContainerError, match=f"version {version} was retired"):
        decode_planes(bytes([version]) + bytes(40), [(4, 4)], [QUANT], [(1, 1)],
                      load_default_model())


def test_a_part_table_that_does_not_fit_the_image_is_refused(monkeypatch):
    monkeypatch.setattr(parts, "SPLIT_FROM", 8)
    monkeypatch.setattr(parts, "PART_BLOCKS", 8)
    planes = [photo_like((8, 4), 0)]
    model = load_default_model()
    data = encode_planes(planes, [QUANT], [(1, 1)], model)
    assert data[0] == PARTS_VERSION and data[1] == 4
    for damaged in (data[:1] + b"\x03" + data[2:], data[:2] + b"\xff\xff\x7f" + data[5:]):
        with pytest.raises(ContainerError):
            decode_planes(damaged, [(8, 4)], [QUANT], [(1, 1)], model)


def test_garbage_never_decodes_past_its_bytes():
    """A part has no length field: random bytes must fail a commit or the byte count."""
    rng = np.random.default_rng(3)
    for size in (2, 9, 40, 300):
        data = bytes([STREAM_VERSION]) + rng.integers(0, 256, size, np.uint8).tobytes()
        with pytest.raises(ContainerError):
            decode_planes(data, [(6, 6)], [QUANT], [(1, 1)], load_default_model())


@pytest.mark.parametrize("extra", [1, 4, 64])
def test_trailing_data_is_rejected(version, extra):
    """Each part counts its bytes exactly (the last one up to the stream's end)."""
    planes = [photo_like((4, 4), 0)]
    model = load_default_model()
    data = encode_planes(planes, [QUANT], [(1, 1)], model)
    with pytest.raises(ContainerError):
        decode_planes(data + bytes(extra), [(4, 4)], [QUANT], [(1, 1)], model)


def test_decoding_into_planes_of_another_shape_is_refused():
    model = load_default_model()
    data = encode_planes([photo_like((4, 4), 1)], [QUANT], [(1, 1)], model)
    with pytest.raises(ValueError, match="int16"):
        decode_planes(data, [(4, 4)], [QUANT], [(1, 1)], model,
                      out=[np.zeros((4, 5, 64), np.int16)])


def test_bad_inputs_are_value_errors():
    model = load_default_model()
    with pytest.raises(ValueError):
        encode_planes([photo_like((2, 2), 0)], [np.zeros(64, np.uint16)], [(1, 1)], model)
    with pytest.raises(ValueError):
        encode_planes([np.zeros((2, 2, 63), np.int16)], [QUANT], [(1, 1)], model)
    with pytest.raises(ValueError):
        encode_planes([photo_like((2, 2), 0)] * 5, [QUANT] * 5, [(1, 1)] * 5, model)

