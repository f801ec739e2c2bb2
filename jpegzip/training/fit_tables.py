"""Fit the lossy table ladder on training photos (never kodak/, the test set).

    python -m jpegzip.training.fit_tables --corpus ../shared/corpus/train \
        --out runs/lossy-tables.npz

For each ``lam`` of the ladder, coordinate descent over the band multipliers (luma and
chroma apart, DC fixed at 1) minimizes, summed over the photos, squared RGB error plus
``lam`` times the bits the shipped model codes the result in, with the per-coefficient
decisions at the same ``lam`` on top. Each step starts from the previous one and never
goes finer, so tables only coarsen as ``lam`` grows. Shipping is a copy into weights/
under a new name (and SHIPPED_LADDER).
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np

from ..coding import encode_planes
from ..coding.streams import ContextModel
from ..jpeg import read_jpeg
from ..lossy.ladder import Ladder, band_count, checked
from ..lossy.requantize import component_weights, rd_decisions
from ..model import load_default_model
from .fit_classic import corpus_files

GRID = (1.0, 1.125, 1.25, 1.375, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0)
BITS_PER_BYTE = 8


class _Photo:
    """One training JPEG, read once."""

    def __init__(self, data: bytes) -> None:
        record = read_jpeg(data)
        self.planes = [np.array(plane) for plane in record.planes()]
        self.tables = [np.maximum(t, 1).astype(np.int64) for t in record.layout.quant_tables]
        self.sampling = [(c.h, c.v) for c in record.layout.frame.components]
        self.weights = component_weights(self.sampling)

    def cost(self, lam: float, tables: list[np.ndarray], model: ContextModel) -> float:
        new = rd_decisions(self.planes, self.tables, self.sampling, lam, tables)
        error = sum(
            weight * float(np.square(plane.astype(np.int64) * table - n.astype(np.int64) * t,
                                     dtype=np.float64).sum())
            for plane, table, n, t, weight in zip(self.planes, self.tables, new, tables,
                                                  self.weights, strict=True)
        )  # fmt: skip
        bits = BITS_PER_BYTE * len(encode_planes(new, tables, self.sampling, model))
        return error + lam * bits


def _crop_jpeg(path: Path, crop: int, quality: int) -> bytes:
    """A centre crop of a photo saved by libjpeg (Pillow) at ``quality``, 4:2:0."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        left = max(0, (image.width - crop) // 2)
        top = max(0, (image.height - crop) // 2)
        image = image.crop((left, top, left + crop, top + crop))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality, subsampling=2)
    return out.getvalue()


def fit(photos: list[_Photo], lams: list[float], sweeps: int, model: ContextModel) -> np.ndarray:
    """Multipliers (len(lams), 2, bands) by coordinate descent on the grid, per lam."""
    current = np.ones((2, band_count()))
    ladder = []
    for lam in lams:

        def total(multipliers: np.ndarray, lam: float = lam) -> float:
            step = Ladder(np.array([lam]), multipliers[None])
            return sum(p.cost(lam, step.tables_at(lam, p.tables), model) for p in photos)

        floor = current.copy()
        best = total(current)
        started = time.time()
        for _ in range(sweeps):
            improved = False
            for klass in range(2):
                for band in range(1, band_count()):  # band 0 is DC
                    at = GRID.index(current[klass, band])
                    for value in GRID[max(at - 1, 0) : at + 3]:  # the neighbours on the grid
                        if value < floor[klass, band] or value == current[klass, band]:
                            continue
                        trial = current.copy()
                        trial[klass, band] = value
                        cost = total(trial)
                        if cost < best:
                            best, current, improved = cost, trial, True
            if not improved:
                break
        ladder.append(current.copy())
        print(f"lam {lam:g}: {time.time() - started:.0f} s, luma {current[0, 1:].tolist()}, "
              f"chroma {current[1, 1:].tolist()}", flush=True)  # fmt: skip
    return np.array(ladder)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--photos", type=int, default=8, help="pristine (PNG) photos to use")
    parser.add_argument("--qualities", type=int, nargs="+", default=[60, 75, 90])
    parser.add_argument("--lams", type=float, nargs="+", default=[4 * 2**i for i in range(11)])
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--crop", type=int, default=384, help="centre crop, pixels a side")
    args = parser.parse_args(argv)
    if "kodak" in str(args.corpus.resolve()).lower():
        parser.error("kodak/ is the test set; never fit on it")
    pristine = [p for p in corpus_files(args.corpus, 0) if p.suffix.lower() == ".png"]
    chosen = pristine[:: max(1, len(pristine) // args.photos)][: args.photos]
    photos = [_Photo(_crop_jpeg(path, args.crop, quality))
              for path in chosen for quality in args.qualities]  # fmt: skip
    print(f"{len(photos)} JPEGs from {len(chosen)} photos at q{args.qualities}", flush=True)
    model = load_default_model().on_device("cpu")
    multipliers = fit(photos, sorted(args.lams), args.sweeps, model)
    ladder = checked(Ladder(np.array(sorted(args.lams)), multipliers))
    info = (f"photos={[p.name for p in chosen]} qualities={args.qualities} "
            f"sweeps={args.sweeps} grid={list(GRID)}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, lams=ladder.lams, multipliers=ladder.multipliers, info=np.array(info))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
