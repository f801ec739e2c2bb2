"""Build the benchmark JPEG sets from the Kodak PNGs with libjpeg (IJG 6b, through jpeglib).

Sets (written to benchmarks/data/<set>/, git-ignored):

- kodak-q50, kodak-q75, kodak-q90: baseline, 4:2:0, standard Huffman tables
- kodak-q95-444: baseline, 4:4:4
- kodak-gray-q85: grayscale (Pillow's ITU-R 601 luma), baseline
- kodak-progressive-q85: progressive (libjpeg's default scan script), 4:2:0
- kodak-128-q75, kodak-64-q75: Kodak resized (Lanczos) to 128x128 and 64x64, q75 4:2:0:
  thumbnail-sized files, where the container's framing weighs most
- large: q90 4:2:0 upscales of Kodak photos (Lanczos), two of ~12 MP and one of ~24 MP.
  These are synthetic: much smoother than real camera files of that size.

Output is deterministic for fixed jpeglib and Pillow versions; a MANIFEST.tsv with the
SHA-256 of every file is written next to the sets so that runs can be compared.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jpeglib
import numpy as np
import PIL
from benchlib import DATA_DIR, SHARED_CORPUS, display_path
from PIL import Image

LIBJPEG_VERSION = "6b"  # the IJG reference encoder; byte-identical to Pillow at these settings


@dataclass(frozen=True)
class KodakSet:
    """One Kodak-derived data set: libjpeg settings applied to every PNG."""

    quality: int
    sampling: str | None  # "4:2:0", "4:4:4" or None for grayscale
    progressive: bool = False
    side: int | None = None  # resized to side x side pixels (Lanczos); None: as they are


KODAK_SETS: dict[str, KodakSet] = {
    "kodak-q50": KodakSet(50, "4:2:0"),
    "kodak-q75": KodakSet(75, "4:2:0"),
    "kodak-q90": KodakSet(90, "4:2:0"),
    "kodak-q95-444": KodakSet(95, "4:4:4"),
    "kodak-gray-q85": KodakSet(85, None),
    "kodak-progressive-q85": KodakSet(85, "4:2:0", progressive=True),
    "kodak-128-q75": KodakSet(75, "4:2:0", side=128),
    "kodak-64-q75": KodakSet(75, "4:2:0", side=64),
}

# (source PNG, width, height): Lanczos upscales, all q90 4:2:0.
LARGE_SET: list[tuple[str, int, int]] = [
    ("kodim05.png", 4240, 2832),  # 12.0 MP
    ("kodim08.png", 4240, 2832),  # 12.0 MP
    ("kodim13.png", 6000, 4000),  # 24.0 MP
]
LARGE_QUALITY = 90

ALL_SETS = [*KODAK_SETS, "large"]

DESCRIPTIONS = {
    "kodak-q50": "Kodak, libjpeg 6b q50, baseline 4:2:0, standard Huffman tables.",
    "kodak-q75": "Kodak, libjpeg 6b q75, baseline 4:2:0, standard Huffman tables.",
    "kodak-q90": "Kodak, libjpeg 6b q90, baseline 4:2:0, standard Huffman tables.",
    "kodak-q95-444": "Kodak, libjpeg 6b q95, baseline 4:4:4, standard Huffman tables.",
    "kodak-gray-q85": "Kodak converted to grayscale, libjpeg 6b q85, baseline.",
    "kodak-progressive-q85": "Kodak, libjpeg 6b q85, progressive (default scan script), 4:2:0.",
    "kodak-128-q75": "Kodak resized to 128x128 (Lanczos), libjpeg 6b q75, baseline 4:2:0.",
    "kodak-64-q75": "Kodak resized to 64x64 (Lanczos), libjpeg 6b q75, baseline 4:2:0.",
    "large": "**Synthetic** camera-sized files: Kodak photos upscaled with Lanczos (kodim05, "
             "kodim08 to 4240×2832 = 12 MP; kodim13 to 6000×4000 = 24 MP), libjpeg 6b q90 "
             "4:2:0. Far smoother than real camera files, so savings here overstate what real "
             "12–24 MP photos give; use this set for speed and memory at size.",
}


def write_jpeg(pixels: np.ndarray, path: Path, quality: int, sampling: str | None,
               progressive: bool = False) -> None:
    """Encode RGB (H, W, 3) or grayscale (H, W, 1) uint8 pixels with libjpeg."""
    im = jpeglib.from_spatial(np.ascontiguousarray(pixels))
    if sampling is not None:
        im.samp_factor = sampling
    flags = ["+PROGRESSIVE_MODE"] if progressive else []
    im.write_spatial(str(path), qt=quality, flags=flags)


def load_rgb(path: Path, side: int | None = None) -> np.ndarray:
    """A PNG as (H, W, 3) uint8 RGB, resized to side x side if given."""
    with Image.open(path) as im:
        return np.asarray(_resized(im.convert("RGB"), side))


def load_gray(path: Path, side: int | None = None) -> np.ndarray:
    """A PNG as (H, W, 1) uint8 luma, resized to side x side if given."""
    with Image.open(path) as im:
        return np.asarray(_resized(im.convert("L"), side))[:, :, None]


def _resized(image: Image.Image, side: int | None) -> Image.Image:
    return image if side is None else image.resize((side, side), Image.Resampling.LANCZOS)


def build_kodak_set(name: str, spec: KodakSet, pngs: list[Path], out: Path) -> list[Path]:
    """Encode every Kodak PNG with the set's settings."""
    written = []
    loader: Callable[[Path, int | None], np.ndarray] = (
        load_gray if spec.sampling is None else load_rgb)
    for png in pngs:
        dst = out / (png.stem + ".jpg")
        write_jpeg(loader(png, spec.side), dst, spec.quality, spec.sampling, spec.progressive)
        written.append(dst)
    return written


def build_large_set(kodak: Path, out: Path) -> list[Path]:
    """Upscale a few Kodak photos to camera-like sizes and encode them at q90 4:2:0."""
    written = []
    for name, width, height in LARGE_SET:
        with Image.open(kodak / name) as im:
            big = im.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        dst = out / f"{Path(name).stem}-{width}x{height}.jpg"
        write_jpeg(np.asarray(big), dst, LARGE_QUALITY, "4:2:0")
        written.append(dst)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=SHARED_CORPUS / "kodak",
                        help="folder with kodim01.png..kodim24.png "
                             "(default: ../shared/corpus/kodak next to the repository)")
    parser.add_argument("--out", type=Path, default=DATA_DIR,
                        help="where the sets are written (default: benchmarks/data)")
    parser.add_argument("--sets", default=",".join(ALL_SETS),
                        help=f"comma-separated subset of: {', '.join(ALL_SETS)}")
    args = parser.parse_args(argv)

    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = sorted(set(sets) - set(ALL_SETS))
    if unknown:
        parser.error(f"unknown set(s): {', '.join(unknown)}")
    pngs = sorted(args.corpus.glob("kodim*.png"))
    if not pngs:
        print(f"no kodim*.png in {display_path(args.corpus)}; pass --corpus", file=sys.stderr)
        return 2

    jpeglib.version.set(LIBJPEG_VERSION)
    rows = []
    for name in sets:
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.jpg"):
            old.unlink()
        if name == "large":
            files = build_large_set(args.corpus, folder)
        else:
            files = build_kodak_set(name, KODAK_SETS[name], pngs, folder)
        total = 0
        for f in files:
            data = f.read_bytes()
            total += len(data)
            rows.append((name, f.name, len(data), hashlib.sha256(data).hexdigest()))
        print(f"{name:24s} {len(files):3d} files {total / 1e6:8.2f} MB -> {display_path(folder)}")

    manifest = args.out / "MANIFEST.tsv"
    if manifest.exists():  # keep the rows of sets not rebuilt this time
        for line in manifest.read_text().splitlines()[2:]:
            old = line.split("\t")
            if len(old) == 4 and old[0] not in sets:
                rows.append((old[0], old[1], int(old[2]), old[3]))
    rows.sort()
    (args.out / "SETS.tsv").write_text("".join(f"{k}\t{v}\n" for k, v in DESCRIPTIONS.items()))
    with manifest.open("w") as fh:
        fh.write(f"# libjpeg {LIBJPEG_VERSION} via jpeglib {jpeglib.__version__}, "
                 f"Pillow {PIL.__version__}\n")
        fh.write("set\tfile\tbytes\tsha256\n")
        for row in rows:
            fh.write("\t".join(str(x) for x in row) + "\n")
    print(f"manifest: {display_path(manifest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
