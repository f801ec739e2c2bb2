"""Start-up and memory of the installed ``jpegzip`` command, in fresh processes.

    python benchmarks/startup.py [--runs 5] [--large benchmarks/data/large] [--write]

Times ``jpegzip compress`` and ``jpegzip decompress`` of the README's sample
(tests/data/sample/kodim23.jpg) in a new process each run (median of ``--runs``), at every
level, with their peak RSS (the child's ru_maxrss); then once with an empty numba cache
(``NUMBA_CACHE_DIR`` pointing at a new folder: what the first run after install pays) and
whether it said so on stderr; then the peak RSS of compressing and decompressing each
large photo (``--large``, a file or a folder), and whether a CPU-only compress and
decompress import torch. Writes the ``startup`` section of RESULTS.md with ``--write``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from benchlib import (
    REPO_ROOT,
    display_path,
    git_revision,
    list_files,
    load_average,
    machine_line,
    write_section,
)

SAMPLE = REPO_ROOT / "tests" / "data" / "sample" / "kodim23.jpg"
LEVELS = ("1", "2")
TORCH_PROBE = (
    "import sys, jpegzip; data = open(sys.argv[1], 'rb').read(); "
    "assert jpegzip.decompress(jpegzip.compress(data, device='cpu')) == data; "
    "print('torch' in sys.modules)"
)


def command() -> list[str]:
    script = shutil.which("jpegzip", path=sysconfig.get_path("scripts"))
    return [script] if script else [sys.executable, "-m", "jpegzip"]


def timed(args: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stderr of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    stderr = child.stderr.read() if child.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed: {stderr}")
    return seconds, usage.ru_maxrss / 1024, stderr


def round_trip(jpeg: Path, folder: Path, level: str, env: dict | None = None
               ) -> tuple[tuple, tuple]:
    """(seconds, MB, stderr) of one compress and one decompress of a copy of ``jpeg``."""
    source = folder / jpeg.name
    shutil.copyfile(jpeg, source)
    packed = source.with_suffix(".jrz")
    back = folder / f"back-{jpeg.name}"
    for path in (packed, back):
        path.unlink(missing_ok=True)
    squeeze = timed([*command(), "compress", source.name, "--level", level, "-o",
                     packed.name], folder, env)
    expand = timed([*command(), "decompress", packed.name, "-o", back.name], folder, env)
    if back.read_bytes() != jpeg.read_bytes():
        raise SystemExit(f"{jpeg}: the round trip differs")
    return squeeze, expand


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--large", type=Path, default=REPO_ROOT / "benchmarks/data/large")
    parser.add_argument("--write", action="store_true",
                        help="refresh the 'startup' section of benchmarks/RESULTS.md")
    args = parser.parse_args()
    started = time.time()
    load_start = load_average()
    lines = ["| what | level | compress s (median) | decompress s (median) | "
             "compress peak MB | decompress peak MB |", "|---|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        round_trip(SAMPLE, folder, "2")  # the kernels compiled and cached, the files read
        for level in LEVELS:
            runs = [round_trip(SAMPLE, folder, level) for _ in range(args.runs)]
            squeeze = statistics.median(r[0][0] for r in runs)
            expand = statistics.median(r[1][0] for r in runs)
            lines.append(
                f"| sample {SAMPLE.name}, {SAMPLE.stat().st_size} bytes, warm cache "
                f"(median of {args.runs}) | {level} | {squeeze:.2f} | {expand:.2f} | "
                f"{max(r[0][1] for r in runs):.0f} | {max(r[1][1] for r in runs):.0f} |")
            print(lines[-1], flush=True)
        with tempfile.TemporaryDirectory() as cache:
            cold = round_trip(SAMPLE, folder, "2", os.environ | {"NUMBA_CACHE_DIR": cache})
        said = [line for line in cold[0][2].splitlines() if "compiling" in line]
        lines.append(f"| sample, empty numba cache (first run after install) | 2 | "
                     f"{cold[0][0]:.2f} | {cold[1][0]:.2f} | {cold[0][1]:.0f} | "
                     f"{cold[1][1]:.0f} |")
        print(lines[-1], flush=True)
        large = list_files(args.large) if args.large.is_dir() else [args.large]
        for jpeg in large:
            squeeze, expand = round_trip(jpeg, folder, "2")
            lines.append(f"| {jpeg.name}, {jpeg.stat().st_size} bytes, one thread per core "
                         f"| 2 | {squeeze[0]:.2f} | {expand[0]:.2f} | {squeeze[1]:.0f} | "
                         f"{expand[1]:.0f} |")
            print(lines[-1], flush=True)
    probe = subprocess.run([sys.executable, "-c", TORCH_PROBE, str(SAMPLE)],
                           capture_output=True, text=True, check=True)
    torch_loaded = probe.stdout.strip()
    print("torch imported by a CPU compress + decompress:", torch_loaded)
    if args.write:
        command_line = (f"python benchmarks/startup.py --runs {args.runs} --large "
                        f"{display_path(args.large)} --write")
        text = (
            "## Start-up and memory, fresh processes\n\n"
            f"{dt.date.today()}, {machine_line()}, load {load_start} at start, "
            f"{load_average()} at end, checkout {git_revision()}, "
            f"{time.time() - started:.0f} s.\n"
            f"Command: `{command_line}`\n\n"
            "Each row: the installed `jpegzip` command in a new process (`compress FILE "
            "--level L -o OUT`, then `decompress`), wall time and the child's peak RSS.\n\n"
            + "\n".join(lines) + "\n\n"
            f"- The empty-cache run said on stderr: {said[0] if said else '(nothing)'}\n"
            f"- `torch` imported by a CPU-only compress + decompress in one process: "
            f"{torch_loaded}\n"
        )
        write_section(REPO_ROOT / "benchmarks" / "RESULTS.md", "startup", text)


if __name__ == "__main__":
    sys.exit(main())
