"""Glue between the JPEG layer and the coefficient coder: a JPEG <-> named byte sections.

STUB (being written): every file is reported Unsupported, so api.py stores it whole.
The signatures below are the contract api.py relies on.
"""

from __future__ import annotations

from .errors import Unsupported


def model_id() -> bytes:
    """SHA-256 of the weights that code the coefficients (32 bytes)."""
    return bytes(32)


def encode_lossless(jpeg: bytes) -> dict[str, bytes]:
    """Split a JPEG into sections that ``decode_lossless`` turns back into the same bytes.

    Raises Unsupported(reason) when the file cannot go through the model.
    """
    raise Unsupported("not-implemented", "model path not written yet")


def decode_lossless(sections: dict[str, bytes]) -> bytes:
    """Rebuild the JPEG bytes from the sections made by ``encode_lossless``."""
    raise Unsupported("not-implemented", "model path not written yet")
