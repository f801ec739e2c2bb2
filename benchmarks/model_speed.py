"""Speed and peak memory of jpegzip at camera sizes, in megapixels per second.

Each file, level and thread count runs in a fresh worker process: one warm-up round trip
on a small file (model loading and compiled kernels are not part of the figure), then
--repeat rounds of compress (which includes its verifying decode) and decompress of the
file through the Python API (the CPU unless --device says otherwise; threads 0 = one per
core). The median time of each gives MP/s; the worker's peak resident memory (its whole
life, warm-up included) is the memory figure. Every round trip is checked byte for byte.
Lepton (lepton-jpeg-python, one thread), when installed, runs on the same files in the
same way.

Example:
    python benchmarks/model_speed.py benchmarks/data/large \
        ../shared/corpus/edge/lepton/slrindoor.jpg --repeat 3 --levels 1 2 --threads 1 0 \
        --write
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

from benchlib import (
    REPO_ROOT,
    display_path,
    git_revision,
    jpeg_dimensions,
    list_files,
    load_average,
    machine_line,
    median,
    use_repo_checkout,
    write_section,
)

WARM_UP = REPO_ROOT / "tests" / "data" / "sample" / "kodim23.jpg"


def _codec(level: int, threads: int, device: str):
    """(compress, decompress) of one tool: jpegzip at a level and thread count, or Lepton
    (level 0)."""
    if level == 0:
        import lepton_jpeg_python as lepton

        config = {"threads": "single"}
        return (lambda d: lepton.compress_bytes(d, config),
                lambda d: bytes(lepton.decompress_bytes(d, config)))
    use_repo_checkout()
    from jpegzip.api import compress_with_result, decompress_with_result
    from jpegzip.options import Options

    options = Options(device=device, level=level, threads=threads)
    return (lambda d: compress_with_result(d, options)[0],
            lambda d: decompress_with_result(d, options)[0])


def _measure(path: str, repeat: int, level: int, threads: int, device: str, out) -> None:
    compress, decompress = _codec(level, threads, device)
    warm = WARM_UP.read_bytes()
    assert decompress(compress(warm)) == warm
    data = Path(path).read_bytes()
    compress_s, decompress_s = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        packed = compress(data)
        compress_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        back = decompress(packed)
        decompress_s.append(time.perf_counter() - start)
        if back != data:
            raise SystemExit(f"{path}: round trip differs")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out.put((median(compress_s), median(decompress_s), len(packed), peak))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="JPEG files or folders of them")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--levels", nargs="+", type=int, default=[2])
    parser.add_argument("--threads", nargs="+", type=int, default=[0],
                        help="thread counts to run each level with (0: one per core)")
    parser.add_argument("--write", action="store_true",
                        help="refresh the 'model-speed' section of benchmarks/RESULTS.md")
    args = parser.parse_args()
    context = mp.get_context("spawn")
    rows = []
    started = time.time()
    files = [f for p in args.paths for f in (list_files(p) if p.is_dir() else [p])]
    tools = [(level, threads) for level in args.levels for threads in args.threads]
    if importlib.util.find_spec("lepton_jpeg_python"):
        tools.append((0, 1))
    for path in files:
        width, height = jpeg_dimensions(path.read_bytes())
        megapixels = width * height / 1e6
        for level, threads in tools:
            queue = context.Queue()
            worker = context.Process(target=_measure, args=(
                str(path), args.repeat, level, threads, args.device, queue))
            worker.start()
            compress_s, decompress_s, size, peak = queue.get()
            worker.join()
            tool = f"jpegzip level {level}" if level else "Lepton"
            shown = "one per core" if threads == 0 else str(threads)
            saved = 100 * (1 - size / path.stat().st_size)
            row = (f"| {path.name} | {megapixels:.1f} | {tool} | {shown} | {size:,} "
                   f"({saved:.2f} % saved) | "
                   f"{compress_s:.2f} s = {megapixels / compress_s:.2f} MP/s | "
                   f"{decompress_s:.2f} s = {megapixels / decompress_s:.2f} MP/s | "
                   f"{peak / 2**20:.0f} MB |")
            print(row, flush=True)
            rows.append(row)
    if args.write:
        command = (f"python benchmarks/model_speed.py "
                   f"{' '.join(display_path(p) for p in args.paths)} "
                   f"--repeat {args.repeat} --levels {' '.join(map(str, args.levels))} "
                   f"--threads {' '.join(map(str, args.threads))} --device {args.device} "
                   "--write")
        text = "\n".join([
            "## Speed and memory at camera sizes",
            "",
            f"{dt.date.today()}, {machine_line()}, load {load_average()}, "
            f"checkout {git_revision()}, {time.time() - started:.0f} s.",
            f"Command: `{command}`",
            "",
            "Compress includes jpegzip's verifying decode; threads: what one file may use "
            "(the bytes are the same for any count).",
            "",
            "| file | MP | tool | threads | output bytes | compress (median) | "
            "decompress (median) | peak RSS |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
        ])
        write_section(REPO_ROOT / "benchmarks" / "RESULTS.md", "model-speed", text)


if __name__ == "__main__":
    sys.exit(main())
