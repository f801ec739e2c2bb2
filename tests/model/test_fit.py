"""Fitting: a tiny corpus gives loadable weights that code losslessly; the shipped model
saves what it should on Kodak (only when ../shared is present)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from jpegzip.coding import decode_planes, encode_planes
from jpegzip.model import load_default_model
from jpegzip.model.weights import model_from_bytes
from jpegzip.training.fit_classic import main, read_planes

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
KODAK = SHARED / "corpus" / "kodak"


def _photo(seed: int, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[0], 0 : size[1]]
    base = 120 + 70 * np.sin(x / (5.0 + seed)) * np.cos(y / 7.0)
    rgb = np.stack([base, base * 0.7 + 30, 255 - base], axis=-1) + rng.normal(0, 5, (*size, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def test_fit_on_a_tiny_corpus(tmp_path):
    from PIL import Image

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    Image.fromarray(_photo(1)).save(corpus / "a.png")
    Image.fromarray(_photo(2)).save(corpus / "b.jpg", quality=90)
    out = tmp_path / "w.npz"
    main(["--corpus", str(corpus), "--out", str(out), "--variants", "1", "--workers", "1"])
    model = model_from_bytes(out.read_bytes())
    buffer = io.BytesIO()
    Image.fromarray(_photo(3)).save(buffer, format="JPEG", quality=75)
    planes, quants, sampling = read_planes(buffer.getvalue())
    data = encode_planes(planes, quants, sampling, model)
    back = decode_planes(data, [p.shape[:2] for p in planes], quants, sampling, model)
    assert all(np.array_equal(a, b) for a, b in zip(planes, back, strict=True))


def test_fit_refuses_the_test_set(tmp_path):
    kodak = tmp_path / "kodak"
    kodak.mkdir()
    with pytest.raises(SystemExit):
        main(["--corpus", str(kodak), "--out", str(tmp_path / "w.npz")])


@pytest.mark.skipif(not KODAK.is_dir(), reason="needs ../shared/corpus/kodak")
def test_default_model_saves_on_kodak_q75():
    from PIL import Image

    model = load_default_model()
    jpeg_total = coded_total = 0
    for path in sorted(KODAK.glob("*.png"))[:4]:
        buffer = io.BytesIO()
        Image.open(path).convert("RGB").save(buffer, format="JPEG", quality=75, subsampling=2)
        data = buffer.getvalue()
        planes, quants, sampling = read_planes(data)
        coded = encode_planes(planes, quants, sampling, model)
        jpeg_total += len(data)
        coded_total += len(coded)
    assert coded_total < 0.88 * jpeg_total
