"""What the .jrz container spends around the coded bytes: format 6 (lean) against format 5.

Each file is compressed through the api (checked by decoding, as always). Then:

- framing: the .jrz's size minus its payload: the coefficient stream, the side information,
  and the compressed bytes inside each zstd frame (not its frame header, block headers or
  checksum); for a stored file, its size minus zstd -19 of the whole file;
- format 5: the size of the same sections in the format 5 layout (docs/FORMAT.md: 85 bytes,
  9 bytes and the name per section, the side information as a zstd frame, each embedded
  JPEG a nested .jrz), and the choice the api made then (stored when the model's .jrz is
  no smaller than the file and storing is smaller);
- zstd -19 of the whole file, the bar for small files.

    python benchmarks/framing.py benchmarks/data/kodak-q75 --small benchmarks/data/kodak-128-q75 \\
        benchmarks/data/kodak-64-q75 ../shared/corpus/edge --under 4096 --write

The folders after ``--small`` give only their files under ``--under`` bytes that start
like a JPEG.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import zstandard
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

ZSTD_LEVEL = 19
_V5_FIXED = 85  # preamble, header, section count, CRC
_V5_SECTION = 9  # name length byte and u64 data length
_V5_ENTRY = 16  # an embedded entry's offset and length (u64 each)
_BLOCK_HEADER = 3
_ZSTD_CHECKSUM = 4


@dataclass(frozen=True)
class Measure:
    """One file: its size, zstd -19, the .jrz in format 6 and 5, and format 6's framing."""

    jpeg: int
    zstd: int
    mode: str
    reason: str | None  # why it was stored
    lean: int
    legacy: int
    framing: int


def zstd_payload(frame: bytes) -> int:
    """The compressed bytes of a zstd frame: its blocks' contents, without framing."""
    position = zstandard.frame_header_size(frame)
    payload = 0
    while True:
        header = int.from_bytes(frame[position:position + _BLOCK_HEADER], "little")
        size = 1 if (header >> 1) & 3 == 1 else header >> 3  # an RLE block holds one byte
        payload += size
        position += _BLOCK_HEADER + size
        if header & 1:
            return payload


def is_zstd(data: bytes) -> bool:
    return data.startswith(zstandard.FRAME_HEADER)


def payload(sections: dict[str, bytes]) -> int:
    """The coded bytes of a lossless file's sections (an embedded JPEG's, recursively)."""
    from jpegzip import container, embedded

    total = 0
    for name, data in sections.items():
        if name == embedded.SECTION:
            total += sum(payload(container.unpack_sections(packed))
                         for _, _, packed in embedded.unpack(data))
        else:
            total += zstd_payload(data) if is_zstd(data) else len(data)
    return total


def legacy_sections(sections: dict[str, bytes]) -> int:
    """The bytes these lossless sections took in format 5 (without the 85 fixed ones)."""
    from jpegzip import container, embedded

    total = 0
    for name, data in sections.items():
        if name == "scans" and not is_zstd(data):  # format 5 held a zstd frame of it
            plain = container.unpack_small(data, len(data) * 8 + 64, "scans")
            data = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(plain)
        if name == embedded.SECTION:
            name = embedded.LEGACY_SECTION
            entries = embedded.unpack(data)
            size = 1 + sum(_V5_ENTRY + _V5_FIXED + legacy_sections(container.unpack_sections(p))
                           for _, _, p in entries)
        else:
            size = len(data)
        total += _V5_SECTION + len(name) + size
    return total


def measure(path: Path) -> Measure:
    from jpegzip import api, codec, container
    from jpegzip.errors import JpegzipError

    data = path.read_bytes()
    packed, result = api.compress_with_result(data)
    parsed = container.read(packed)
    zstd = len(zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data))
    stored_v5 = _V5_FIXED + _V5_SECTION + len(container.STORED_SECTION) + zstd
    if result.mode == "stored":
        try:  # the model's sections, as api.compress saw them before it stored the file
            lossless_v5 = _V5_FIXED + legacy_sections(codec.encode_lossless(data))
        except JpegzipError:
            lossless_v5 = None
        framing = len(packed) - zstd
    else:
        lossless_v5 = _V5_FIXED + legacy_sections(parsed.sections)
        framing = len(packed) - payload(parsed.sections)
    legacy = stored_v5
    if lossless_v5 is not None and (lossless_v5 < len(data) or lossless_v5 <= stored_v5):
        legacy = lossless_v5
    return Measure(len(data), zstd, result.mode, result.stored_reason, len(packed), legacy,
                   framing)


def inputs(item: Path, under: int | None) -> list[Path]:
    """The files to measure: all, or those under ``under`` bytes that start like a JPEG."""
    files = list_files(item) if item.is_dir() else [item]
    if under is None:
        return files
    return [f for f in files if f.stat().st_size < under and f.read_bytes()[:2] == b"\xff\xd8"]


def savings(jpeg: int, jrz: int) -> str:
    return f"{100 * (1 - jrz / jpeg):.2f} %"


def set_row(name: str, rows: list[Measure]) -> str:
    jpeg = sum(r.jpeg for r in rows)
    lossless = [r.framing for r in rows if r.mode != "stored"]
    stored = [r.framing for r in rows if r.mode == "stored"]
    lean, legacy = sum(r.lean for r in rows), sum(r.legacy for r in rows)
    framing = (f"{statistics.median(lossless):.0f} / {max(lossless)}" if lossless else "-")
    above = f"{max(stored)}" if stored else "-"
    return (f"| {name} | {len(rows)} | {jpeg} | {savings(jpeg, legacy)} | {savings(jpeg, lean)} "
            f"| {100 * (legacy - lean) / jpeg:+.2f} pt | {framing} | {len(lossless)} "
            f"| {sum(r.legacy < r.zstd for r in rows)} | {sum(r.lean < r.zstd for r in rows)} "
            f"| {len(stored)} | {above} |")


def misses(name: str, rows: list[Measure]) -> str:
    """Why the files no smaller than zstd -19 are not: stored (by reason), or coded by the
    model but still larger (by how much)."""
    missed = [r for r in rows if r.lean >= r.zstd]
    reasons = Counter((r.reason or "").split(":")[0] for r in missed if r.mode == "stored")
    above = [r.lean - r.zstd for r in missed if r.mode != "stored"]
    stored = ", ".join(f"{reason} {count}" for reason, count in reasons.most_common())
    coded = (f"{len(above)} coded by the model but {min(above)} to {max(above)} bytes (median "
             f"{statistics.median(above):.0f}) above zstd -19" if above else "none coded")
    return f"- {name}: {len(missed)} of {len(rows)} no smaller than zstd -19: stored " \
           f"{sum(reasons.values())} ({stored or 'none'}); {coded}."


HEADER = ("| set | files | JPEG bytes | saved, format 5 | saved, format 6 | from framing "
          "| framing, lossless: median / max | lossless | smaller than zstd -19: format 5 "
          "| format 6 | stored | stored: most bytes above zstd -19 |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", type=Path, help="folders of JPEGs, or JPEGs")
    parser.add_argument("--small", nargs="+", type=Path, default=[],
                        help="folders whose JPEGs under --under bytes are measured")
    parser.add_argument("--under", type=int, default=4096)
    parser.add_argument("--write", action="store_true",
                        help="refresh the 'framing' section of benchmarks/RESULTS.md")
    args = parser.parse_args()
    use_repo_checkout()
    started = time.time()
    lines, notes = [HEADER], []
    sets = [(item, None) for item in args.inputs] + [(item, args.under) for item in args.small]
    for item, under in sets:
        rows = [measure(path) for path in inputs(item, under)]
        label = display_path(item) + ("" if under is None else f", files under {under} bytes")
        lines.append(set_row(label, rows))
        notes.append(misses(label, rows))
        print(lines[-1], notes[-1], sep="\n", flush=True)
    if args.write:
        command = " ".join(["python benchmarks/framing.py", *map(display_path, args.inputs),
                            "--small", *map(display_path, args.small),
                            f"--under {args.under} --write"])
        text = (
            "## Container framing: format 6 against format 5\n\n"
            f"{dt.date.today()}, {machine_line()}, load {load_average()}, "
            f"checkout {git_revision()}, {time.time() - started:.0f} s.\n"
            f"Command: `{command}`\n\n"
            "Each file compressed by the api (checked by decoding). Format 5: the same sections "
            "in the format 5 layout, and the api's choice then (stored when the model's .jrz "
            "was no smaller than the file). Framing: the .jrz minus the coded bytes (the "
            "coefficient stream, the side information as stored, the blocks inside each zstd "
            "frame); for stored files, the .jrz minus zstd -19 of the file.\n\n"
            + "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"
        )
        write_section(REPO_ROOT / "benchmarks" / "RESULTS.md", "framing", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
