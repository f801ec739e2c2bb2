"""The model path end to end: every JPEG the JPEG layer takes must come back exactly."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import zstandard

from jpegzip import codec, header_dict
from jpegzip.errors import ContainerError, JpegzipError
from jpegzip.jpeg import read_jpeg

FIXTURES = Path(__file__).resolve().parent / "data" / "jpeg"
EDGE_CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "edge"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.jpg")), ids=lambda p: p.stem)
def test_fixture_round_trips_through_the_model(path):
    data = path.read_bytes()
    sections = codec.encode_lossless(data)
    assert {"raw-d1", "scans", "coefficients"} <= set(sections)  # embedded JPEGs: a section more
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
        codec.decode_lossless({"raw-d1": sections["raw-d1"]})


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


def test_header_section_uses_the_dictionary_and_legacy_raw_still_decodes():
    data = (FIXTURES / "restarts_444_dri5.jpg").read_bytes()
    sections = codec.encode_lossless(data)
    header = header_dict.header_bytes(sections, len(data))
    assert data.startswith(header[:2]) and len(sections["raw-d1"]) < len(zstandard.compress(header))
    legacy = {"raw": zstandard.compress(header)} | {k: v for k, v in sections.items()
                                                     if k != "raw-d1"}
    assert codec.decode_lossless(legacy) == data  # .jrz files written before the dictionary
    with pytest.raises(ContainerError, match="two header sections"):
        codec.decode_lossless(sections | {"raw": legacy["raw"]})


def test_a_libjpeg_header_codes_in_a_few_dozen_bytes(make_jpeg):
    data = make_jpeg(width=64, height=48)  # Pillow: IJG tables, standard Huffman tables
    header = read_jpeg(data).raw
    packed = header_dict.compress(header)
    assert len(header) > 500 and len(packed) < 80
    assert header_dict.header_bytes({"raw-d1": packed}, len(header)) == header


def test_a_changed_dictionary_is_refused(monkeypatch):
    monkeypatch.setattr(header_dict, "DICTIONARY_SHA256", "0" * 64)
    header_dict._dictionary_bytes.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="not the dictionary"):
            header_dict.decompress(zstandard.compress(b"\xff\xd8"), 2, "raw section")
    finally:
        monkeypatch.undo()
        header_dict._dictionary_bytes.cache_clear()


def test_a_progressive_file_without_its_refinements_codes_without_their_zero_bits(monkeypatch):
    """The low bits that no scan codes are known zeros: the model does not code them. A file
    written before layout 2 (side information layout 1, those bits coded) still decodes."""
    from PIL import Image

    from jpegzip.jpeg.markers import known_zero_bits

    pixels = (np.arange(96 * 64 * 3) * 7919 % 251).reshape(64, 96, 3).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90, progressive=True)
    whole = buffer.getvalue()
    record = read_jpeg(whole)
    first_refinement = next(i for i, scan in enumerate(record.layout.scans) if scan.ah)
    lengths = [info.entropy_coded_length for info in record.side[:first_refinement]]
    data = whole[: record.layout.scans[first_refinement - 1].offset + sum(lengths)]
    assert known_zero_bits(read_jpeg(data).layout).any()
    sections = codec.encode_lossless(data)
    assert codec.decode_lossless(sections) == data
    monkeypatch.setattr(codec, "known_zero_bits", lambda layout: 0 * known_zero_bits(layout))
    before_layout_2 = codec.encode_lossless(data)
    monkeypatch.undo()
    assert codec.decode_lossless(before_layout_2) == data
    assert len(sections["coefficients"]) < len(before_layout_2["coefficients"])
