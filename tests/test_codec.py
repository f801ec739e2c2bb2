"""The model path end to end: every JPEG the JPEG layer takes must come back exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from jpegzip import codec
from jpegzip.errors import ContainerError, JpegzipError
from jpegzip.jpeg import read_jpeg

FIXTURES = Path(__file__).resolve().parent / "data" / "jpeg"
EDGE_CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "edge"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.jpg")), ids=lambda p: p.stem)
def test_fixture_round_trips_through_the_model(path):
    data = path.read_bytes()
    sections = codec.encode_lossless(data)
    assert set(sections) == {"raw", "scans", "coefficients"}
    assert codec.decode_lossless(sections) == data


def test_damaged_sections_raise_container_error():
    data = (FIXTURES / "restarts_444_dri5.jpg").read_bytes()
    sections = codec.encode_lossless(data)
    for name in sections:
        damaged = dict(sections)
        damaged[name] = sections[name][: len(sections[name]) // 2]
        with pytest.raises(ContainerError):
            codec.decode_lossless(damaged)
    with pytest.raises(ContainerError):
        codec.decode_lossless({"raw": sections["raw"]})


def test_every_edge_file_the_jpeg_layer_takes_goes_through_the_model():
    if not EDGE_CORPUS.is_dir():
        pytest.skip("shared corpus not present")
    taken = 0
    for path in sorted(p for p in EDGE_CORPUS.rglob("*") if p.is_file()):
        data = path.read_bytes()
        try:
            read_jpeg(data)
        except JpegzipError:
            continue
        assert codec.decode_lossless(codec.encode_lossless(data)) == data, path
        taken += 1
    assert taken >= 165
