"""Shared fixtures: small JPEGs made on the fly, a PNG, and a fake lossless codec."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

FAKE_MODEL_ID = bytes(range(1, 33))


def _make_jpeg(
    width: int = 48,
    height: int = 32,
    mode: str = "RGB",
    seed: int = 0,
    **save_options,
) -> bytes:
    """A small JPEG of a noisy gradient (noise keeps every coefficient band busy)."""
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.arange(height) * 3, np.arange(width) * 2) % 256
    bands = 1 if mode == "L" else 3
    pixels = ramp[..., None] + rng.integers(-40, 40, size=(height, width, bands))
    pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels[..., 0] if bands == 1 else pixels, mode=mode)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **{"quality": 85, **save_options})
    return buffer.getvalue()


@pytest.fixture
def make_jpeg() -> Callable[..., bytes]:
    """``make_jpeg(width, height, mode, seed, **Pillow save options)`` -> JPEG bytes."""
    return _make_jpeg


def _with_thumbnail(jpeg: bytes, thumbnail: bytes) -> bytes:
    payload = b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + thumbnail
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + segment + jpeg[2:]


@pytest.fixture
def with_thumbnail() -> Callable[[bytes, bytes], bytes]:
    """``with_thumbnail(jpeg, thumbnail)``: ``jpeg`` with an EXIF-like APP1 segment right
    after its SOI that carries ``thumbnail`` (where cameras put theirs, after TIFF bytes)."""
    return _with_thumbnail


@pytest.fixture
def jpeg_bytes() -> bytes:
    return _make_jpeg()


@pytest.fixture
def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def fake_lossless_codec(monkeypatch) -> Callable[..., None]:
    """Replace the codec with a trivial one that always takes the lossless path.

    Its sections hold only a key into an in-memory store, so its output is always smaller
    than the input (api stores files the model does not shrink).
    Call the fixture to swap parts: ``fake_lossless_codec(decode=lambda s: b"wrong")``.
    """
    from jpegzip import codec

    store: dict[bytes, bytes] = {}

    def encode_by_key(jpeg: bytes, options=None) -> dict[str, bytes]:
        key = hashlib.sha256(jpeg).digest()
        store[key] = jpeg
        return {"key": key}

    def decode_by_key(sections: dict[str, bytes], options=None, coded_with=None) -> bytes:
        return store[sections["key"]]

    def install(encode=None, decode=None, model_id=FAKE_MODEL_ID) -> None:
        monkeypatch.setattr(codec, "model_id", lambda level=None: model_id)
        monkeypatch.setattr(codec, "model_ids", lambda: (model_id,))
        monkeypatch.setattr(codec, "encode_lossless", encode or encode_by_key)
        monkeypatch.setattr(codec, "decode_lossless", decode or decode_by_key)

    install()
    return install
