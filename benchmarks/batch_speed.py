"""Batch throughput of the installed ``jpegzip`` command: -j 1 against -j N, and start-up.

    python benchmarks/batch_speed.py [--files 200] [--jobs 2] [--rounds 3] [--small 100]

Copies the Kodak q90 set (benchmarks/data/kodak-q90, made by make_datasets.py; else
encoded here from ../shared/corpus/kodak with Pillow at q90) round-robin into a temporary
folder until it holds ``--files`` JPEGs, then times one ``jpegzip compress -r`` invocation
per setting, alternating the settings over ``--rounds`` rounds (the machine is shared: the
medians and the ratio of runs side by side are what to quote). Also times ``--small`` tiny
JPEGs (64x48), where start-up would show, and ``jpegzip --version``. Prints a Markdown
block for RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from benchlib import write_section

HERE = Path(__file__).resolve().parent
KODAK_JPEGS = HERE / "data" / "kodak-q90"
KODAK_PNGS = HERE.parents[1] / "shared" / "corpus" / "kodak"


def command() -> list[str]:
    script = shutil.which("jpegzip", path=sysconfig.get_path("scripts"))
    return [script] if script else [sys.executable, "-m", "jpegzip"]


def kodak_jpegs() -> list[bytes]:
    if KODAK_JPEGS.is_dir() and any(KODAK_JPEGS.glob("*.jpg")):
        return [path.read_bytes() for path in sorted(KODAK_JPEGS.glob("*.jpg"))]
    from PIL import Image

    if not KODAK_PNGS.is_dir():
        sys.exit(f"neither {KODAK_JPEGS} nor {KODAK_PNGS} exists: run make_datasets.py")
    encoded = []
    for path in sorted(KODAK_PNGS.glob("*.png")):
        buffer = io.BytesIO()
        Image.open(path).convert("RGB").save(buffer, "JPEG", quality=90)
        encoded.append(buffer.getvalue())
    return encoded


def tiny_jpegs(count: int) -> list[bytes]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    images = []
    for _ in range(count):
        pixels = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
        images.append(buffer.getvalue())
    return images


def fill(folder: Path, sources: list[bytes], count: int) -> int:
    folder.mkdir(parents=True)
    total = 0
    for index in range(count):
        data = sources[index % len(sources)]
        (folder / f"img{index:04d}.jpg").write_bytes(data)
        total += len(data)
    return total


def time_batch(folder: Path, out: Path, jobs: int) -> tuple[float, dict]:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(
        [
            *command(),
            "compress",
            "-r",
            str(folder),
            "-o",
            str(out),
            "-j",
            str(jobs),
            "-q",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"jpegzip failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)["summary"]


def compare(name: str, folder: Path, work: Path, files: int, size: int, jobs: int, rounds: int):
    """Median wall time per setting, alternating -j 1 and -j N."""
    times: dict[int, list[float]] = {1: [], jobs: []}
    modes = {}
    for _ in range(rounds):
        for setting in (1, jobs):
            seconds, summary = time_batch(folder, work / f"out-{name}", setting)
            times[setting].append(seconds)
            modes = {key: summary[key] for key in ("done", "stored", "failed")}
    rows = []
    for setting in (1, jobs):
        median = statistics.median(times[setting])
        rows.append((setting, median, files / median, size / median / 1e6))
    ratio = rows[0][1] / rows[1][1]
    print(f"\n{name}: {files} files, {size / 1e6:.1f} MB, outcomes {modes}", file=sys.stderr)
    return rows, ratio, times


def version_time(repeats: int = 9) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([*command(), "--version"], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=100, help="tiny JPEGs (0: skip)")
    parser.add_argument("--markdown", type=Path, help="write the report into this file's "
                        "'batch' section (e.g. benchmarks/RESULTS.md); default: stdout")
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="jpegzip-batch-") as temporary:
        work = Path(temporary)
        sets = [("kodak-q90", kodak_jpegs(), args.files)]
        if args.small:
            sets.append(("tiny-64x48", tiny_jpegs(args.small), args.small))
        results = []
        for name, sources, count in sets:
            size = fill(work / name, sources, count)
            results.append(
                (
                    name,
                    count,
                    size,
                    *compare(name, work / name, work, count, size, args.jobs, args.rounds),
                )
            )
    startup = version_time()
    load_after = os.getloadavg()

    lines = [
        f"## Batch throughput ({time.strftime('%Y-%m-%d %H:%M %Z')})",
        "",
        f"- Machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}",
        f"- Load average at start / end: {load_before[0]:.2f} / {load_after[0]:.2f}",
        f"- Command: `python benchmarks/batch_speed.py --files {args.files} --jobs {args.jobs} "
        f"--rounds {args.rounds} --small {args.small}`; one `jpegzip compress -r DIR -o OUT "
        "-j J -q --json` per run, medians of the rounds, -j 1 and -j N alternating",
        "",
        "| set | files | MB | -j | wall s (median) | files/s | MB/s | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, count, size, rows, ratio, _ in results:
        for jobs, median, files_per_s, mb_per_s in rows:
            speedup = f"{ratio:.2f}x" if jobs != 1 else ""
            lines.append(
                f"| {name} | {count} | {size / 1e6:.1f} | {jobs} | {median:.2f} | "
                f"{files_per_s:.1f} | {mb_per_s:.2f} | {speedup} |"
            )
    lines += ["", f"`jpegzip --version`: {startup * 1000:.0f} ms (median of 9 runs)", ""]
    for name, _, _, _, _, times in results:
        lines.append(
            f"- {name} raw wall times: "
            + ", ".join(
                f"-j {jobs}: {[round(t, 2) for t in values]}" for jobs, values in times.items()
            )
        )
    report = "\n".join(lines)
    if args.markdown:
        write_section(args.markdown, "batch", report)
    else:
        print(report)

if __name__ == "__main__":
    main()
