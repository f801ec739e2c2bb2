"""Which metadata a JPEG carries: its APPn and COM segments by kind, and data after EOI.

Descriptive (``jpegzip info``) and for lossy mode, which copies the segments into the JPEG
it writes: it never decides how a file is coded, so a damaged segment ends the walk
instead of raising. It reads whole JPEGs and the raw header bytes of a .jrz alike (after an
SOS it skips to the next marker, which in raw bytes is immediate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import NotJpegError

# (marker, payload prefix, kind), most specific prefix first within a marker.
_KINDS = (
    (0xE0, b"JFIF\0", "JFIF"),
    (0xE0, b"JFXX\0", "JFIF-extension"),
    (0xE1, b"Exif\0", "Exif"),
    (0xE1, b"http://ns.adobe.com/xap/1.0/\0", "XMP"),
    (0xE1, b"http://ns.adobe.com/xmp/extension/\0", "XMP-extension"),
    (0xE2, b"ICC_PROFILE\0", "ICC"),
    (0xE2, b"MPF\0", "MPF"),
    (0xE2, b"FPXR\0", "FlashPix"),
    (0xEC, b"Ducky", "Ducky"),
    (0xED, b"Photoshop 3.0\0", "Photoshop"),
    (0xEE, b"Adobe", "Adobe"),
)
_APP0, _APP15, _COM, _EOI = 0xE0, 0xEF, 0xFE, 0xD9
_RESTARTS = range(0xD0, 0xD8)


@dataclass(frozen=True)
class MetadataSegment:
    """One APPn or COM segment: its marker name ("APP1"), kind ("Exif"), payload size, its
    bytes as they stand in the file (marker and length included) and where they start."""

    marker: str
    kind: str
    length: int
    segment: bytes = field(default=b"", repr=False, compare=False)
    offset: int = field(default=0, compare=False)

    @property
    def payload_span(self) -> tuple[int, int]:
        """[start, end) of the payload in the walked bytes."""
        return self.offset + 4, self.offset + 4 + self.length


@dataclass(frozen=True)
class Metadata:
    """The metadata segments in file order, and how many bytes follow EOI."""

    segments: tuple[MetadataSegment, ...]
    trailing_bytes: int


def read_metadata(data: bytes) -> Metadata:
    """Walk the marker segments of a JPEG (or its raw header bytes) and list the metadata."""
    if not data.startswith(b"\xff\xd8"):
        raise NotJpegError("no SOI marker: not a JPEG file")
    segments: list[MetadataSegment] = []
    pos, end = 2, len(data)
    while pos + 4 <= end:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= end:
            break
        marker = data[pos + 1]
        if marker in (0x00, 0xFF) or marker in _RESTARTS:
            pos += 1 if marker == 0xFF else 2  # fill byte, stuffed zero or restart marker
            continue
        if marker == _EOI:
            return Metadata(tuple(segments), end - pos - 2)
        length = (data[pos + 2] << 8) | data[pos + 3] if pos + 4 <= end else 0
        if length < 2 or pos + 2 + length > end:
            break  # damaged or truncated: describe what came before
        if _APP0 <= marker <= _APP15 or marker == _COM:
            payload = data[pos + 4 : pos + 2 + length]
            segments.append(
                MetadataSegment(_marker_name(marker), _kind(marker, payload), length - 2,
                                data[pos : pos + 2 + length], pos)
            )  # fmt: skip
        pos += 2 + length  # after an SOS, the search above skips the entropy-coded data
    return Metadata(tuple(segments), 0)


def _marker_name(marker: int) -> str:
    return "COM" if marker == _COM else f"APP{marker - _APP0}"


def _kind(marker: int, payload: bytes) -> str:
    for known_marker, prefix, kind in _KINDS:
        if marker == known_marker and payload.startswith(prefix):
            return kind
    return "comment" if marker == _COM else _marker_name(marker)
