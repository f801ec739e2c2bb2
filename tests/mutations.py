"""Mutations for the fuzzer (tests/fuzzing.py): byte-level ones for any file, marker-aware
ones for JPEGs, and container-aware ones for .jrz files that re-write the CRC (and re-pack
zstd sections) so that a mutation reaches the decoders behind the checksum.

Every mutation takes (rng, data, donors) and returns new bytes, or None where it does not
apply (the caller then flips bits instead). Reads and writes .jrz files with
``jpegzip.container`` (format 6, docs/FORMAT.md) and uses only ``random.Random``, so a case
is fully defined by its seed.
"""

from __future__ import annotations

import dataclasses
import random
import struct
import zlib
from collections.abc import Callable

import zstandard

from jpegzip import container, embedded, header_dict
from jpegzip.errors import ContainerError, JpegzipError

Mutation = Callable[[random.Random, bytes, list[bytes]], "bytes | None"]

_U16 = (0, 1, 2, 7, 8, 9, 255, 256, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF, 11000, 16384)
_U32 = (0, 1, 2, 3, 4, 16, 255, 0x7FFF, 0x8000, 0xFFFF, 1 << 16, 1 << 24, 0x7FFFFFFF, 0xFFFFFFFF)
_I32 = (-(1 << 31), -1, 0, 1, 2, 3, 4, 5, 64, 100_000, (1 << 31) - 1)
_U64 = (0, 1, 85, 1 << 20, (1 << 28) + 1, 1 << 31, 1 << 32, (1 << 63) - 1, (1 << 64) - 1)
_BYTES = (0x00, 0x01, 0x0F, 0x10, 0x11, 0x22, 0x3F, 0x7F, 0x80, 0xC0, 0xD9, 0xDA, 0xFE, 0xFF)
_MARKERS = (0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC9, 0xCC, 0xD0, 0xD7, 0xD8, 0xD9, 0xDA, 0xDB,
            0xDC, 0xDD, 0xDE, 0xE0, 0xE1, 0xEE, 0xFE, 0x00, 0xFF)  # fmt: skip
_KIND_OFFSET, _MODEL_OFFSET = 6, 7  # format 6 (docs/FORMAT.md)


# --- any bytes -----------------------------------------------------------------------------


def _position(rng: random.Random, data: bytes) -> int:
    """A position, half the time within the first 2 KiB (where the headers are)."""
    span = min(len(data), 2048) if rng.random() < 0.5 else len(data)
    return rng.randrange(max(span, 1))


def flip_bits(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    if not data:
        return None
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[_position(rng, data)] ^= 1 << rng.randrange(8)
    return bytes(out)


def set_bytes(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    if not data:
        return None
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[_position(rng, data)] = rng.choice(_BYTES) if rng.random() < 0.7 else rng.randrange(256)
    return bytes(out)


def truncate(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    return data[: rng.randrange(len(data))] if data else None


def insert_bytes(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    at = _position(rng, data) if data else 0
    noise = bytes(rng.choice(_BYTES) for _ in range(rng.randint(1, 32)))
    return data[:at] + noise + data[at:]


def delete_range(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    if len(data) < 2:
        return None
    start = _position(rng, data)
    return data[:start] + data[start + rng.randint(1, min(256, len(data) - start)) :]


def duplicate_range(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    if len(data) < 2:
        return None
    start = _position(rng, data)
    chunk = data[start : start + rng.randint(1, 512)]
    at = _position(rng, data)
    return data[:at] + chunk + data[at:]


def splice(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    donor = rng.choice(donors) if donors else data
    if not data or not donor:
        return None
    return data[: rng.randrange(len(data))] + donor[rng.randrange(len(donor)) :]


BYTE_MUTATIONS: tuple[Mutation, ...] = (
    flip_bits, set_bytes, truncate, insert_bytes, delete_range, duplicate_range, splice,
)  # fmt: skip


# --- JPEG marker segments ------------------------------------------------------------------


def segments(data: bytes) -> list[tuple[int, int, int]]:
    """(start, end, marker) of each marker segment after SOI; an SOS runs to the next marker
    that is not RSTn, so it carries its entropy-coded data."""
    found, pos = [], 2
    while pos + 1 < len(data):
        if data[pos] != 0xFF:
            pos = data.find(b"\xff", pos)
            if pos < 0:
                break
            continue
        marker = data[pos + 1]
        if marker in (0xFF, 0x00, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 1 if marker == 0xFF else 2
            continue
        if marker == 0xD9 or pos + 4 > len(data):
            found.append((pos, pos + 2, marker))
            break
        end = min(pos + 2 + struct.unpack_from(">H", data, pos + 2)[0], len(data))
        if marker == 0xDA:
            while end + 1 < len(data) and not (
                data[end] == 0xFF and data[end + 1] not in (0x00, *range(0xD0, 0xD8))
            ):
                end += 1
        found.append((pos, max(end, pos + 2), marker))
        pos = max(end, pos + 2)
    return found


def _pick(rng: random.Random, data: bytes, markers: tuple[int, ...] = ()) -> tuple | None:
    choices = [s for s in segments(data) if not markers or s[2] in markers]
    return rng.choice(choices) if choices else None


def segment_length(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    found = _pick(rng, data)
    if found is None or found[1] - found[0] < 4:
        return None
    start, end, _ = found
    length = struct.unpack_from(">H", data, start + 2)[0]
    value = rng.choice((*_U16, length - 1, length + 1, length + rng.randint(2, 64)))
    return data[: start + 2] + struct.pack(">H", value % 0x10000) + data[start + 4 :]


def remove_segment(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    found = _pick(rng, data)
    return None if found is None else data[: found[0]] + data[found[1] :]


def duplicate_segment(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    found = _pick(rng, data)
    if found is None:
        return None
    chunk = data[found[0] : found[1]]
    at = rng.choice([s[0] for s in segments(data)] + [found[1]])
    return data[:at] + chunk + data[at:]


def move_segment(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    found = _pick(rng, data)
    if found is None:
        return None
    rest = data[: found[0]] + data[found[1] :]
    at = rng.choice([s[0] for s in segments(rest)] + [2])
    return rest[:at] + data[found[0] : found[1]] + rest[at:]


def segment_field(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    """A header field the decoder sizes things by: frame size, component count, sampling,
    table slots, spectral band, restart interval, Huffman counts, quantizer precision."""
    found = _pick(rng, data, (0xC0, 0xC1, 0xC2, 0xC4, 0xDA, 0xDB, 0xDD))
    if found is None or found[1] - found[0] < 6:
        return None
    start, end, marker = found
    out = bytearray(data)
    if marker in (0xC0, 0xC1, 0xC2) and rng.random() < 0.6 and end - start >= 9:
        offset = start + rng.choice((5, 7))  # height, width
        out[offset : offset + 2] = struct.pack(">H", rng.choice(_U16))
    elif marker == 0xDD:
        out[start + 4 : start + 6] = struct.pack(">H", rng.choice(_U16))
    else:
        out[rng.randrange(start + 4, min(end, start + 24))] = rng.choice(_BYTES)
    return bytes(out)


def change_marker(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    found = _pick(rng, data)
    if found is None:
        return None
    return data[: found[0] + 1] + bytes([rng.choice(_MARKERS)]) + data[found[0] + 2 :]


def insert_marker(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    at = _position(rng, data) if data else 0
    return data[:at] + bytes([0xFF, rng.choice(_MARKERS)]) + data[at:]


JPEG_MUTATIONS: tuple[Mutation, ...] = (
    segment_length, remove_segment, duplicate_segment, move_segment, segment_field,
    segment_field, change_marker, insert_marker,
)  # fmt: skip


# --- .jrz containers -----------------------------------------------------------------------


def _parsed(data: bytes) -> container.Container | None:
    """A well-formed container (None if it is not one)."""
    try:
        return container.read(data)
    except JpegzipError:
        return None


def _sections(data: bytes) -> dict[str, bytes] | None:
    """The sections of a well-formed container (None if it is not one)."""
    parsed = _parsed(data)
    return None if parsed is None else dict(parsed.sections)


def _pack(data: bytes, sections: dict[str, bytes], **changes) -> bytes:
    """The well-formed container ``data`` with other sections (and header fields)."""
    parsed = _parsed(data)
    assert parsed is not None
    try:
        return container.write(dataclasses.replace(parsed, sections=sections, **changes))
    except ValueError:  # a value the format cannot hold: keep the bytes
        return data


def _with_crc(data: bytes) -> bytes:
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))


def fix_crc(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    return _with_crc(data) if len(data) >= 4 else None


def header_field(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    """Version, mode, model, original length or digest, CRC fixed half the time."""
    parsed = _parsed(data)
    if parsed is None:
        return None
    out = bytearray(data)
    field = rng.randrange(5)
    if field == 0:
        out[4:6] = struct.pack("<H", rng.choice((0, 1, 2, 5, 7, 0xFFFF)))
    elif field == 1:
        out[_KIND_OFFSET] = rng.choice((0, 1, 2, 3, 4, 5, 7, 0x83, 0xFF))
    elif field == 2:
        out[_MODEL_OFFSET] = rng.choice((0, 1, 2, 0x7F, 0xFE, 0xFF))
    elif field == 3:
        length = rng.choice(_U64) % (1 << 63)
        out = bytearray(_pack(data, parsed.sections, original_length=length))
    else:
        at = data.find(parsed.original_sha256)
        out[at + rng.randrange(len(parsed.original_sha256))] ^= 1
    return _with_crc(bytes(out)) if rng.random() < 0.5 else bytes(out)


def section_payload(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    """Byte mutations of one section as stored (e.g. the range-coded coefficients)."""
    found = _sections(data)
    if not found:
        return None
    name = rng.choice(sorted(found))
    mutation = rng.choice(BYTE_MUTATIONS)
    found[name] = mutation(rng, found[name], [found[name]]) or found[name] + b"\0"
    return _pack(data, found)


def section_inside(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    """Mutate what a zstd section holds (header bytes, side information, a stored JPEG),
    then compress it again: this reaches the parsers behind the decompression."""
    found = _sections(data)
    names = [n for n in sorted(found or ()) if n in ("raw", "raw-d1", "scans", "zstd")]
    if not found or not names:
        return None
    name = rng.choice(names)
    try:  # bounded: an earlier mutation may have made the frame claim any size
        if name == "raw-d1":
            inner = header_dict.decompress(found[name], 1 << 24, name)
        elif name == "scans":  # zstd, sparse or plain
            inner = container.unpack_small(found[name], 1 << 24, name)
        else:
            inner = zstandard.ZstdDecompressor().stream_reader(found[name]).read(1 << 24)
    except (zstandard.ZstdError, ContainerError):
        return None
    if name == "scans":
        mutation = rng.choice((*BYTE_MUTATIONS, side_info, side_info, side_info))
    else:
        mutation = rng.choice((*BYTE_MUTATIONS, *JPEG_MUTATIONS))
    changed = mutation(rng, inner, [inner]) or inner
    if name == "raw-d1":
        found[name] = header_dict.compress(changed)
    elif name == "scans":
        found[name] = container.pack_small(changed)
    else:
        found[name] = zstandard.ZstdCompressor(level=3).compress(changed)
    return _pack(data, found)


def side_info(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    """Edit one scan's side information (docs/FORMAT.md, ``scans``) and keep it well formed:
    its entropy-coded length, a ZRL run or reset point added, a pad value added or dropped."""
    try:
        (count,) = struct.unpack_from("<I", data, 0)
        table = [list(struct.unpack_from("<4I", data, 4 + 16 * i)) for i in range(count)]
    except struct.error:
        return None
    if not table:
        return None
    pos, arrays = 4 + 16 * count, []
    for _, pads, resets, runs in table:
        sizes = (pads, 4 * resets, 8 * runs)
        arrays.append([data[pos : pos + sizes[0]], data[pos + sizes[0] : pos + sum(sizes[:2])],
                       data[pos + sum(sizes[:2]) : pos + sum(sizes)]])  # fmt: skip
        pos += sum(sizes)
    scan = rng.randrange(count)
    action = rng.randrange(4)
    if action == 0:
        table[scan][0] = rng.choice(_U32)
    elif action == 1:
        arrays[scan][2] += struct.pack("<ii", rng.choice((0, 1, -1, 7)), rng.choice(_I32))
        table[scan][3] += 1
    elif action == 2:
        arrays[scan][1] += struct.pack("<i", rng.choice(_I32))
        table[scan][2] += 1
    elif arrays[scan][0] and rng.random() < 0.5:
        arrays[scan][0] = arrays[scan][0][:-1]
        table[scan][1] -= 1
    else:
        arrays[scan][0] += bytes([rng.randrange(256)])
        table[scan][1] += 1
    head = struct.pack("<I", count) + b"".join(struct.pack("<4I", *row) for row in table)
    return head + b"".join(b"".join(parts) for parts in arrays)


def section_table(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    """Drop, duplicate, rename or reorder sections; or claim another original length."""
    found = _sections(data)
    if found is None:
        return None
    names = list(found)
    choice = rng.randrange(4)
    if choice == 0 and names:
        del found[rng.choice(names)]
    elif choice == 1 and names:
        found[rng.choice(names) + "x"] = found[rng.choice(names)]
    elif choice == 2:
        found = dict(reversed(list(found.items())))
    else:
        return _pack(data, found, original_length=rng.choice(_U64) % (1 << 63))
    return _pack(data, found)


def embedded_entry(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes | None:
    """Mutate the sections of one embedded JPEG of the ``embedded-2`` section (as the
    sections of a .jrz), or its offset or length: this reaches the decoders behind it."""
    found = _sections(data)
    if not found or embedded.SECTION not in found:
        return None
    try:
        entries = embedded.unpack(found[embedded.SECTION])
    except ContainerError:
        return None
    if not entries:
        return None
    pick = rng.randrange(len(entries))
    offset, length, packed = entries[pick]
    if rng.random() < 0.2:
        offset = rng.choice((0, 1, offset - 1, offset + 1, *_U64[-3:]))
    elif rng.random() < 0.2:
        length = rng.choice((0, 1, length - 1, length + 1, *_U64[-3:]))
    else:
        inner = container.write(container.Container(
            container.Mode.LOSSLESS, container.MODEL_IDS[0], length, bytes(32),
            container.unpack_sections(packed)))
        mutation = rng.choice((section_payload, section_inside, section_table))
        packed = container.pack_sections(_sections(mutation(rng, inner, [inner]) or inner) or {})
    clamp = (1 << 63) - 1
    entries[pick] = (max(0, min(offset, clamp)), max(0, min(length, clamp)), packed)
    found[embedded.SECTION] = embedded.pack(entries)
    return _pack(data, found)


JRZ_MUTATIONS: tuple[Mutation, ...] = (
    header_field, section_payload, section_payload, section_inside, section_inside,
    section_inside, section_table, embedded_entry,
)  # fmt: skip


def mutate(
    rng: random.Random, data: bytes, kind: str, donors: list[bytes]
) -> tuple[bytes, list[str]]:
    """One to three mutations for a ``kind`` ("jpeg" or "jrz") file; their names."""
    structured = JPEG_MUTATIONS if kind == "jpeg" else JRZ_MUTATIONS
    names = []
    for _ in range(1 + (rng.random() < 0.35) + (rng.random() < 0.15)):
        mutation = rng.choice(structured) if rng.random() < 0.6 else rng.choice(BYTE_MUTATIONS)
        changed = mutation(rng, data, donors)
        if changed is None:
            mutation, changed = flip_bits, flip_bits(rng, data, donors) or b"\xff"
        data = changed
        names.append(mutation.__name__)
    if kind == "jrz" and rng.random() < 0.3:
        data = _with_crc(data) if len(data) >= 4 else data
        names.append("fix_crc")
    return data, names
