"""Context models side by side on the same JPEGs.

Only the coefficient stream differs between columns: each column's .jrz is the container
written with the file's shared sections (headers and scan side information) and the
coefficient stream of that weights file, and its size is measured. Every round trip is
checked (decode, compare the planes). (Coefficient streams 2 and 3, compared here before
2026-12-07, were retired.)

Example (the shipped models: level 1 without the learned network, level 2 with it):
    python benchmarks/ablation.py benchmarks/data/kodak-q75 benchmarks/data/kodak-q90 \
        --weights weights/classic-v2.npz weights/learned-v2.npz --write
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


def model_sizes(files: list[Path], models: dict[str, object]) -> dict[str, list[int]]:
    """Per model, the .jrz size of every file (coefficient stream + shared sections)."""
    from jpegzip import codec, container
    from jpegzip.coding import decode_planes, encode_planes
    from jpegzip.jpeg import read_jpeg

    sizes: dict[str, list[int]] = {name: [] for name in models}
    for path in files:
        data = path.read_bytes()
        sections = codec.encode_lossless(data)
        record = read_jpeg(data, 1 << 30)
        planes = record.planes()
        quant = [np.maximum(t, 1) for t in record.layout.quant_tables]
        sampling = [(c.h, c.v) for c in record.layout.frame.components]
        for name, model in models.items():
            coded = encode_planes(planes, quant, sampling, model)
            back = decode_planes(coded, [p.shape[:2] for p in planes], quant, sampling, model)
            if not all(np.array_equal(a, b) for a, b in zip(planes, back, strict=True)):
                raise SystemExit(f"{path}: {name} does not round-trip")
            sections["coefficients"] = coded
            packed = container.write(container.Container(
                container.Mode.LOSSLESS, model.model_id, len(data), container.sha256(data),
                sections))
            sizes[name].append(len(packed))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path, help="folders of JPEGs")
    parser.add_argument("--weights", nargs="+", type=Path, required=True)
    parser.add_argument("--write", action="store_true",
                        help="refresh the 'ablation' section of benchmarks/RESULTS.md")
    args = parser.parse_args()
    use_repo_checkout()
    from jpegzip.model.weights import model_from_bytes

    models = {path.stem: model_from_bytes(path.read_bytes()) for path in args.weights}
    started = time.time()
    rows = []
    for folder in args.datasets:
        files = list_files(folder)
        original = sum(path.stat().st_size for path in files)
        sizes = model_sizes(files, models)
        cells = []
        for name in models:
            saving = 100 * (1 - sum(sizes[name]) / original)
            cells.append(f"{saving:.2f} %")
            print(f"{folder.name}\t{name}\t{saving:.2f} %", flush=True)
        rows.append(f"| {folder.name} ({len(files)} files) | " + " | ".join(cells) + " |")
    if args.write:
        table = "\n".join([
            "| set | " + " | ".join(models) + " |",
            "|---|" + "---|" * len(models),
            *rows,
        ])
        command = "python benchmarks/ablation.py " + " ".join(
            [display_path(d) for d in args.datasets]
            + ["--weights"] + [display_path(w) for w in args.weights] + ["--write"])
        text = (
            f"## Model ablation (savings vs the JPEG)\n\n"
            f"{dt.date.today()}, {machine_line()}, load {load_average()}, "
            f"checkout {git_revision()}, {time.time() - started:.0f} s.\n"
            f"Command: `{command}`\n\n{table}\n"
        )
        write_section(REPO_ROOT / "benchmarks" / "RESULTS.md", "ablation", text)


if __name__ == "__main__":
    sys.exit(main())
