"""The .jrz container: one writer and one reader over the same layout (docs/FORMAT.md).

A .jrz holds a fixed header (magic, format version, mode, model id, original length and
SHA-256), named byte sections, and a CRC-32 over everything before it. This module knows
nothing of JPEG or models: it checks the bytes it is given and says which check failed.
"""

from __future__ import annotations

import enum
import hashlib
import struct
import zlib
from dataclasses import dataclass

import zstandard

from .errors import ContainerError

MAGIC = b"\x89JRZ"
FORMAT_VERSION = 5  # the newest version this jpegzip reads and writes
# The first format version that may hold a section, or a newer layout of a section (named
# by the section and its first byte, the layout's own version number). A file is written
# with the oldest version its sections allow, so an older reader refuses one it cannot
# decode as too new (rather than failing inside it), and every other file stays readable.
SECTION_VERSIONS = {"embedded": 2}
# the coefficient streams: adaptive without side contexts (retired), with them, in parts
LAYOUT_VERSIONS = {("coefficients", 3): 3, ("coefficients", 4): 4, ("coefficients", 5): 5}
MODEL_ID_LENGTH = 32
STORED_SECTION = "zstd"
STORED_LEVEL = 19

# Shared by reader and writer, so the two cannot drift apart. Little-endian throughout.
_PREAMBLE = struct.Struct("<4sH")  # magic, format version
_HEADER = struct.Struct("<B32sQ32sH")  # mode, model id, original length, SHA-256, section count
_NAME_LENGTH = struct.Struct("<B")
_SECTION_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_MAX_SECTIONS = 0xFFFF
_MAX_NAME_LENGTH = 0xFF
_STREAM_CHUNK = 1 << 20


class Mode(str, enum.Enum):
    """How the original was coded. ``lossy`` is reserved; this version never writes it."""

    LOSSLESS = "lossless"
    LOSSY = "lossy"
    STORED = "stored"


# Zero is left unassigned so that a run of zero bytes never parses as a valid mode.
_MODE_BYTES = {Mode.LOSSLESS: 1, Mode.LOSSY: 2, Mode.STORED: 3}
_MODES_BY_BYTE = {value: mode for mode, value in _MODE_BYTES.items()}


@dataclass(frozen=True)
class Container:
    """Everything a .jrz carries, parsed. ``sections`` keeps the order they were written."""

    mode: Mode
    model_id: bytes
    original_length: int
    original_sha256: bytes
    sections: dict[str, bytes]


class _Truncated(ContainerError):
    """A length points past the end of the data: the file was cut short."""


def write(container: Container) -> bytes:
    """Serialize a container. Raises ValueError for values the format cannot hold."""
    _check_writable(container)
    parts = [
        _PREAMBLE.pack(MAGIC, version_for(container.sections)),
        _HEADER.pack(
            _MODE_BYTES[container.mode],
            container.model_id,
            container.original_length,
            container.original_sha256,
            len(container.sections),
        ),
    ]
    for name, payload in container.sections.items():
        encoded_name = name.encode("ascii")
        parts += [_NAME_LENGTH.pack(len(encoded_name)), encoded_name]
        parts += [_SECTION_LENGTH.pack(len(payload)), payload]
    body = b"".join(parts)
    return body + _CRC.pack(zlib.crc32(body))


def read(data: bytes) -> Container:
    """Parse and check a container; every failed check raises ContainerError naming it."""
    view = memoryview(data)
    _check_preamble(view)
    if len(view) < _PREAMBLE.size + _HEADER.size + _CRC.size:
        raise ContainerError(f"truncated: {len(view)} bytes is shorter than the fixed header")
    body, trailer = view[: -_CRC.size], view[-_CRC.size :]
    (stored_crc,) = _CRC.unpack(trailer)
    if zlib.crc32(body) != stored_crc:
        # Name the likelier cause: a cut-short file also fails the checksum.
        try:
            _parse_body(body)
        except _Truncated:
            raise
        except ContainerError:
            pass
        raise ContainerError("checksum mismatch: the container is corrupt")
    return _parse_body(body)


def version_for(sections: dict[str, bytes]) -> int:
    """The format version a file with these sections is written with."""
    versions = [SECTION_VERSIONS.get(name, 1) for name in sections]
    versions += [LAYOUT_VERSIONS.get((name, payload[0]), 1)
                 for name, payload in sections.items() if payload]
    return max([1, *versions])


def sha256(data: bytes) -> bytes:
    """The checksum of the original that the header stores."""
    return hashlib.sha256(data).digest()


def pack_stored(original: bytes) -> dict[str, bytes]:
    """Sections of a ``stored`` container: the whole original as one zstd frame."""
    return {STORED_SECTION: zstandard.ZstdCompressor(level=STORED_LEVEL).compress(original)}


def unpack_stored(sections: dict[str, bytes], original_length: int) -> bytes:
    """Inverse of ``pack_stored``; never produces more than ``original_length`` + 1 bytes."""
    if list(sections) != [STORED_SECTION]:
        raise ContainerError(f"stored payload: expected one section {STORED_SECTION!r}")
    return _read_bounded(sections[STORED_SECTION], original_length + 1, "stored payload")


def unzstd(data: bytes, limit: int, what: str,
           decompressor: zstandard.ZstdDecompressor | None = None) -> bytes:
    """Decompress a zstd frame of at most ``limit`` bytes, or raise ContainerError.

    Never trusts the size a frame claims in its header (python-zstandard's one-shot
    ``decompress`` allocates it whatever ``max_output_size`` says): output grows in
    bounded steps and stops one byte past the limit. ``decompressor``: one holding a
    dictionary (header_dict.py); None: plain zstd.
    """
    output = _read_bounded(data, limit + 1, what, decompressor)
    if len(output) > limit:
        raise ContainerError(f"{what}: decompresses to more than {limit} bytes")
    return output


def _read_bounded(data: bytes, most: int, what: str,
                  decompressor: zstandard.ZstdDecompressor | None = None) -> bytes:
    """At most ``most`` bytes of the zstd frame in ``data``, read in chunks."""
    reader = (decompressor or zstandard.ZstdDecompressor()).stream_reader(data)
    output = bytearray()
    try:
        while len(output) < most:
            chunk = reader.read(min(_STREAM_CHUNK, most - len(output)))
            if not chunk:
                break
            output += chunk
    except zstandard.ZstdError as error:
        raise ContainerError(f"{what}: zstd failed: {error}") from None
    return bytes(output)


def _check_writable(container: Container) -> None:
    if len(container.model_id) != MODEL_ID_LENGTH:
        raise ValueError(f"model id must be {MODEL_ID_LENGTH} bytes")
    if len(container.original_sha256) != hashlib.sha256().digest_size:
        raise ValueError("original_sha256 must be a SHA-256 digest")
    if not 0 <= container.original_length < 1 << 64:
        raise ValueError("original length out of range")
    if len(container.sections) > _MAX_SECTIONS:
        raise ValueError(f"at most {_MAX_SECTIONS} sections")
    for name in container.sections:
        if not name.isascii() or not 1 <= len(name) <= _MAX_NAME_LENGTH:
            raise ValueError(f"section name must be 1-{_MAX_NAME_LENGTH} ASCII characters")


def _check_preamble(view: memoryview) -> None:
    if bytes(view[: len(MAGIC)]) != MAGIC[: len(view)]:
        raise ContainerError("bad magic: not a .jrz file")
    if len(view) < _PREAMBLE.size:
        raise ContainerError(f"truncated: {len(view)} bytes is shorter than the fixed header")
    _, version = _PREAMBLE.unpack_from(view)
    if version > FORMAT_VERSION:
        raise ContainerError(
            f"format version {version} is newer than this jpegzip supports ({FORMAT_VERSION})"
        )
    if version < 1:
        raise ContainerError(f"unknown format version {version}")


class _Cursor:
    """Reads forward through the body; refuses any length beyond the bytes present."""

    def __init__(self, body: memoryview) -> None:
        self.body = body
        self.offset = _PREAMBLE.size

    def take(self, count: int, what: str) -> memoryview:
        remaining = len(self.body) - self.offset
        if count > remaining:
            raise _Truncated(
                f"truncated: {what} at byte {self.offset} needs {count} bytes, {remaining} left"
            )
        piece = self.body[self.offset : self.offset + count]
        self.offset += count
        return piece

    def unpack(self, layout: struct.Struct, what: str) -> tuple:
        return layout.unpack(self.take(layout.size, what))


def _parse_body(body: memoryview) -> Container:
    cursor = _Cursor(body)
    mode_byte, model_id, original_length, original_sha256, section_count = cursor.unpack(
        _HEADER, "header"
    )
    if mode_byte not in _MODES_BY_BYTE:
        raise ContainerError(f"unknown mode {mode_byte}")
    sections: dict[str, bytes] = {}
    for index in range(section_count):
        (name_length,) = cursor.unpack(_NAME_LENGTH, f"section {index} name length")
        try:
            name = bytes(cursor.take(name_length, f"section {index} name")).decode("ascii")
        except UnicodeDecodeError:
            raise ContainerError(f"section {index}: name is not ASCII") from None
        if not name or name in sections:
            raise ContainerError(f"section {index}: empty or repeated name {name!r}")
        (length,) = cursor.unpack(_SECTION_LENGTH, f"section {name!r} length")
        sections[name] = bytes(cursor.take(length, f"section {name!r}"))
    if cursor.offset != len(body):
        raise ContainerError(
            f"section length: {len(body) - cursor.offset} unexpected bytes after the last section"
        )
    return Container(
        mode=_MODES_BY_BYTE[mode_byte],
        model_id=bytes(model_id),
        original_length=original_length,
        original_sha256=bytes(original_sha256),
        sections=sections,
    )
