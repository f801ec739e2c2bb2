"""The header dictionary builder: marker segments, their order, the templates."""

from __future__ import annotations

from jpegzip import header_dict
from jpegzip.jpeg import read_jpeg
from jpegzip.training.fit_header_dict import build, segments


def test_segments_split_a_header_at_its_markers(jpeg_bytes):
    header = read_jpeg(jpeg_bytes).raw
    parts = list(segments(header))
    assert b"".join(parts) == header
    assert parts[0] == b"\xff\xd8" and parts[-1] == b"\xff\xd9"
    assert all(p[0] == 0xFF for p in parts) and any(p[1] == 0xC4 for p in parts)  # DHT


def test_segments_stop_at_bytes_that_are_not_a_marker():
    found = list(segments(b"\xff\xd8\xff\xfe\x00\x04ab junk"))
    assert found == [b"\xff\xd8", b"\xff\xfe\x00\x04ab"]


def test_build_puts_common_segments_last_and_templates_whole():
    rare, common = b"\xff\xfe\x00\x03r", b"\xff\xfe\x00\x03c"
    template = b"\xff\xd8" + common + b"\xff\xd9"
    data = build([rare + common, common], [template, template], longest=16)
    assert data == rare + common + template


def test_the_shipped_dictionary_is_the_pinned_one():
    assert len(header_dict._dictionary_bytes()) > 1000
