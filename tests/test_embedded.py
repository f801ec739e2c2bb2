"""JPEGs embedded in a JPEG's header (EXIF thumbnails): coded by the model as the sections
of a lossless .jrz inside the parent's, blanked in the header bytes, and written back
exactly; damaged entries refused. Files of formats 2 to 5 (a nested .jrz per entry) still
decode (their golden file is in test_api.py)."""

from __future__ import annotations

import dataclasses
import random
import struct

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
    entries = [(7, 300, b"abc"), (400, 0, b"")]
    section = embedded.pack(entries)
    assert section == b"\x02" + b"\x07\xac\x02\x03abc" + b"\x90\x03\x00\x00"
    assert embedded.unpack(section) == entries
    for damaged in (b"", bytes([embedded.MOST + 1]), section[:-1], section + b"x",
                    section[:5]):
        with pytest.raises(ContainerError, match="embedded section"):
            embedded.unpack(damaged)


def test_legacy_section_round_trips_and_damage_is_refused():
    entries = [(7, b"abc"), (40, b"")]
    section = bytes([2]) + b"".join(struct.pack("<QQ", offset, len(nested)) + nested
                                    for offset, nested in entries)
    assert embedded.unpack_legacy(section) == entries
    for damaged in (b"", bytes([embedded.MOST + 1]), section[:-1], section + b"x",
                    section[:5]):
        with pytest.raises(ContainerError, match="embedded section"):
            embedded.unpack_legacy(damaged)


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


def test_an_entry_shares_its_parents_framing(photo):
    """No magic, model, digest or CRC of its own: a few bytes besides its sections."""
    sections = codec.encode_lossless(photo)
    (offset, length, packed), = embedded.unpack(sections[embedded.SECTION])
    inner = container.unpack_sections(packed)
    assert list(inner) == ["raw-d1", "scans", "coefficients"]
    framing = len(sections[embedded.SECTION]) - sum(map(len, inner.values()))
    assert framing <= 1 + 2 + 2 + 2 + 3 + 2 - 4  # count, offset, lengths, tags; no zstd magic


def test_entries_are_checked_before_and_after_decoding(photo):
    sections = codec.encode_lossless(photo)
    (offset, length, packed), = embedded.unpack(sections[embedded.SECTION])
    inner = container.unpack_sections(packed)

    def rebuilt(offset=offset, length=length, inner=inner) -> dict[str, bytes]:
        entry = (offset, length, container.pack_sections(inner))
        return sections | {embedded.SECTION: embedded.pack([entry])}

    with pytest.raises(ContainerError, match="outside the header"):
        codec.decode_lossless(rebuilt(length=10**7))
    with pytest.raises(ContainerError, match="its length"):
        codec.decode_lossless(rebuilt(length=length - 1))
    nested_twice = inner | {embedded.SECTION: sections[embedded.SECTION]}
    with pytest.raises(ContainerError, match="inside an embedded JPEG"):
        codec.decode_lossless(rebuilt(inner=nested_twice))
    with pytest.raises(ContainerError, match="embedded section"):
        codec.decode_lossless(rebuilt(offset=offset + 1))
    with pytest.raises(ContainerError, match="two embedded sections"):
        codec.decode_lossless(sections | {embedded.LEGACY_SECTION: b"\x00"})


def test_a_wrong_entry_is_caught_by_the_whole_files_digest(photo):
    """An entry that decodes to other bytes of the right length (here a thumbnail whose
    JFIF density differs) is refused by the original's digest before anything is written."""
    parsed = container.read(api.compress(photo))
    (offset, length, entry), = embedded.unpack(parsed.sections[embedded.SECTION])
    inner = container.unpack_sections(entry)
    header = bytearray(header_dict.header_bytes(inner, length))
    header[header.index(b"JFIF\x00") + 8] ^= 1
    inner["raw-d1"] = header_dict.compress(bytes(header))
    swapped = embedded.pack([(offset, length, container.pack_sections(inner))])
    damaged = dataclasses.replace(parsed, sections=parsed.sections | {embedded.SECTION: swapped})
    with pytest.raises(ContainerError, match="SHA-256 mismatch"):
        api.decompress(container.write(damaged))


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
    lengths = [length for _, length, _ in embedded.unpack(sections[embedded.SECTION])]
    assert lengths == [len(second)]
    assert codec.decode_lossless(sections) == data
    assert api.decompress(api.compress(data)) == data
