"""Unsigned LEB128 varints: seven bits a byte, low first, the high bit set on all but the
last. The lengths of a .jrz (format 6) and of a coefficient stream's parts are written so."""

from __future__ import annotations

MAX_BYTES = 9  # enough for any value below 2**63


def encode(value: int) -> bytes:
    """``value`` (>= 0) as a varint."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode(data: bytes | memoryview, at: int) -> tuple[int, int]:
    """The varint at ``data[at:]`` and the offset after it. IndexError: the data ends inside
    it; ValueError: it runs over MAX_BYTES (the caller names what it was reading)."""
    value = 0
    for shift in range(0, 7 * MAX_BYTES, 7):
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
    raise ValueError(f"varint longer than {MAX_BYTES} bytes")
