"""Fit the classic model's tables: count (context, symbol) pairs over a JPEG corpus.

    python -m jpegzip.training.fit_classic --corpus ../shared/corpus/train \
        --out weights/classic-v2.npz

Every training photo is used as it is (when it is a JPEG) and re-encoded with libjpeg
(Pillow) at a few random qualities (mostly 70-95, from 30 to 100; JPEG sources only below
the quality they were saved at) and subsamplings (4:2:0, 4:2:2, 4:4:4, grayscale), so the
tables cover every quality. The PNGs, the only pristine sources, get more re-encodes.
The contexts are the model's own (the encoder path with uniform tables), so the counts are
exactly what the coder will see. Sparse contexts are smoothed towards their family (a
coarser context), families towards their section; then contexts with similar statistics
share tables (clustering.py). Needs Pillow (the test extra). Never point it at kodak/.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from ..coding import ALPHABET, iter_symbols
from ..model.classic import AC_BASE, CONTEXT_COUNT, DC_BASE, context_families, context_groups
from ..model.net import net_from_arrays
from ..model.weights import save_weights, untrained_model
from .clustering import cluster_contexts

SUBSAMPLINGS = [("420", 0.55), ("444", 0.2), ("422", 0.1), ("gray", 0.15)]


# the IJG (libjpeg) luminance table at quality 50, natural order
IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
])


def source_quality(path: Path) -> int:
    """IJG quality a JPEG was most likely saved at (100 for anything else)."""
    if path.suffix.lower() not in (".jpg", ".jpeg"):
        return 100
    _, quants, _ = read_planes(path.read_bytes())
    scale = float(np.median(quants[0].astype(np.float64) * 100.0 / IJG_LUMA))
    quality = 5000.0 / scale if scale > 100 else (200.0 - scale) / 2.0
    return int(np.clip(round(quality), 1, 100))


def pick_variants(index: int, path: Path, count: int, seed: int,
                  cap: int = 100) -> list[tuple[str, int, str]]:
    """(path, quality, subsampling) jobs for one photo; quality 0 means 'the file as is'.

    Re-encodes stay below `cap` (a few steps under the quality the photo was already
    saved at), so requantization artifacts do not pass for high-quality statistics.
    """
    rng = random.Random(seed * 1_000_003 + index)
    jobs = [(str(path), 0, "asis")] if path.suffix.lower() in (".jpg", ".jpeg") else []
    for _ in range(count):
        roll = rng.random()
        quality = (rng.randint(70, 95) if roll < 0.7 else rng.randint(30, 69) if roll < 0.9
                   else rng.randint(96, 100))
        quality = min(quality, max(30, cap - 3 - rng.randint(0, 10)))
        sub = rng.choices([s for s, _ in SUBSAMPLINGS], [w for _, w in SUBSAMPLINGS])[0]
        jobs.append((str(path), quality, sub))
    return jobs


def jpeg_bytes(path: str, quality: int, sub: str) -> bytes:
    """The training JPEG for one job."""
    if quality == 0:
        return Path(path).read_bytes()
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("L" if sub == "gray" else "RGB")
        out = io.BytesIO()
        extra = {} if sub == "gray" else {"subsampling": {"444": 0, "422": 1, "420": 2}[sub]}
        image.save(out, format="JPEG", quality=quality, **extra)
    return out.getvalue()


def read_planes(data: bytes):
    """Quantized planes (natural order), quantization tables and sampling, via jpeglib."""
    import jpeglib

    with tempfile.NamedTemporaryFile(suffix=".jpg", delete=False) as handle:
        handle.write(data)
        name = handle.name
    try:
        jpeg = jpeglib.read_dct(name)
        comps = [jpeg.Y] + ([jpeg.Cb, jpeg.Cr] if jpeg.Cb is not None else [])
        planes = [np.ascontiguousarray(c.reshape(c.shape[0], c.shape[1], 64), np.int16)
                  for c in comps]
        quants = [jpeg.qt[jpeg.quant_tbl_no[i]].reshape(64).astype(np.uint16)
                  for i in range(len(planes))]
        sampling = [tuple(int(x) for x in jpeg.samp_factor[i]) for i in range(len(planes))]
    finally:
        os.unlink(name)
    return planes, quants, sampling


_LEARNED: list = []  # per worker: (network, mix) when fitting a learned model's tables


def _use_learned(net_path: str | None, mix: list[int]) -> None:
    """Pool initializer: load the frozen network (net.npz from jpegzip.train) once."""
    _LEARNED.clear()
    if net_path:
        import torch

        torch.set_num_threads(1)  # one process per core already
        with np.load(net_path, allow_pickle=False) as arrays:
            _LEARNED.append((net_from_arrays(arrays), list(mix)))


def count_job(job: tuple[str, int, str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Sparse counts of (context, symbol) for one training JPEG, and its size in bytes."""
    data = jpeg_bytes(*job)
    planes, quants, sampling = read_planes(data)
    model = untrained_model(ALPHABET, _LEARNED[0] if _LEARNED else None)
    keys = [ctx.astype(np.int64) * ALPHABET + sym
            for ctx, sym in iter_symbols(planes, quants, sampling, model)]
    keys, counts = np.unique(np.concatenate(keys), return_counts=True)
    return keys, counts, len(data)


def smooth(counts: np.ndarray, family_weight: float, section_weight: float) -> np.ndarray:
    """Probabilities: each context backs off to its family, each family to its section."""
    counts = counts.astype(np.float64)
    families = context_families()
    fam_counts = np.zeros((families.max() + 1, ALPHABET))
    np.add.at(fam_counts, families, counts)
    section = np.searchsorted([AC_BASE, DC_BASE], np.arange(CONTEXT_COUNT), side="right")
    fam_section = np.zeros(families.max() + 1, np.int64)
    fam_section[families] = section
    sec_counts = np.zeros((3, ALPHABET))
    np.add.at(sec_counts, section, counts)
    sec_p = (sec_counts + 0.5) / (sec_counts + 0.5).sum(axis=1, keepdims=True)
    fam_p = (fam_counts + section_weight * sec_p[fam_section]) / (
        fam_counts.sum(axis=1, keepdims=True) + section_weight)
    return (counts + family_weight * fam_p[families]) / (
        counts.sum(axis=1, keepdims=True) + family_weight)


def build_tables(counts: np.ndarray, smoothed: np.ndarray, sizes: tuple[int, int, int],
                 merge_below: float, weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the contexts (at most sizes[section] tables per step group); returns the
    context map and the tables' probabilities."""
    groups = np.unique(context_groups(), return_inverse=True)[1]
    section_of_group = np.zeros(groups.max() + 1, np.int64)
    section_of_group[groups] = np.searchsorted([AC_BASE, DC_BASE], np.arange(CONTEXT_COUNT),
                                               side="right")
    context_map = cluster_contexts(counts, smoothed, groups,
                                   np.asarray(sizes)[section_of_group], merge_below)
    tables = context_map.max() + 1
    table_counts = np.zeros((tables, ALPHABET))
    np.add.at(table_counts, context_map, counts)
    mass = counts.sum(axis=1, keepdims=True) + 1.0
    prior = np.zeros((tables, ALPHABET))
    np.add.at(prior, context_map, smoothed * mass)
    prior /= prior.sum(axis=1, keepdims=True)
    probabilities = (table_counts + weight * prior) / (
        table_counts.sum(axis=1, keepdims=True) + weight)
    return context_map, probabilities


def to_frequencies(probabilities: np.ndarray) -> np.ndarray:
    """uint16 frequencies (row sums near 65535), every symbol at least 1."""
    return np.clip(np.rint(probabilities * 65535), 1, 65535).astype(np.uint16)


def corpus_files(corpus: Path, holdout: int) -> list[Path]:
    files = sorted(p for p in corpus.rglob("*")
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if holdout:
        files = [p for i, p in enumerate(files) if i % holdout]
    return files


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", type=int, default=2, help="re-encodes per JPEG photo")
    parser.add_argument("--png-variants", type=int, default=8,
                        help="re-encodes per lossless (PNG) photo, the only pristine sources")
    parser.add_argument("--holdout", type=int, default=0,
                        help="skip every N-th photo (a validation split); 0 uses all")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N photos")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--family-weight", type=float, default=8.0)
    parser.add_argument("--section-weight", type=float, default=2.0)
    parser.add_argument("--tables", type=int, nargs=3, default=(8, 16, 12),
                        metavar=("NNZ", "AC", "DC"),
                        help="most tables per coding step, per section")
    parser.add_argument("--merge-bits", type=float, default=2.0,
                        help="merge two tables while that costs fewer bits per training JPEG")
    parser.add_argument("--save-counts", type=Path, help="also write the raw counts (.npy)")
    parser.add_argument("--counts", type=Path, help="reuse raw counts instead of counting")
    parser.add_argument("--net", type=Path,
                        help="fit a learned model's tables: its frozen network (net.npz)")
    parser.add_argument("--mix", type=int, nargs=2, default=(3, 2), metavar=("HALF0", "HALF1"),
                        help="weight of the network's estimate out of 4, per checkerboard half")
    args = parser.parse_args(argv)
    if "kodak" in str(args.corpus.resolve()).lower():
        parser.error("kodak/ is the test set; never fit on it")
    files = corpus_files(args.corpus, args.holdout)
    if args.limit:
        files = files[: args.limit]
    jobs = []
    for i, path in enumerate(files):
        pristine = path.suffix.lower() not in (".jpg", ".jpeg")
        count = args.png_variants if pristine else args.variants
        jobs += pick_variants(i, path, count, args.seed, source_quality(path))
    start = time.time()
    if args.counts:
        counts = np.load(args.counts, allow_pickle=False)
        total_bytes = 0
    else:
        counts, total_bytes = count_all(jobs, args.workers, start, args.net, list(args.mix))
    if args.save_counts:
        np.save(args.save_counts, counts)
    smoothed = smooth(counts, args.family_weight, args.section_weight)
    context_map, probabilities = build_tables(counts, smoothed, args.tables,
                                              args.merge_bits * len(jobs), args.family_weight)
    bits = -(counts * np.log2(probabilities[context_map])).sum()
    info = (f"photos={len(files)} jpegs={len(jobs)} variants={args.variants} "
            f"png_variants={args.png_variants} seed={args.seed} "
            f"holdout={args.holdout} symbols={int(counts.sum())} tables={len(probabilities)} "
            f"max_tables_per_step={list(args.tables)} merge_bits={args.merge_bits} "
            f"family_weight={args.family_weight} "
            f"section_weight={args.section_weight} date={time.strftime('%Y-%m-%d')}")
    _use_learned(str(args.net) if args.net else None, list(args.mix))
    if args.net:
        info += f" net={args.net.name} mix={list(args.mix)}"
    data = save_weights(args.out, to_frequencies(probabilities), context_map,
                        _LEARNED[0] if _LEARNED else None, info=np.array(info))
    print(f"{info}\ntraining jpeg bytes {total_bytes}, ideal coded {bits / 8:.0f}, "
          f"{time.time() - start:.0f} s, {args.out} {len(data)} bytes")


def count_all(jobs: list[tuple[str, int, str]], workers: int, start: float,
              net_path: Path | None = None, mix: list[int] | None = None
              ) -> tuple[np.ndarray, int]:
    """Sum of the per-JPEG counts, (contexts, alphabet), and the total JPEG bytes."""
    counts = np.zeros(CONTEXT_COUNT * ALPHABET, np.int64)
    total_bytes = 0
    learned = (str(net_path) if net_path else None, mix or [])
    with Pool(workers, initializer=_use_learned, initargs=learned) as pool:
        parts = pool.imap_unordered(count_job, jobs, chunksize=4)
        for done, (keys, part, size) in enumerate(parts):
            counts[keys] += part
            total_bytes += size
            if done % 200 == 0:
                print(f"{done}/{len(jobs)} jpegs, {time.time() - start:.0f} s", flush=True)
    return counts.reshape(CONTEXT_COUNT, ALPHABET), total_bytes


if __name__ == "__main__":
    main()
