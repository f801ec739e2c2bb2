"""The .jrz container: one writer and one reader over the same layout (docs/FORMAT.md).

A .jrz holds a short header (magic, format version, mode, model, original length, a digest
of the original, optionally the original file name's suffix), byte sections, and a CRC-32
over everything before it. The writer writes format 6, the lean layout (varint lengths,
one-byte section ids, a one-byte model index): a small file's .jrz must not spend more on
framing than the model saves. The reader also keeps the parser of formats 1 to 5, whose
files stay readable. This module knows nothing of JPEG or models: it checks the bytes it is
given and says which check failed.
"""

from __future__ import annotations

import enum
import hashlib
import struct
import zlib
from dataclasses import dataclass

import zstandard

from . import varint
from .errors import ContainerError, ModelNotAvailable

MAGIC = b"\x89JRZ"
FORMAT_VERSION = 6  # the newest version this jpegzip reads, and the one it writes
MODEL_ID_LENGTH = 32
DIGEST_LENGTH = 8  # format 6 keeps the first 8 bytes of the original's SHA-256
STORED_SECTION = "zstd"
STORED_LEVEL = 19
# Format 6 names a model by its index here: the SHA-256 of each shipped weights file, in the
# order they shipped. Append only (an index is part of the format); tests/test_container.py
# checks that every shipped weights file is listed. Any other model (an experiment's) is
# written as _MODEL_BY_ID and its whole id.
MODEL_IDS = (
    bytes.fromhex("4c71774a00c995a0e64693424ca9ad4fcc39418e9f5e8833e64d823a36a83e3f"),  # classic-v2
    bytes.fromhex("316c06577b983b90d19cf9ce6b7a392e48c0d63bbaddf39dabb5a1b025ee2b98"),  # learned-v2
)
# Format 6 section ids (one byte each on disk). Append only, like MODEL_IDS. Any other
# section (an experiment's) is written as id _NAMED and its name.
SECTION_IDS = {"raw-d1": 1, "scans": 2, "coefficients": 3, "embedded-2": 4, "lossy": 5,
               STORED_SECTION: 6}
_SECTION_NAMES = {number: name for name, number in SECTION_IDS.items()}
_LEAN_MIN_LENGTH = 6 + 1 + 1 + DIGEST_LENGTH + 4  # preamble, kind, length, digest, CRC
_KIND_MODES = 0x03  # kind byte: the mode in its low two bits
_KIND_SUFFIX = 0x04  # ... and whether the original's suffix follows the digest
_MODEL_BY_ID = 0xFF  # model byte: the model's 32-byte id follows
_NAMED = 0  # section id: the section's name follows (a length byte and ASCII)
_TAG_ID = 0x3F  # section tag: the section id in its low six bits
_TAG_ZSTD = 0x40  # ... the data is a zstd frame stored without its 4-byte magic number
_TAG_LAST = 0x80  # ... the last section: no length, it runs to the CRC
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_PLAIN, _SPARSE = b"\x00", b"\x01"  # pack_small's forms besides a zstd frame
_MAX_SUFFIX = 32  # bytes of UTF-8
# enough of a format 6 file's start to hold its header: preamble, kind, model, length,
# digest, suffix
SUFFIX_HEAD = 6 + 1 + 1 + MODEL_ID_LENGTH + varint.MAX_BYTES + DIGEST_LENGTH + 1 + _MAX_SUFFIX

# Formats 1 to 5 (read only). Little-endian throughout.
_PREAMBLE = struct.Struct("<4sH")  # magic, format version
_HEADER = struct.Struct("<B32sQ32sH")  # mode, model id, original length, SHA-256, section count
_NAME_LENGTH = struct.Struct("<B")
_SECTION_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_MAX_NAME_LENGTH = 0xFF
_STREAM_CHUNK = 1 << 20


class Mode(str, enum.Enum):
    """How the original was coded."""

    LOSSLESS = "lossless"
    LOSSY = "lossy"
    STORED = "stored"


# Zero is left unassigned so that a run of zero bytes never parses as a valid mode.
_MODE_BYTES = {Mode.LOSSLESS: 1, Mode.LOSSY: 2, Mode.STORED: 3}
_MODES_BY_BYTE = {value: mode for mode, value in _MODE_BYTES.items()}


@dataclass(frozen=True)
class Container:
    """Everything a .jrz carries, parsed. ``sections`` keeps the order they were written.

    ``original_sha256``: the original's SHA-256 when writing; when read, what the file
    holds (all 32 bytes in formats 1 to 5, the first DIGEST_LENGTH in format 6): compare
    with ``digest_matches``. ``suffix``: the original file name's suffix (".jpeg", or ""
    for none); None where none was recorded (a stream, or a file of formats 1 to 5).
    """

    mode: Mode
    model_id: bytes
    original_length: int
    original_sha256: bytes
    sections: dict[str, bytes]
    suffix: str | None = None


class _Truncated(ContainerError):
    """A length points past the end of the data: the file was cut short."""


def write(container: Container) -> bytes:
    """Serialize a container in format 6. Raises ValueError for values it cannot hold."""
    _check_writable(container)
    kind = _MODE_BYTES[container.mode] | (0 if container.suffix is None else _KIND_SUFFIX)
    parts = [_PREAMBLE.pack(MAGIC, FORMAT_VERSION), bytes([kind])]
    if container.mode is not Mode.STORED:
        parts.append(_model_reference(container.model_id))
    parts += [varint.encode(container.original_length), container.original_sha256[:DIGEST_LENGTH]]
    if container.suffix is not None:
        suffix = container.suffix.encode()
        parts += [bytes([len(suffix)]), suffix]
    parts.append(pack_sections(container.sections))
    body = b"".join(parts)
    return body + _CRC.pack(zlib.crc32(body))


def read(data: bytes) -> Container:
    """Parse and check a container; every failed check raises ContainerError naming it."""
    view = memoryview(data)
    version = _check_preamble(view)
    lean = version == FORMAT_VERSION
    if len(view) < (_LEAN_MIN_LENGTH if lean else _PREAMBLE.size + _HEADER.size + _CRC.size):
        raise ContainerError(f"truncated: {len(view)} bytes is shorter than the fixed header")
    body, trailer = view[: -_CRC.size], view[-_CRC.size :]
    parse = _parse_lean if lean else _parse_legacy
    (stored_crc,) = _CRC.unpack(trailer)
    if zlib.crc32(body) != stored_crc:
        # Name the likelier cause: a cut-short file also fails the checksum.
        try:
            parse(body)
        except _Truncated:
            raise
        except (ContainerError, ModelNotAvailable):
            pass
        # Format 6 cannot tell them apart: its last section runs up to the CRC.
        raise ContainerError("truncated or corrupt: checksum mismatch" if lean
                             else "checksum mismatch: the container is corrupt")
    return parse(body)


def read_suffix(head: bytes) -> str | None:
    """The original's suffix recorded in a .jrz, from its first bytes (SUFFIX_HEAD of them
    suffice), without checking the CRC: for naming an output before the file is decoded
    (which then checks everything). None: none recorded, or no .jrz of format 6."""
    view = memoryview(head)
    try:
        if _check_preamble(view) != FORMAT_VERSION:
            return None
        return _lean_header(Cursor(view)).suffix
    except (ContainerError, ModelNotAvailable):
        return None


def digest_matches(digest: bytes, data: bytes) -> bool:
    """Whether ``data`` has the digest a .jrz header holds (a whole SHA-256, or a prefix of
    at least DIGEST_LENGTH bytes)."""
    return len(digest) >= DIGEST_LENGTH and sha256(data).startswith(digest)


def sha256(data: bytes) -> bytes:
    """The SHA-256 of an original, as a Container is written with."""
    return hashlib.sha256(data).digest()


def pack_sections(sections: dict[str, bytes]) -> bytes:
    """Sections in the lean layout: per section a tag (its id, whether it is a zstd frame
    stored without the magic number, whether it is the last) and, but for the last, its
    length as a varint. Also the layout of each entry of an ``embedded-2`` section."""
    parts = []
    for index, (name, payload) in enumerate(sections.items()):
        if not name.isascii() or not 1 <= len(name) <= _MAX_NAME_LENGTH:
            raise ValueError(f"section name must be 1-{_MAX_NAME_LENGTH} ASCII characters")
        tag = SECTION_IDS.get(name, _NAMED)
        if payload.startswith(_ZSTD_MAGIC):
            tag, payload = tag | _TAG_ZSTD, payload[len(_ZSTD_MAGIC):]
        last = index == len(sections) - 1
        parts.append(bytes([tag | (_TAG_LAST if last else 0)]))
        if tag & _TAG_ID == _NAMED:
            parts += [bytes([len(name)]), name.encode("ascii")]
        parts += [b"" if last else varint.encode(len(payload)), payload]
    return b"".join(parts)


def unpack_sections(data: bytes | memoryview) -> dict[str, bytes]:
    """Inverse of ``pack_sections``; every length is checked against the bytes present."""
    cursor = Cursor(memoryview(data), 0)
    return _lean_sections(cursor)


def pack_small(data: bytes) -> bytes:
    """The smallest of three forms of a few bytes of side information, where zstd's own
    framing may cost more than it saves: a zstd frame; _SPARSE, the length (varint), a
    bitmap of the nonzero bytes and those bytes (a baseline file's 21 bytes of side
    information are mostly zeros: 11 bytes); _PLAIN and the bytes."""
    import numpy as np  # only where side information is coded (numpy is loaded there)

    values = np.frombuffer(data, np.uint8)
    bitmap = np.packbits(values != 0, bitorder="little").tobytes()
    sparse = b"".join([_SPARSE, varint.encode(len(data)), bitmap, values[values != 0].tobytes()])
    forms = [_PLAIN + data, sparse, zstandard.ZstdCompressor(level=STORED_LEVEL).compress(data)]
    return min(forms, key=len)


def unpack_small(data: bytes, limit: int, what: str) -> bytes:
    """Inverse of ``pack_small`` (a zstd frame alone, as formats 1 to 5 hold it, too), at
    most ``limit`` bytes; anything else raises ContainerError."""
    if data.startswith(_ZSTD_MAGIC):
        return unzstd(data, limit, what)
    if data.startswith(_PLAIN):
        plain = data[len(_PLAIN):]
    elif data.startswith(_SPARSE):
        plain = _unpack_sparse(Cursor(memoryview(data), len(_SPARSE)), limit, what)
    else:
        raise ContainerError(f"{what}: unknown form")
    if len(plain) > limit:
        raise ContainerError(f"{what}: more than {limit} bytes")
    return plain


def _unpack_sparse(cursor: Cursor, limit: int, what: str) -> bytes:
    import numpy as np

    length = cursor.varint(what)
    if length > limit:
        raise ContainerError(f"{what}: more than {limit} bytes")
    bitmap = np.frombuffer(cursor.take((length + 7) // 8, what), np.uint8)
    nonzero = np.unpackbits(bitmap, count=length, bitorder="little").astype(bool)
    values = np.frombuffer(cursor.take(int(nonzero.sum()), what), np.uint8)
    if cursor.left():
        raise ContainerError(f"{what}: bytes after the sparse data")
    out = np.zeros(length, np.uint8)
    out[nonzero] = values
    return out.tobytes()


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


def _model_reference(model_id: bytes) -> bytes:
    """A model's index in MODEL_IDS, or _MODEL_BY_ID and the whole id."""
    if model_id in MODEL_IDS:
        return bytes([MODEL_IDS.index(model_id)])
    return bytes([_MODEL_BY_ID]) + model_id


def _check_writable(container: Container) -> None:
    if container.mode is not Mode.STORED and len(container.model_id) != MODEL_ID_LENGTH:
        raise ValueError(f"model id must be {MODEL_ID_LENGTH} bytes")
    if len(container.original_sha256) < DIGEST_LENGTH:
        raise ValueError(f"original_sha256 must hold at least {DIGEST_LENGTH} bytes")
    if not 0 <= container.original_length < 1 << 63:
        raise ValueError("original length out of range")
    if container.suffix is not None and not valid_suffix(container.suffix):
        raise ValueError(f"suffix {container.suffix!r}: not a file name suffix")


def valid_suffix(suffix: str) -> bool:
    """Whether a .jrz can record this suffix: "" or a dot and 1 to 31 bytes of printable
    characters, no dot or separator among them (a suffix becomes part of an output path)."""
    if suffix == "":
        return True
    rest = suffix[1:]
    return (suffix.startswith(".") and rest.isprintable() and not set(rest) & set("./\\")
            and 0 < len(suffix.encode()) - 1 < _MAX_SUFFIX)


def _check_preamble(view: memoryview) -> int:
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
    return version


class Cursor:
    """Reads forward through bytes; refuses any length beyond the bytes present (the
    message starts with "truncated"). Also reads the entries of an ``embedded-2`` section."""

    def __init__(self, body: memoryview, offset: int = _PREAMBLE.size) -> None:
        self.body = body
        self.offset = offset

    def left(self) -> int:
        return len(self.body) - self.offset

    def take(self, count: int, what: str) -> memoryview:
        remaining = self.left()
        if count > remaining:
            raise _Truncated(
                f"truncated: {what} at byte {self.offset} needs {count} bytes, {remaining} left"
            )
        piece = self.body[self.offset : self.offset + count]
        self.offset += count
        return piece

    def unpack(self, layout: struct.Struct, what: str) -> tuple:
        return layout.unpack(self.take(layout.size, what))

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def varint(self, what: str) -> int:
        try:
            value, self.offset = varint.decode(self.body, self.offset)
        except IndexError:
            raise _Truncated(f"truncated: {what} at byte {self.offset} runs past the end") from None
        except ValueError as error:
            raise ContainerError(f"{what}: {error}") from None
        return value


def _parse_lean(body: memoryview) -> Container:
    """Format 6: the header, then the sections up to the CRC."""
    cursor = Cursor(body)
    header = _lean_header(cursor)
    sections = _lean_sections(cursor)
    return Container(header.mode, header.model_id, header.original_length,
                     header.original_sha256, sections, header.suffix)


def _lean_header(cursor: Cursor) -> Container:
    """The format 6 header fields (no sections yet)."""
    kind = cursor.byte("mode")
    if kind & ~(_KIND_MODES | _KIND_SUFFIX) or kind & _KIND_MODES not in _MODES_BY_BYTE:
        raise ContainerError(f"unknown mode {kind}")
    mode = _MODES_BY_BYTE[kind & _KIND_MODES]
    model_id = bytes(MODEL_ID_LENGTH)
    if mode is not Mode.STORED:
        index = cursor.byte("model")
        if index == _MODEL_BY_ID:
            model_id = bytes(cursor.take(MODEL_ID_LENGTH, "model id"))
        elif index < len(MODEL_IDS):
            model_id = MODEL_IDS[index]
        else:
            raise ModelNotAvailable(f"coded with model #{index}; this jpegzip knows "
                                    f"models #0 to #{len(MODEL_IDS) - 1}")
    length = cursor.varint("original length")
    digest = bytes(cursor.take(DIGEST_LENGTH, "digest"))
    suffix = None
    if kind & _KIND_SUFFIX:
        raw = bytes(cursor.take(cursor.byte("suffix length"), "suffix"))
        try:
            suffix = raw.decode()
        except UnicodeDecodeError:
            suffix = None
        if suffix is None or not valid_suffix(suffix):
            raise ContainerError(f"suffix {raw!r}: not a file name suffix")
    return Container(mode, model_id, length, digest, {}, suffix)


def _lean_sections(cursor: Cursor) -> dict[str, bytes]:
    sections: dict[str, bytes] = {}
    while cursor.left():
        tag = cursor.byte("section tag")
        name = _section_name(cursor, tag & _TAG_ID, len(sections))
        if name in sections:
            raise ContainerError(f"section {len(sections)}: repeated {name!r}")
        length = cursor.left() if tag & _TAG_LAST else cursor.varint(f"section {name!r} length")
        payload = bytes(cursor.take(length, f"section {name!r}"))
        sections[name] = _ZSTD_MAGIC + payload if tag & _TAG_ZSTD else payload
        if tag & _TAG_LAST:
            break
        if not cursor.left():
            raise _Truncated(f"truncated: section {name!r} is not marked last")
    return sections


def _section_name(cursor: Cursor, number: int, index: int) -> str:
    """The name of a section with this id; for _NAMED, the name that follows it."""
    if number != _NAMED:
        if number not in _SECTION_NAMES:
            raise ContainerError(f"section {index}: unknown id {number}")
        return _SECTION_NAMES[number]
    raw = bytes(cursor.take(cursor.byte(f"section {index} name length"), f"section {index} name"))
    if not raw or not raw.isascii() or raw.decode() in SECTION_IDS:
        raise ContainerError(f"section {index}: name {raw!r} is empty, not ASCII or has an id")
    return raw.decode()


def _parse_legacy(body: memoryview) -> Container:
    """Formats 1 to 5: fixed-width header fields and named sections."""
    cursor = Cursor(body)
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
    if cursor.left():
        raise ContainerError(
            f"section length: {cursor.left()} unexpected bytes after the last section"
        )
    return Container(
        mode=_MODES_BY_BYTE[mode_byte],
        model_id=bytes(model_id),
        original_length=original_length,
        original_sha256=bytes(original_sha256),
        sections=sections,
    )
