"""Lossy mode over real-world and malformed JPEGs: what each file gets, and how close.

For every file of the edge corpus (../shared/corpus/edge): compress with one lossy target,
then, for a lossy result, decompress and open the JPEG with Pillow. Counts the outcomes
(lossy; lossless with the note saying why; stored with its reason; errors) and how many
lossy files land within 3 % of the requested size; lists the ones that do not.

Example:
    python benchmarks/lossy_edge.py --rate 0.8 --markdown benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import io
import time
from collections import Counter
from pathlib import Path

from benchlib import (
    SHARED_CORPUS,
    display_path,
    git_revision,
    list_files,
    load_average,
    machine_line,
    use_repo_checkout,
    write_section,
)

RATE_TOLERANCE = 0.03


def outcome(data: bytes, rate: float) -> tuple[str, float | None]:
    """(how the file came out, the lossy size as a fraction of the requested one)."""
    from PIL import Image

    from jpegzip import api
    from jpegzip.errors import JpegzipError
    from jpegzip.options import Options

    try:
        packed, result = api.compress_with_result(data, Options(rate=rate))
    except JpegzipError as error:
        return f"error ({error.code})", None
    if result.mode == "stored":
        return f"stored ({result.stored_reason})", None
    if result.mode == "lossless":
        return f"lossless ({(result.note or 'no note').split(':')[0]})", None
    with Image.open(io.BytesIO(api.decompress(packed))) as image:
        image.load()  # a lossy output that Pillow cannot open would raise here
    return "lossy", len(packed) / (rate * result.lossy.lossless_size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edge", type=Path, default=SHARED_CORPUS / "edge")
    parser.add_argument("--rate", type=float, default=0.8)
    parser.add_argument("--markdown", type=Path, help="write the lossy-edge section here")
    args = parser.parse_args(argv)
    use_repo_checkout()
    started, load_before = time.time(), load_average()
    kinds: Counter[str] = Counter()
    misses = []
    files = [p for p in list_files(args.edge) if p.suffix.lower() in (".jpg", ".jpeg")]
    for path in files:
        kind, reached = outcome(path.read_bytes(), args.rate)
        kinds[kind] += 1
        if reached is not None and abs(reached - 1) > RATE_TOLERANCE:
            misses.append(f"{path.relative_to(args.edge)} ({reached * args.rate:.3f})")
    lossy = kinds["lossy"]
    command = f"python benchmarks/lossy_edge.py --rate {args.rate:g}" + (
        f" --markdown {display_path(args.markdown)}" if args.markdown else "")  # fmt: skip
    lines = [
        f"## Lossy mode over the edge corpus (--rate {args.rate:g})", "",
        f"{time.strftime('%Y-%m-%d')}, {machine_line()}, load {load_before} at start, "
        f"{load_average()} at end, checkout {git_revision()}, {time.time() - started:.0f} s.",
        f"Command: `{command}`", "",
        f"{len(files)} files (.jpg/.jpeg) of {display_path(args.edge)}; every lossy output "
        "decompressed and opened with Pillow.", "",
        "| outcome | files |", "|---|---:|",
        *[f"| {kind} | {count} |" for kind, count in kinds.most_common()], "",
        f"Lossy files within ±{RATE_TOLERANCE:.0%} of the requested size: "
        f"{lossy - len(misses)} of {lossy}."
        + (f" The others (reached fraction of lossless): {', '.join(misses)}." if misses else ""),
    ]  # fmt: skip
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        write_section(args.markdown, "lossy-edge", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
