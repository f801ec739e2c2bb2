"""The .jrz layout: round trips, every failed check, the lean format 6 and the parser of
formats 1 to 5 (their golden files are decoded in test_api.py)."""

from __future__ import annotations

import dataclasses
import struct
import zlib

import pytest
import zstandard

from jpegzip import container, varint
from jpegzip.container import Container, Mode
from jpegzip.errors import ContainerError, ModelNotAvailable
from jpegzip.model import shipped_names

SECTIONS = {
    "raw-d1": zstandard.ZstdCompressor().compress(b"\xff\xd8\xff\xe0 raw header bytes"),
    "empty": b"",
    "scans": bytes(21),
    "coefficients": bytes(range(256)),
}
VERSION_OFFSET = 4
KIND_OFFSET = 6  # docs/FORMAT.md
MODEL_OFFSET = 7


def sample(mode: Mode = Mode.LOSSLESS, sections: dict[str, bytes] | None = None,
           **changes) -> Container:
    original = b"\xff\xd8 the original bytes \xff\xd9"
    fields = {
        "mode": mode,
        "model_id": container.MODEL_IDS[1] if mode is not Mode.STORED else bytes(32),
        "original_length": len(original),
        "original_sha256": container.sha256(original),
        "sections": SECTIONS if sections is None else sections,
    }
    return Container(**(fields | changes))


def as_read(written: Container) -> Container:
    """What reading a container gives back: the digest's first bytes only."""
    return dataclasses.replace(
        written, original_sha256=written.original_sha256[: container.DIGEST_LENGTH])


def legacy(written: Container, version: int = 5) -> bytes:
    """A container in the layout of formats 1 to 5, as docs/FORMAT.md describes it."""
    parts = [container.MAGIC, struct.pack("<HB", version, {"lossless": 1, "lossy": 2,
                                                            "stored": 3}[written.mode.value]),
             written.model_id, struct.pack("<Q", written.original_length),
             written.original_sha256, struct.pack("<H", len(written.sections))]
    for name, payload in written.sections.items():
        parts += [bytes([len(name)]), name.encode(), struct.pack("<Q", len(payload)), payload]
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


def reseal(data: bytes) -> bytes:
    """Recompute the CRC so that a deliberate edit reaches the check behind it."""
    body = data[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def patch(data: bytes, offset: int, replacement: bytes) -> bytes:
    return data[:offset] + replacement + data[offset + len(replacement) :]


@pytest.mark.parametrize("mode", list(Mode))
def test_round_trip_keeps_every_field_and_section_order(mode):
    original = sample(mode, suffix=".JPEG")
    packed = container.write(original)
    assert packed.startswith(container.MAGIC)
    parsed = container.read(packed)
    assert parsed == as_read(original)
    assert list(parsed.sections) == list(SECTIONS)
    assert container.write(parsed) == packed


def test_no_sections_round_trip():
    assert container.read(container.write(sample(sections={}))).sections == {}


def test_a_documented_stored_file_reads():
    """The stored example of docs/FORMAT.md, byte by byte."""
    frame = zstandard.ZstdCompressor().compress(b"\xff\xd8ok")
    digest = container.sha256(b"\xff\xd8ok")[:8]
    body = (b"\x89JRZ\x06\x00" + b"\x07" + b"\x04" + digest + b"\x05.jpeg"
            + bytes([0x80 | 0x40 | 6]) + frame[4:])
    parsed = container.read(reseal(body + bytes(4)))
    assert (parsed.mode, parsed.original_length, parsed.suffix) == (Mode.STORED, 4, ".jpeg")
    assert container.unpack_stored(parsed.sections, 4) == b"\xff\xd8ok"


def test_framing_of_a_plain_lossless_file_is_a_few_dozen_bytes():
    """Preamble 6, kind 1, model 1, length 3, digest 8, CRC 4, a tag per section and the
    length of all but the last; a zstd frame's magic number is not stored."""
    sections = {"raw-d1": b"\x28\xb5\x2f\xfd" + bytes(20), "scans": bytes(21),
                "coefficients": bytes(70_000)}
    packed = container.write(sample(sections=sections, original_length=90_000))
    assert len(packed) - sum(map(len, sections.values())) == 6 + 1 + 1 + 3 + 8 + 3 + 2 + 4 - 4


def test_models_are_referenced_by_index_or_by_their_whole_id():
    for index, model_id in enumerate(container.MODEL_IDS):
        packed = container.write(sample(model_id=model_id))
        assert packed[MODEL_OFFSET] == index
        assert container.read(packed).model_id == model_id
    other = bytes(range(32))
    packed = container.write(sample(model_id=other))
    assert packed[MODEL_OFFSET] == 0xFF and container.read(packed).model_id == other


def test_the_model_table_lists_every_shipped_model():
    """An index is part of the format: shipped weights are listed, and never move."""
    assert set(shipped_names()) <= set(container.MODEL_IDS)
    assert len(set(container.MODEL_IDS)) == len(container.MODEL_IDS)


def test_a_model_index_this_jpegzip_lacks_is_model_not_available():
    packed = patch(container.write(sample()), MODEL_OFFSET, bytes([len(container.MODEL_IDS)]))
    with pytest.raises(ModelNotAvailable, match="coded with model #2"):
        container.read(reseal(packed))


@pytest.mark.parametrize("suffix", ["", ".jpeg", ".JPG", ".jpé", ".x" * 1 + "y" * 30])
def test_suffixes_round_trip_and_are_read_from_the_head(suffix):
    packed = container.write(sample(suffix=suffix))
    assert container.read(packed).suffix == suffix
    assert container.read_suffix(packed[: container.SUFFIX_HEAD]) == suffix


@pytest.mark.parametrize("suffix", [".", "jpg", ".a.b", "./x", ".a/b", ".a\\b", ".a\0",
                                    ".\n", "." + "y" * 32])
def test_suffixes_that_could_leave_the_folder_are_refused(suffix):
    assert not container.valid_suffix(suffix)
    with pytest.raises(ValueError):
        container.write(sample(suffix=suffix))
    raw = suffix.encode()
    forged = container.write(sample(suffix=".x")).replace(b"\x02.x", bytes([len(raw)]) + raw)
    with pytest.raises(ContainerError, match="suffix"):
        container.read(reseal(forged))


def test_read_suffix_reads_past_a_whole_model_id_and_not_an_unknown_index():
    packed = container.write(sample(model_id=bytes(range(32)), suffix=".jpeg"))
    assert container.read_suffix(packed[: container.SUFFIX_HEAD]) == ".jpeg"
    unknown = patch(packed, MODEL_OFFSET, bytes([len(container.MODEL_IDS)]))
    assert container.read_suffix(unknown) is None


def test_read_suffix_is_none_without_one():
    assert container.read_suffix(container.write(sample())) is None
    assert container.read_suffix(legacy(sample())) is None
    assert container.read_suffix(b"\x89JRZ\x06") is None
    assert container.read_suffix(b"not a jrz") is None


def test_digest_matches_a_whole_sha256_or_its_prefix():
    data = b"some bytes"
    digest = container.sha256(data)
    assert container.digest_matches(digest, data)
    assert container.digest_matches(digest[: container.DIGEST_LENGTH], data)
    assert not container.digest_matches(digest[:4], data)  # too short to mean anything
    assert not container.digest_matches(bytes(32), data)


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


@pytest.mark.parametrize("layout", [container.write, legacy])
def test_every_truncation_is_caught(layout):
    packed = layout(sample())
    for length in range(len(packed)):
        with pytest.raises(ContainerError, match="truncated|checksum mismatch"):
            container.read(packed[:length])


def test_a_cut_section_table_is_reported_as_truncated():
    packed = container.write(sample())
    with pytest.raises(ContainerError, match="truncated"):
        container.read(reseal(packed[:40] + bytes(4)))


@pytest.mark.parametrize("layout", [container.write, legacy])
@pytest.mark.parametrize("flip", [0x01, 0x80, 0xFF])
def test_any_flipped_byte_is_caught(layout, flip):
    packed = layout(sample())
    for offset in range(len(packed)):
        damaged = patch(packed, offset, bytes([packed[offset] ^ flip]))
        with pytest.raises(ContainerError):
            container.read(damaged)


@pytest.mark.parametrize("layout", [container.write, legacy])
def test_flipped_payload_byte_is_a_checksum_mismatch(layout):
    packed = layout(sample())
    damaged = patch(packed, len(packed) - 10, bytes([packed[-10] ^ 0x40]))
    with pytest.raises(ContainerError, match="checksum mismatch"):
        container.read(damaged)


@pytest.mark.parametrize("layout", [container.write, legacy])
def test_appended_bytes_are_caught(layout):
    with pytest.raises(ContainerError, match="checksum mismatch"):
        container.read(layout(sample()) + b"\x00")


def test_newer_format_version_is_refused_by_name():
    future = patch(container.write(sample()), VERSION_OFFSET,
                   struct.pack("<H", container.FORMAT_VERSION + 1))
    newer = container.FORMAT_VERSION + 1
    with pytest.raises(ContainerError, match=f"format version {newer} is newer than this jpegzip"):
        container.read(reseal(future))


def test_format_version_zero_is_unknown():
    zero = patch(container.write(sample()), VERSION_OFFSET, struct.pack("<H", 0))
    with pytest.raises(ContainerError, match="unknown format version 0"):
        container.read(reseal(zero))


@pytest.mark.parametrize("kind", [0, 4, 8, 0x43, 0xFF])
def test_unknown_mode_or_flags_are_refused(kind):
    packed = patch(container.write(sample()), KIND_OFFSET, bytes([kind]))
    with pytest.raises(ContainerError, match="unknown mode"):
        container.read(reseal(packed))


def test_huge_section_length_is_truncated_without_allocating():
    packed = container.write(sample(sections={"scans": b"xyz", "coefficients": b""}))
    huge = packed.replace(b"\x02\x03xyz", b"\x02" + varint.encode(2**62) + b"xyz")
    with pytest.raises(ContainerError, match="truncated"):
        container.read(reseal(huge))


def test_a_varint_of_too_many_bytes_is_refused():
    packed = container.write(sample(sections={"scans": b"xyz", "coefficients": b""}))
    long = packed.replace(b"\x02\x03xyz", b"\x02" + b"\x80" * 12 + b"\x03xyz")
    with pytest.raises(ContainerError, match="varint"):
        container.read(reseal(long))


def test_a_last_section_not_marked_last_is_truncated():
    packed = container.write(sample(sections={"scans": b"xyz"}))
    unmarked = packed.replace(bytes([0x80 | 2]) + b"xyz", b"\x02\x03xyz")
    with pytest.raises(ContainerError, match="not marked last"):
        container.read(reseal(unmarked))


@pytest.mark.parametrize("tag", [2, 7, 0x3F])
def test_repeated_or_unknown_section_ids_are_refused(tag):
    packed = container.write(sample(sections={"scans": b"1", "coefficients": b"2"}))
    changed = packed.replace(bytes([0x80 | 3]) + b"2", bytes([0x80 | tag]) + b"2")
    with pytest.raises(ContainerError, match="repeated|unknown id"):
        container.read(reseal(changed))


def test_other_sections_are_written_by_name():
    packed = container.write(sample(sections={"key": b"1", "scans": b"2"}))
    assert b"\x03key" in packed
    assert container.read(packed).sections == {"key": b"1", "scans": b"2"}
    for forged in (b"\x05scans", b"\x03k\xe9y", b"\x00"):
        with pytest.raises(ContainerError, match="name"):
            container.read(reseal(packed.replace(b"\x03key\x01", forged + b"\x01")))


@pytest.mark.parametrize(
    "field, value",
    [
        ("model_id", bytes(31)),
        ("original_sha256", b"short"),
        ("original_length", -1),
        ("original_length", 1 << 63),
        ("sections", {"": b""}),
        ("sections", {"é": b""}),
        ("sections", {"x" * 256: b""}),
    ],
)
def test_writer_refuses_values_the_format_cannot_hold(field, value):
    with pytest.raises(ValueError):
        container.write(dataclasses.replace(sample(), **{field: value}))


def test_legacy_layout_still_reads_every_field():
    written = sample()
    for version in range(1, 6):
        parsed = container.read(legacy(written, version))
        assert parsed == written  # the whole SHA-256, and no suffix


def test_legacy_repeated_or_non_ascii_section_names_are_refused():
    packed = legacy(sample(sections={"a": b"1", "b": b"2"}))
    with pytest.raises(ContainerError, match="repeated name"):
        container.read(reseal(packed.replace(b"\x01b", b"\x01a")))
    with pytest.raises(ContainerError, match="not ASCII"):
        container.read(reseal(packed.replace(b"\x01a", b"\x01\xe9")))


def test_legacy_short_section_length_leaves_unexpected_bytes():
    packed = legacy(sample(sections={"a": b"xyz"}))
    short = packed.replace(b"\x01a" + struct.pack("<Q", 3), b"\x01a" + struct.pack("<Q", 2))
    with pytest.raises(ContainerError, match="section length"):
        container.read(reseal(short))


def test_small_data_takes_its_smallest_form():
    """Side information: mostly zeros (sparse), dense (plain), or long (zstd)."""
    side = bytes.fromhex("01000000da6601000100000000000000000000001f")
    sparse = container.pack_small(side)
    assert sparse == b"\x01\x15" + bytes([0b01110001, 0b00000001, 0b00010000]) + \
        bytes.fromhex("01da6601011f")
    dense = bytes(range(1, 30))
    repetitive = bytes(range(256)) * 20
    for data, form, most in [(side, 1, 11), (dense, 0, 30), (repetitive, 0x28, 400), (b"", 0, 1)]:
        packed = container.pack_small(data)
        assert packed[0] == form and len(packed) <= most
        assert container.unpack_small(packed, len(data), "scans") == data


@pytest.mark.parametrize("damaged, message", [
    (b"", "unknown form"), (b"\x02abc", "unknown form"), (b"\x00" + bytes(11), "more than"),
    (b"\x01\x09\x71", "truncated"), (b"\x01\x80\x80\x80\x80\x01", "more than"),
    (b"\x01\x02\x01\x05\x06", "bytes after"),
])
def test_damaged_small_data_is_refused(damaged, message):
    with pytest.raises(ContainerError, match=message):
        container.unpack_small(damaged, 10, "scans")


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
