"""JPEGs embedded in a JPEG's header bytes (EXIF thumbnails, an MPO's second image): where
they are, and how the ``embedded-2`` section lists them.

A camera photo carries a 5-12 kB thumbnail inside its EXIF segment, 5-10 % of a phone
photo's .jrz when zstd codes it as plain bytes; an MPO's second image follows the first
one's EOI. The codec codes each one with the model
instead, as the sections of a lossless .jrz without a container of its own (the parent's
CRC, model and digest of the whole original cover it), and blanks its bytes (zeros, same
length) in the header bytes, so the header section shrinks and keeps its layout (segment
lengths, offsets). Decoding writes each embedded JPEG back over its blank before anything
parses the header.

Candidates are found by their bytes (an SOI marker followed by another marker, up to one of
the next EOIs) inside metadata segments and after the image's EOI: whatever such a span
holds, the codec only takes it when its sections decode back to exactly those bytes,
so a wrong guess costs nothing but time.

``embedded-2`` section (format 6): a count byte, then per entry its offset in the header
bytes, its length, and the length of its sections (unsigned LEB128 varints), then its
sections (``container.pack_sections``); offsets ascending, spans not overlapping. Formats 2
to 5 hold ``embedded`` instead: per entry an offset and a length (unsigned 64-bit
little-endian) and a complete nested .jrz.
"""

from __future__ import annotations

import struct

from . import container, varint
from .errors import ContainerError

SECTION = "embedded-2"
LEGACY_SECTION = "embedded"  # formats 2 to 5: each entry a nested .jrz
MOST = 4  # embedded JPEGs per file (a photo has one thumbnail, an MPO two images)
ENDS = 3  # ends tried per start
_SOI = b"\xff\xd8\xff"
_EOI = b"\xff\xd9"
_ENTRY = struct.Struct("<QQ")


def candidates(header: bytes, regions: list[tuple[int, int]]) -> list[tuple[int, list[int]]]:
    """Where embedded JPEGs may be: up to MOST starts (an SOI followed by a marker), each
    with its possible ends (up to ENDS successive EOIs: an embedded JPEG may carry its own
    thumbnail, whose EOI comes first), each span inside one of the [start, end) `regions`
    (the payload of a metadata segment, or the bytes after the image's EOI): a span never
    covers the image's own markers, so the header stays readable while blanked."""
    found: list[tuple[int, list[int]]] = []
    for low, high in regions:
        start = header.find(_SOI, low, high)
        while start >= 0 and len(found) < MOST:
            ends: list[int] = []
            end = header.find(_EOI, start + len(_SOI), high)
            while end >= 0 and len(ends) < ENDS:
                ends.append(end + len(_EOI))
                end = header.find(_EOI, end + len(_EOI), high)
            if ends:
                found.append((start, ends))
            start = header.find(_SOI, start + len(_SOI), high)
    return found


def blank(header: bytes, taken: list[tuple[int, int]]) -> bytes:
    """The header bytes with each span zeroed (same length)."""
    out = bytearray(header)
    for start, end in taken:
        out[start:end] = bytes(end - start)
    return bytes(out)


def pack(entries: list[tuple[int, int, bytes]]) -> bytes:
    """The section: (offset, JPEG length, packed sections) per embedded JPEG, offsets
    ascending."""
    if len(entries) > MOST:
        raise ValueError(f"at most {MOST} embedded JPEGs")
    out = [bytes([len(entries)])]
    for offset, length, sections in entries:
        out += [varint.encode(offset), varint.encode(length),
                varint.encode(len(sections)), sections]
    return b"".join(out)


def unpack(section: bytes) -> list[tuple[int, int, bytes]]:
    """Inverse of ``pack``; a damaged section raises ContainerError."""
    if not section or section[0] > MOST:
        raise ContainerError("embedded section: bad entry count")
    cursor = container.Cursor(memoryview(section), 1)
    entries = []
    try:
        for _ in range(section[0]):
            offset, length = cursor.varint("offset"), cursor.varint("length")
            entries.append((offset, length, bytes(cursor.take(cursor.varint("size"), "entry"))))
    except ContainerError as error:
        raise ContainerError(f"embedded section: {error}") from None
    if cursor.left():
        raise ContainerError("embedded section: bytes after the last entry")
    return entries


def unpack_legacy(section: bytes) -> list[tuple[int, bytes]]:
    """The entries of a formats 2 to 5 ``embedded`` section: (offset, nested .jrz)."""
    if not section or section[0] > MOST:
        raise ContainerError("embedded section: bad entry count")
    entries = []
    position = 1
    for _ in range(section[0]):
        if position + _ENTRY.size > len(section):
            raise ContainerError("embedded section: truncated")
        offset, length = _ENTRY.unpack_from(section, position)
        position += _ENTRY.size
        if length > len(section) - position:
            raise ContainerError("embedded section: truncated")
        entries.append((offset, section[position: position + length]))
        position += length
    if position != len(section):
        raise ContainerError("embedded section: bytes after the last entry")
    return entries


def restore(header: bytes, decoded: list[tuple[int, bytes]]) -> bytes:
    """The header bytes with each decoded embedded JPEG written over its blank; the spans
    must lie inside the header, ascending and apart, over zeros (else ContainerError)."""
    out = bytearray(header)
    end = 0
    for offset, jpeg in decoded:
        if offset < end or offset + len(jpeg) > len(out):
            raise ContainerError("embedded section: a span outside the header bytes")
        end = offset + len(jpeg)
        if any(out[offset:end]):
            raise ContainerError("embedded section: its span in the header is not blank")
        out[offset:end] = jpeg
    return bytes(out)
