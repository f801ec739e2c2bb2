"""What coding a large image in parts costs: the same files coded whole and in parts.

For each file, the coefficient stream's size at one level with the image coded as one
part, with the shipped rule (coding/parts.py) and with smaller parts, every round trip
checked; the cost is in points of savings against the JPEG's size.

    python benchmarks/parts.py benchmarks/data/large ../shared/corpus/edge/lepton/slrindoor.jpg \\
        --write
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

# the rules tried: (name, SPLIT_FROM, MIN_PARTS, PART_BLOCKS); one part first
RULES = (
    ("one part", 1 << 62, 1, 1 << 62),
    ("shipped: 3 parts, at most 2^18 blocks each", 1 << 17, 3, 1 << 18),
    ("parts of at most 2^17 blocks", 1 << 17, 1, 1 << 17),
    ("parts of at most 2^16 blocks", 1 << 16, 1, 1 << 16),
)


def part_sizes(path: Path, level: int) -> tuple[int, list[tuple]]:
    """The JPEG's size and, per rule, (parts, coefficient stream bytes)."""
    from jpegzip import codec
    from jpegzip.coding import decode_planes, encode_planes, parts
    from jpegzip.jpeg import read_jpeg

    data = path.read_bytes()
    record = read_jpeg(data, 1 << 30)
    planes = record.planes()
    quant = [np.maximum(t, 1) for t in record.layout.quant_tables]
    sampling = [(c.h, c.v) for c in record.layout.frame.components]
    model = codec._model(level).on_device("cpu")
    shipped = parts.SPLIT_FROM, parts.MIN_PARTS, parts.PART_BLOCKS
    rows = []
    try:
        for name, *rule in RULES:
            parts.SPLIT_FROM, parts.MIN_PARTS, parts.PART_BLOCKS = rule
            count = len(parts.bands([p.shape[:2] for p in planes], sampling))
            coded = encode_planes(planes, quant, sampling, model, threads=2)
            back = decode_planes(coded, [p.shape[:2] for p in planes], quant, sampling, model,
                                 threads=2)
            if not all(np.array_equal(a, b) for a, b in zip(planes, back, strict=True)):
                raise SystemExit(f"{path}: {name} does not round-trip")
            rows.append((count, len(coded)))
    finally:
        parts.SPLIT_FROM, parts.MIN_PARTS, parts.PART_BLOCKS = shipped
    return len(data), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", type=Path, help="JPEGs or folders of JPEGs")
    parser.add_argument("--level", type=int, default=2)
    parser.add_argument("--write", action="store_true",
                        help="refresh the 'parts' section of benchmarks/RESULTS.md")
    args = parser.parse_args()
    use_repo_checkout()
    started = time.time()
    files = [f for item in args.inputs for f in (list_files(item) if item.is_dir() else [item])]
    lines = ["| file | JPEG bytes | " + " | ".join(name for name, *_ in RULES) + " |",
             "|---|---:|" + "---:|" * len(RULES)]
    for path in files:
        size, rows = part_sizes(path, args.level)
        whole = rows[0][1]
        cells = [f"{count} parts: {100 * (whole - coded) / size:+.2f} pt"
                 for count, coded in rows[1:]]
        lines.append(f"| {path.name} | {size} | {100 * (1 - whole / size):.2f} % saved "
                     f"(stream alone) | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    if args.write:
        command = "python benchmarks/parts.py " + " ".join(
            display_path(item) for item in args.inputs) + f" --level {args.level} --write"
        text = (
            "## Large images in parts: what the split costs\n\n"
            f"{dt.date.today()}, {machine_line()}, load {load_average()}, "
            f"checkout {git_revision()}, {time.time() - started:.0f} s.\n"
            f"Command: `{command}`\n\n"
            "Savings of the coefficient stream alone with the image as one part, then the "
            "change in points of the JPEG's size when it is cut into parts (every part after "
            "the first starts from the first part's adaptive state).\n\n"
            + "\n".join(lines) + "\n"
        )
        write_section(REPO_ROOT / "benchmarks" / "RESULTS.md", "parts", text)


if __name__ == "__main__":
    sys.exit(main())
