"""Helpers for the JPEG-layer tests: synthetic JPEGs and the libjpeg oracle."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "data"
EDGE_CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "edge"


def synthetic_photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth image with edges and noise: exercises every kind of coefficient."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = 128 + 60 * np.sin(x / 17.0) * np.cos(y / 23.0) + 40 * ((x + 2 * y) % 64 < 32)
    rgb = np.stack([base, base[::-1] * 0.8 + 20, np.roll(base, 7, axis=1) * 0.9], axis=-1)
    rgb += rng.normal(0, 6, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def pillow_jpeg(pixels: np.ndarray, **save_options) -> bytes:
    """Encode with Pillow (libjpeg-turbo)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", **save_options)
    return buffer.getvalue()


def libjpeg_coefficients(data: bytes) -> tuple[list[np.ndarray] | None, str]:
    """Coefficients as jpeglib (libjpeg) reads them, and libjpeg's warnings (empty if clean)."""
    import jpeglib

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "image.jpg")
        with open(path, "wb") as handle:
            handle.write(data)
        saved_stderr = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                try:
                    dct = jpeglib.read_dct(path)
                    planes = [np.asarray(getattr(dct, name)) for name in ("Y", "Cb", "Cr", "K")
                              if getattr(dct, name, None) is not None]  # fmt: skip
                except Exception:  # libjpeg refuses the file: no reference
                    planes = None
            finally:
                os.dup2(saved_stderr, 2)
                os.close(saved_stderr)
            captured.seek(0)
            warnings = captured.read().decode(errors="replace").strip()
    return planes, warnings


def assert_coefficients_match(planes: list[np.ndarray], reference: list[np.ndarray]) -> None:
    """Our padded grids, cropped to libjpeg's, must hold the same coefficients."""
    assert len(planes) == len(reference)
    for ours, theirs in zip(planes, reference, strict=True):
        rows, cols = theirs.shape[:2]
        np.testing.assert_array_equal(ours[:rows, :cols].reshape(rows, cols, 8, 8), theirs)


@pytest.fixture(scope="session")
def edge_corpus() -> Path:
    if not EDGE_CORPUS.is_dir():
        pytest.skip("shared corpus not present")
    return EDGE_CORPUS
