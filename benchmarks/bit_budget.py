"""Where the coefficient stream's bits go, and what the next model could still win.

Per set, with the default model's fixed tables (ideal code lengths, before the coder
adapts them to the image; the *real* column is the stream as written, for comparison):
- the share of nonzero counts, AC and DC, luma and chroma; of the two checkerboard halves
  (the second sees the same frequency in its four neighbours); of the first frequencies;
- the sign bits: what a nonzero AC coefficient costs beyond its magnitude;
- the per-set oracle: the same contexts with the best tables for exactly these files (no
  table cost). A small gap says better tables cannot help; new context information must.
- Lepton-style edge prediction (``--edge-prediction``): for the blocks of the second half,
  the first row and column coefficients predicted from the neighbours' edges (the 1-D DCT
  of the shared block edge must match, T.81 A.3.3 basis); the bits of those coefficients
  under a context of neighbour magnitudes, without and with the prediction's bucket, the
  tables counted on one half of the files and measured on the other.

    python benchmarks/bit_budget.py benchmarks/data/kodak-q75 benchmarks/data/kodak-q90 \
        --edge-prediction --write
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
from benchlib import (
    REPO_ROOT,
    display_path,
    git_revision,
    list_files,
    load_average,
    machine_line,
    use_repo_checkout,
    write_section,
)

FIRST_FREQUENCIES = 2  # zigzag 1 and 2: (0, 1) and (1, 0)
EDGE_ZIGZAG = {1, 2, 3, 5, 6, 9, 10, 14, 15, 20, 21, 27, 28, 35}  # first row and column


def readable(files: list[Path]) -> list[Path]:
    """The files the JPEG layer takes (the others are stored whole, with no model bits)."""
    from jpegzip.errors import JpegzipError
    from jpegzip.jpeg import read_jpeg

    taken = []
    for path in files:
        try:
            read_jpeg(path.read_bytes())
        except JpegzipError:
            continue
        taken.append(path)
    return taken


def _read(path: Path):
    from jpegzip.jpeg import read_jpeg

    record = read_jpeg(path.read_bytes())
    quant = [np.maximum(t, 1) for t in record.layout.quant_tables]
    sampling = [(c.h, c.v) for c in record.layout.frame.components]
    return record.planes(), quant, sampling


def budget(files: list[Path]) -> dict[str, float]:
    """Bits by part (ideal, fixed tables), sign bits, the per-set oracle, the real size."""
    from jpegzip.coding import encode_planes
    from jpegzip.coding.symbols import K, residuals_to_symbols, symbol_bits_table
    from jpegzip.model import load_default_model
    from jpegzip.model.classic import AC, NNZ

    model = load_default_model()
    probabilities = model.probabilities / model.probabilities.sum(axis=1, keepdims=True)
    raw_bits = symbol_bits_table()
    lengths = -np.log2(probabilities) + raw_bits[None, :]
    counts = np.zeros_like(probabilities)
    bits = dict.fromkeys(("nnz Y", "nnz C", "AC Y", "AC C", "DC Y", "DC C", "half 0",
                          "half 1", "first", "sign", "edge", "real", "jpeg"), 0.0)
    for path in files:
        planes, quant, sampling = _read(path)
        bits["jpeg"] += 8 * path.stat().st_size
        bits["real"] += 8 * len(encode_planes(planes, quant, sampling, model))
        session = model.begin([p.shape[:2] for p in planes], quant, sampling, planes)
        for step in range(session.step_count):
            c, phase, k, half = session.steps[step]
            pred, ctx, values = session.encode_step(step)
            if pred.size == 0:
                continue
            sym = np.empty(pred.size, np.int32)
            residuals_to_symbols((values - pred).astype(np.int32), sym)
            np.add.at(counts, (ctx, sym), 1)
            cost = float(lengths[ctx, sym].sum())
            part = "nnz" if phase == NNZ else "AC" if phase == AC else "DC"
            bits[f"{part} {'C' if c in (1, 2) else 'Y'}"] += cost
            if phase != AC:
                continue
            bits[f"half {half}"] += cost
            bits["first"] += cost if k <= FIRST_FREQUENCIES else 0.0
            if c == 0 and half == 1 and k in EDGE_ZIGZAG:
                bits["edge"] += cost
            literal = (sym != K) & (sym < 2 * K + 1)  # nonzero, not escaped
            own = probabilities[ctx[literal], sym[literal]]
            mirror = probabilities[ctx[literal], 2 * K - sym[literal]]
            bits["sign"] += float(np.log2((own + mirror) / own).sum())
    seen = counts.sum(axis=1, keepdims=True)
    best = np.where(counts > 0, counts / np.maximum(seen, 1), 1.0)
    bits["oracle"] = float(-(counts * np.log2(best)).sum() + (counts * raw_bits).sum())
    bits["fixed"] = sum(bits[f"{p} {c}"] for p in ("nnz", "AC", "DC") for c in "YC")
    return bits


_BASIS = np.array([[(np.sqrt(1 / 8) if v == 0 else 0.5) * np.cos((2 * x + 1) * v * np.pi / 16)
                    for x in range(8)] for v in range(8)])  # [frequency, pixel]
_AROUND = ((0, -1), (0, 1), (-1, 0), (1, 0))  # the four axial neighbours (row, column)


def _edge_samples(planes, quant) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per edge coefficient of the luma's second-half blocks: (value, neighbour magnitude,
    Lepton-style prediction), the prediction in quantized units."""
    plane = planes[0].astype(np.float64)
    height, width = plane.shape[:2]
    steps = np.asarray(quant[0], np.float64).reshape(8, 8)
    coefficients = plane.reshape(height, width, 8, 8) * steps  # dequantized, [u, v]
    rows, cols = np.meshgrid(np.arange(1, height - 1), np.arange(1, width - 1), indexing="ij")
    second = (rows + cols) % 2 == 1
    i, j = rows[second], cols[second]
    block = coefficients[i, j]
    out = []
    for u in range(1, 8):
        for vertical in (True, False):  # (u, 0) from left/right; (0, u) from above/below
            if vertical:
                before, after = coefficients[i, j - 1][:, u, :], coefficients[i, j + 1][:, u, :]
                own, step, value = block[:, u, 1:], steps[u, 0], plane[i, j, u * 8]
                near = [plane[i + di, j + dj, u * 8] for di, dj in _AROUND]
            else:
                before, after = coefficients[i - 1, j][:, :, u], coefficients[i + 1, j][:, :, u]
                own, step, value = block[:, 1:, u], steps[0, u], plane[i, j, u]
                near = [plane[i + di, j + dj, u] for di, dj in _AROUND]
            from_before = ((before * _BASIS[:, 7]).sum(1) - (own * _BASIS[1:, 0]).sum(1))
            from_after = ((after * _BASIS[:, 0]).sum(1) - (own * _BASIS[1:, 7]).sum(1))
            prediction = (from_before / _BASIS[0, 0] + from_after / _BASIS[0, 7]) / 2 / step
            magnitude = sum(np.abs(n) for n in near)
            out.append((value, magnitude, prediction))
    return out


def _held_out_bits(train: tuple, test: tuple, with_prediction: bool) -> float:
    """Bits of the test values under tables counted on the training values (context: the
    neighbour-magnitude bucket, and the prediction's bucket when asked), smoothed towards
    the magnitude-only tables."""
    def contexts(magnitude, prediction):
        base = np.searchsorted([1, 2, 3, 5, 8, 12, 18, 27, 40], magnitude, side="right")
        if not with_prediction:
            return base, base
        sign, size = np.sign(prediction), np.searchsorted(
            [0.5, 1.5, 2.5, 4.5, 8.5, 16.5], np.abs(prediction), side="right")
        return base * 32 + (sign * size + 10).astype(np.int64), base

    values = [np.clip(v, -60, 60).astype(np.int64) + 60 for v in (train[0], test[0])]
    (fine_train, coarse_train), (fine_test, coarse_test) = (contexts(*train[1:]),
                                                            contexts(*test[1:]))
    size = int(max(fine_train.max(), fine_test.max())) + 1
    overall = np.bincount(values[0], minlength=121) + 0.5
    overall /= overall.sum()
    coarse = np.zeros((10, 121))
    np.add.at(coarse, (coarse_train, values[0]), 1)
    coarse = (coarse + 4 * overall) / (coarse.sum(1, keepdims=True) + 4)
    fine = np.zeros((size, 121))
    np.add.at(fine, (fine_train, values[0]), 1)
    parent = np.zeros(size, np.int64)
    parent[fine_train], parent[fine_test] = coarse_train, coarse_test
    fine = (fine + 16 * coarse[parent]) / (fine.sum(1, keepdims=True) + 16)
    return float(-np.log2(fine[fine_test, values[1]]).sum())


def edge_prediction(files: list[Path]) -> float:
    """The fraction of the held-out bits of the second half's edge coefficients (luma)
    that a context on the prediction saves: two folds, tables counted on one half of the
    files and measured on the other."""
    halves = [files[: len(files) // 2], files[len(files) // 2:]]
    pooled = []
    for group in halves:
        samples = [_edge_samples(*_read(path)[:2]) for path in group]
        pooled.append([tuple(np.concatenate([s[e][part] for s in samples]) for part in range(3))
                       for e in range(len(samples[0]))])
    folds = (pooled, pooled[::-1])
    without = sum(_held_out_bits(a, b, False) for p in folds for a, b in zip(*p, strict=True))
    with_it = sum(_held_out_bits(a, b, True) for p in folds for a, b in zip(*p, strict=True))
    return 1 - with_it / without


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path, help="folders of JPEGs")
    parser.add_argument("--edge-prediction", action="store_true",
                        help="also measure Lepton-style edge prediction (held out)")
    parser.add_argument("--write", action="store_true",
                        help="refresh the 'bit-budget' section of benchmarks/RESULTS.md")
    args = parser.parse_args()
    use_repo_checkout()
    started = time.time()
    rows, edge_rows = [], []
    for folder in args.datasets:
        files = readable(list_files(folder))
        b = budget(files)
        share = {key: 100 * b[key] / b["fixed"] for key in b}
        rows.append(
            f"| {folder.name} ({len(files)}) | {100 * (1 - b['fixed'] / b['jpeg']):.2f} % | "
            f"{100 * (1 - b['real'] / b['jpeg']):.2f} % | "
            f"{100 * (1 - b['oracle'] / b['jpeg']):.2f} % | "
            + " | ".join(f"{share[k]:.1f}" for k in ("nnz Y", "AC Y", "DC Y", "nnz C", "AC C",
                                                     "DC C", "half 0", "half 1", "first",
                                                     "sign")) + " |")
        print(rows[-1], flush=True)
        if args.edge_prediction:
            saved = edge_prediction(files)
            edge_rows.append(f"| {folder.name} | {share['edge']:.1f} % | {100 * saved:.1f} % "
                             f"| {share['edge'] * saved:.2f} % |")
            print(edge_rows[-1], flush=True)
    if not args.write:
        return 0
    command = "python benchmarks/bit_budget.py " + " ".join(
        [display_path(d) for d in args.datasets]
        + (["--edge-prediction"] if args.edge_prediction else []) + ["--write"])
    text = (
        "## Bit budget of the coefficient stream\n\n"
        f"{dt.date.today()}, {machine_line()}, load {load_average()}, "
        f"checkout {git_revision()}, {time.time() - started:.0f} s.\n"
        f"Command: `{command}`\n\n"
        "Savings of the coefficient stream alone (no container): *fixed* = ideal code length "
        "with the shipped tables, *real* = the stream as written (the adaptive coder, stream "
        "4, which starts from those tables and adds its side contexts), *oracle* = the same "
        "contexts with the best fixed tables for exactly these files. Then the share of the "
        "fixed-table bits (%) by part; *first* = zigzag 1-2; *sign* = what nonzero AC "
        "coefficients cost beyond their magnitude.\n\n"
        "| set | fixed | real | oracle | nnz Y | AC Y | DC Y | nnz C | AC C | DC C | "
        "half 0 | half 1 | first | sign |\n|---|" + "---|" * 13 + "\n" + "\n".join(rows) + "\n"
    )
    if edge_rows:
        text += (
            "\nLepton-style edge prediction for the second checkerboard half (luma, first "
            "row and column, 14 coefficients): their share of the model's bits, the "
            "fraction of their bits a context on the prediction saves over a context of "
            "neighbour magnitudes alone (tables counted on one half of the files, measured "
            "on the other, both ways), and that fraction applied to their share. The model's "
            "contexts are richer than neighbour magnitudes, so the last column is an upper "
            "estimate. It needs every coefficient of the neighbours and the block's own "
            "interior decoded first, which the frequency-by-frequency order does not give; "
            "an estimate, not a model.\n\n"
            "| set | their share | saved of them | saved of all |\n|---|---|---|---|\n"
            + "\n".join(edge_rows) + "\n"
        )
    write_section(REPO_ROOT / "benchmarks" / "RESULTS.md", "bit-budget", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
