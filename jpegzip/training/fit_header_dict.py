"""Build the header dictionary (header_dict.py) from real encoders' headers.

    python -m jpegzip.training.fit_header_dict --corpus ../shared/corpus/train \
        --out runs/headers-v1.zdict

The dictionary is raw zstd content: the distinct marker segments of
- libjpeg 6b, libjpeg-turbo and mozjpeg headers (through jpeglib) at every quality 1..100
  (8-bit tables, as Pillow and most tools write them): baseline 4:2:0 and the other
  subsamplings, grayscale, progressive, optimized Huffman;
- the JPEGs of the corpus as they are (training photos only; never kodak/),
joined with the most common last, where zstd's offsets are cheapest, then libjpeg's
plain headers whole (templates) at each quality. Segments longer than
``--longest`` bytes (thumbnails, colour profiles) are left out: they rarely repeat.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import itertools
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..errors import JpegzipError
from ..jpeg import read_jpeg

LIBRARIES = ("6b", "turbo210", "mozjpeg403")
SAMPLINGS = (((2, 2), (1, 1), (1, 1)), ((2, 1), (1, 1), (1, 1)), ((1, 2), (1, 1), (1, 1)),
             ((1, 1), (1, 1), (1, 1)))
_NO_LENGTH = {0xD8, 0xD9, *range(0xD0, 0xD8), 0x01}


def segments(header: bytes) -> Iterator[bytes]:
    """The marker segments of a JPEG's header bytes (jpeg.JpegRecord.raw); bytes the walk
    cannot parse end it."""
    pos = 0
    while pos + 2 <= len(header) and header[pos] == 0xFF:
        marker = header[pos + 1]
        if marker in _NO_LENGTH:
            yield header[pos: pos + 2]
            pos += 2
            continue
        if pos + 4 > len(header):
            return
        end = pos + 2 + int.from_bytes(header[pos + 2: pos + 4], "big")
        yield header[pos:end]
        pos = end


def _header(pixels: np.ndarray, path: str, quality: int, sampling=None,
            flags: tuple[str, ...] = ()) -> bytes:
    """Header bytes of ``pixels`` written by the current jpeglib library (8-bit tables)."""
    import jpeglib

    image = jpeglib.from_spatial(pixels)
    if sampling is not None:
        image.samp_factor = sampling
    image.write_spatial(path, qt=quality, flags=["+FORCE_BASELINE", *flags])
    return read_jpeg(Path(path).read_bytes()).raw


def encoder_headers(size: int = 32) -> tuple[list[bytes], list[bytes]]:
    """Header bytes of a small noise image written by each library at each quality and
    layout; and, apart, the templates: libjpeg 6b's plain baseline 4:2:0, 4:4:4 and
    grayscale headers at each quality, the most common headers there are."""
    import jpeglib

    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    headers, templates = [], []
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "sample.jpg")
        for library in LIBRARIES:
            with jpeglib.version(library):
                for quality in range(1, 101):
                    for sampling in SAMPLINGS:
                        for flags in ((), ("+PROGRESSIVE_MODE",), ("+OPTIMIZE_CODING",)):
                            headers.append(_header(pixels, path, quality, sampling, flags))
                    headers.append(_header(pixels[:, :, :1], path, quality))
        with jpeglib.version(LIBRARIES[0]):
            for quality in range(1, 101):
                templates += [_header(pixels, path, quality, SAMPLINGS[0]),
                              _header(pixels, path, quality, SAMPLINGS[-1]),
                              _header(pixels[:, :, :1], path, quality)]
    return headers, templates


def corpus_headers(corpus: Path) -> Iterator[bytes]:
    """Header bytes of every JPEG under ``corpus`` that the JPEG layer reads."""
    for path in sorted(corpus.rglob("*")):
        if path.suffix.lower() in (".jpg", ".jpeg") and "kodak" not in path.parts:
            try:
                yield read_jpeg(path.read_bytes()).raw
            except JpegzipError:  # a file the layer refuses has no header to learn from
                continue


def build(headers: Iterable[bytes], templates: list[bytes], longest: int) -> bytes:
    """Distinct segments of ``headers``, the most frequent last, then the templates whole
    (a header like one of them then codes as a few long matches)."""
    counts: collections.Counter[bytes] = collections.Counter()
    for header in headers:
        counts.update(s for s in segments(header) if 2 < len(s) <= longest)
    ranked = sorted(counts, key=lambda s: (counts[s], s))
    return b"".join(ranked + list(dict.fromkeys(templates)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="training JPEGs")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--longest", type=int, default=2048,
                        help="longest segment kept, in bytes (default 2048)")
    args = parser.parse_args()

    headers, templates = encoder_headers()
    data = build(itertools.chain(headers, corpus_headers(args.corpus)), templates, args.longest)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data)} bytes, SHA-256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
