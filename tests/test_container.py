"""The .jrz layout: round trips, every failed check, and the golden files of format 1."""

from __future__ import annotations

import struct
import zlib

import pytest

from jpegzip import container
from jpegzip.container import Container, Mode
from jpegzip.errors import ContainerError

SECTIONS = {
    "header": b"\xff\xd8\xff\xe0 raw header bytes",
    "empty": b"",
    "scan.0": bytes(range(256)),
}
# Offsets from docs/FORMAT.md.
VERSION_OFFSET = 4
MODE_OFFSET = 6
SECTION_COUNT_OFFSET = 79


def sample(mode: Mode = Mode.LOSSLESS, sections: dict[str, bytes] | None = None) -> Container:
    original = b"\xff\xd8 the original bytes \xff\xd9"
    return Container(
        mode=mode,
        model_id=bytes(range(32)),
        original_length=len(original),
        original_sha256=container.sha256(original),
        sections=SECTIONS if sections is None else sections,
    )


def reseal(data: bytes) -> bytes:
    """Recompute the CRC so that a deliberate edit reaches the check behind it."""
    body = data[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def patch(data: bytes, offset: int, replacement: bytes) -> bytes:
    return data[:offset] + replacement + data[offset + len(replacement) :]


@pytest.mark.parametrize("mode", list(Mode))
def test_round_trip_keeps_every_field_and_section_order(mode):
    original = sample(mode)
    packed = container.write(original)
    assert packed.startswith(container.MAGIC)
    parsed = container.read(packed)
    assert parsed == original
    assert list(parsed.sections) == list(SECTIONS)
    assert container.write(parsed) == packed


def test_no_sections_round_trip():
    assert container.read(container.write(sample(sections={}))).sections == {}


def test_layout_offsets_match_the_documented_ones():
    packed = container.write(sample(Mode.STORED, sections={"zstd": b"abc"}))
    assert struct.unpack_from("<H", packed, VERSION_OFFSET)[0] == 1
    assert packed[MODE_OFFSET] == 3
    assert struct.unpack_from("<H", packed, SECTION_COUNT_OFFSET)[0] == 1
    assert packed[SECTION_COUNT_OFFSET + 2 :][:5] == b"\x04zstd"
    assert len(packed) == 81 + 1 + 4 + 8 + 3 + 4


@pytest.mark.parametrize("data", [b"", b"\x89J", b"\x89JRZ\x01"])
def test_too_short_is_truncated(data):
    with pytest.raises(ContainerError, match="truncated"):
        container.read(data)


@pytest.mark.parametrize(
    "data", [b"\xff\xd8\xff\xe0" + bytes(100), b"\x89PNG\r\n\x1a\n" + bytes(100), b"hello"]
)
def test_other_files_have_bad_magic(data):
    with pytest.raises(ContainerError, match="bad magic"):
        container.read(data)


def test_every_truncation_is_reported_as_truncated():
    packed = container.write(sample())
    for length in range(len(packed)):
        with pytest.raises(ContainerError, match="truncated"):
            container.read(packed[:length])


@pytest.mark.parametrize("flip", [0x01, 0x80, 0xFF])
def test_any_flipped_byte_is_caught(flip):
    packed = container.write(sample())
    for offset in range(len(packed)):
        damaged = patch(packed, offset, bytes([packed[offset] ^ flip]))
        with pytest.raises(ContainerError):
            container.read(damaged)


def test_flipped_payload_byte_is_a_checksum_mismatch():
    packed = container.write(sample())
    damaged = patch(packed, len(packed) - 10, bytes([packed[-10] ^ 0x40]))
    with pytest.raises(ContainerError, match="checksum mismatch"):
        container.read(damaged)


def test_appended_bytes_are_caught():
    with pytest.raises(ContainerError, match="checksum mismatch"):
        container.read(container.write(sample()) + b"\x00")


def test_newer_format_version_is_refused_by_name():
    future = patch(container.write(sample()), VERSION_OFFSET,
                   struct.pack("<H", container.FORMAT_VERSION + 1))
    newer = container.FORMAT_VERSION + 1
    with pytest.raises(ContainerError, match=f"format version {newer} is newer than this jpegzip"):
        container.read(reseal(future))


def test_a_file_takes_the_oldest_version_its_sections_allow():
    """Version 2 added the ``embedded`` section, version 3 the adaptive coefficient stream
    (a ``coefficients`` section starting with byte 3), version 4 its sign contexts (byte
    4), version 5 a stream in parts (byte 5): a file is only as new as what it holds, so
    jpegzip releases that read older versions still read every other file."""
    def version(**sections):
        packed = container.write(sample(sections=sections))
        assert container.read(packed).sections == sections
        return struct.unpack_from("<H", packed, VERSION_OFFSET)[0]

    assert version(**{"raw-d1": b"a", "coefficients": b"\x02b"}) == 1
    assert version(**{"raw-d1": b"a", "embedded": b"\x00"}) == 2
    assert version(**{"raw-d1": b"a", "coefficients": b"\x03b"}) == 3
    assert version(**{"embedded": b"\x00", "coefficients": b"\x03"}) == 3
    assert version(**{"raw-d1": b"a", "coefficients": b"\x04b"}) == 4
    assert version(**{"raw-d1": b"a", "coefficients": b"\x05b"}) == 5 == container.FORMAT_VERSION
    assert version(**{"raw-d1": b"\x03", "coefficients": b""}) == 1


def test_format_version_zero_is_unknown():
    zero = patch(container.write(sample()), VERSION_OFFSET, struct.pack("<H", 0))
    with pytest.raises(ContainerError, match="unknown format version 0"):
        container.read(reseal(zero))


@pytest.mark.parametrize("mode_byte", [0, 4, 255])
def test_unknown_mode_is_refused(mode_byte):
    packed = patch(container.write(sample()), MODE_OFFSET, bytes([mode_byte]))
    with pytest.raises(ContainerError, match=f"unknown mode {mode_byte}"):
        container.read(reseal(packed))


def test_huge_section_length_is_truncated_without_allocating():
    packed = container.write(sample(sections={"a": b"xyz"}))
    length_offset = SECTION_COUNT_OFFSET + 2 + 1 + 1
    huge = patch(packed, length_offset, struct.pack("<Q", 2**63))
    with pytest.raises(ContainerError, match="truncated"):
        container.read(reseal(huge))


def test_short_section_length_leaves_unexpected_bytes():
    packed = container.write(sample(sections={"a": b"xyz"}))
    length_offset = SECTION_COUNT_OFFSET + 2 + 1 + 1
    short = patch(packed, length_offset, struct.pack("<Q", 2))
    with pytest.raises(ContainerError, match="section length"):
        container.read(reseal(short))


def test_more_sections_claimed_than_present_is_truncated():
    packed = container.write(sample(sections={"a": b"xyz"}))
    more = patch(packed, SECTION_COUNT_OFFSET, struct.pack("<H", 2))
    with pytest.raises(ContainerError, match="truncated"):
        container.read(reseal(more))


def test_repeated_section_name_is_refused():
    packed = container.write(sample(sections={"a": b"1", "b": b"2"}))
    renamed = packed.replace(b"\x01b", b"\x01a")
    with pytest.raises(ContainerError, match="repeated name"):
        container.read(reseal(renamed))


def test_non_ascii_section_name_is_refused():
    packed = container.write(sample(sections={"a": b"1"}))
    renamed = packed.replace(b"\x01a", b"\x01\xe9")
    with pytest.raises(ContainerError, match="not ASCII"):
        container.read(reseal(renamed))


@pytest.mark.parametrize(
    "field, value",
    [
        ("model_id", bytes(31)),
        ("original_sha256", b"short"),
        ("original_length", -1),
        ("sections", {"": b""}),
        ("sections", {"é": b""}),
        ("sections", {"x" * 256: b""}),
    ],
)
def test_writer_refuses_values_the_format_cannot_hold(field, value):
    fields = vars(sample()) | {field: value}
    with pytest.raises(ValueError):
        container.write(Container(**fields))


def test_stored_payload_round_trip():
    original = b"\xff\xd8" + bytes(range(256)) * 40
    sections = container.pack_stored(original)
    assert list(sections) == [container.STORED_SECTION]
    assert container.unpack_stored(sections, len(original)) == original


def test_stored_payload_never_decodes_past_the_claimed_length():
    original = bytes(100_000)
    sections = container.pack_stored(original)
    assert len(container.unpack_stored(sections, 10)) == 11


@pytest.mark.parametrize(
    "sections", [{}, {"zstd": b"", "extra": b""}, {"xz": b""}, {"zstd": b"not a zstd frame"}]
)
def test_bad_stored_payload_is_a_container_error(sections):
    with pytest.raises(ContainerError, match="stored payload"):
        container.unpack_stored(sections, 10)
