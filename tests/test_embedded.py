"""JPEGs embedded in a JPEG's header (EXIF thumbnails): coded by the model as nested .jrz
files, blanked in the header bytes, and written back exactly; damaged entries refused."""

from __future__ import annotations

import random

import pytest
from mutations import embedded_entry

from jpegzip import api, codec, container, embedded, header_dict
from jpegzip.errors import ContainerError, JpegzipError


@pytest.fixture
def photo(make_jpeg, with_thumbnail) -> bytes:
    return with_thumbnail(make_jpeg(width=96, height=64, seed=3),
                          make_jpeg(width=96, height=64, seed=4, quality=90))


def test_candidates_lie_inside_one_region_with_the_next_eois():
    header = b"\xff\xd8\xff\xe1xx\xff\xd8\xff\xdbAB\xff\xd9yy\xff\xd8\xff\xc4C\xff\xd9\xff\xd9"
    assert embedded.candidates(header, [(2, 25)]) == [(6, [14, 23, 25]), (16, [23, 25])]
    assert embedded.candidates(header, [(2, 22), (16, 25)]) == [(6, [14]), (16, [23, 25])]
    assert embedded.candidates(header, [(0, 6)]) == []
    assert embedded.candidates(b"\xff\xd8\xff\xe0\xff\xd8\xff\xdb no end", [(0, 20)]) == []
    many = b"\xff\xd8" + b"\xff\xd8\xff\xd9" * 9
    assert len(embedded.candidates(many, [(2, len(many))])) == embedded.MOST


def test_section_round_trips_and_damage_is_refused():
    entries = [(7, b"abc"), (40, b"")]
    section = embedded.pack(entries)
    assert embedded.unpack(section) == entries
    for damaged in (b"", bytes([embedded.MOST + 1]), section[:-1], section + b"x",
                    section[:5]):
        with pytest.raises(ContainerError, match="embedded section"):
            embedded.unpack(damaged)


def test_restore_writes_back_over_blanks_only():
    header = b"0123456789"
    blanked = embedded.blank(header, [(2, 4), (6, 9)])
    assert blanked == b"01\x00\x0045\x00\x00\x009"
    assert embedded.restore(blanked, [(2, b"23"), (6, b"678")]) == header
    for decoded in ([(1, b"23")], [(8, b"678")], [(6, b"678"), (2, b"23")]):
        with pytest.raises(ContainerError, match="embedded section"):
            embedded.restore(blanked, decoded)


def test_a_thumbnail_is_coded_by_the_model_and_comes_back_exactly(photo):
    sections = codec.encode_lossless(photo)
    assert embedded.SECTION in sections
    assert codec.decode_lossless(sections) == photo
    plain = codec.encode_lossless(photo, embedded_jpegs=False)
    assert embedded.SECTION not in plain
    assert sum(map(len, sections.values())) < sum(map(len, plain.values()))
    header = header_dict.header_bytes(sections, len(photo))
    plain_header = header_dict.header_bytes(plain, len(photo))
    (start, ends), = embedded.candidates(plain_header, codec._metadata_regions(plain_header))
    end = ends[0]
    assert not any(header[start:end])  # blanked where the thumbnail was
    packed = api.compress(photo)
    assert embedded.SECTION in container.read(packed).sections
    assert api.decompress(packed) == photo


def test_bytes_that_only_look_like_a_jpeg_stay_in_the_header(make_jpeg, with_thumbnail):
    fake = b"\xff\xd8\xff\xdb" + bytes(range(256)) * 8 + b"\xff\xd9"
    data = with_thumbnail(make_jpeg(seed=5), fake)
    sections = codec.encode_lossless(data)
    assert embedded.SECTION not in sections
    assert codec.decode_lossless(sections) == data


def test_nested_entries_are_checked_before_and_after_decoding(photo):
    sections = codec.encode_lossless(photo)
    (offset, nested), = embedded.unpack(sections[embedded.SECTION])
    inner = container.read(nested)

    def rebuilt(**changes) -> dict[str, bytes]:
        fields = {"mode": inner.mode, "model_id": inner.model_id,
                  "original_length": inner.original_length,
                  "original_sha256": inner.original_sha256, "sections": inner.sections}
        entry = container.write(container.Container(**(fields | changes)))
        return sections | {embedded.SECTION: embedded.pack([(offset, entry)])}

    with pytest.raises(ContainerError, match="outside the header"):
        codec.decode_lossless(rebuilt(original_length=10**7))
    with pytest.raises(ContainerError, match="known model"):
        codec.decode_lossless(rebuilt(model_id=bytes(32)))
    with pytest.raises(ContainerError, match="checksum"):
        codec.decode_lossless(rebuilt(original_sha256=bytes(32)))
    nested_twice = inner.sections | {embedded.SECTION: sections[embedded.SECTION]}
    with pytest.raises(ContainerError, match="inside an embedded JPEG"):
        codec.decode_lossless(rebuilt(sections=nested_twice))
    moved = sections | {embedded.SECTION: embedded.pack([(offset + 1, nested)])}
    with pytest.raises(ContainerError, match="embedded section"):
        codec.decode_lossless(moved)


def test_mutated_nested_entries_never_decode_to_other_bytes(photo):
    """The fuzzer's mutation of a nested .jrz (tests/mutations.py): every damaged entry is
    refused with a jpegzip error, never decoded into something else."""
    packed = api.compress(photo)
    changed = refused = 0
    for seed in range(40):
        damaged = embedded_entry(random.Random(seed), packed, [])
        assert damaged is not None
        if damaged == packed:  # e.g. sections reordered where there is only one
            continue
        changed += 1
        try:
            assert api.decompress(damaged) == photo
        except JpegzipError:
            refused += 1
    assert changed >= 30 and refused >= changed // 2


def test_a_second_image_after_eoi_is_coded_whole_with_its_own_thumbnail(
        make_jpeg, with_thumbnail):
    """An MPO's second image follows the first one's EOI and carries a thumbnail whose EOI
    comes first: the longer span, the whole second image, is the one taken."""
    second = with_thumbnail(make_jpeg(width=96, height=64, seed=6),
                            make_jpeg(width=96, height=64, seed=7, quality=90))
    data = make_jpeg(width=96, height=64, seed=5) + second
    sections = codec.encode_lossless(data)
    lengths = [container.read(nested).original_length
               for _, nested in embedded.unpack(sections[embedded.SECTION])]
    assert lengths == [len(second)]
    assert codec.decode_lossless(sections) == data
    assert api.decompress(api.compress(data)) == data
