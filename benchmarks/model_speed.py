"""Speed and peak memory of jpegzip at camera sizes, in megapixels per second.

Each file runs in a fresh worker process: one warm-up round trip on a small file (model
loading and compiled kernels are not part of the figure), then --repeat rounds of
compress and decompress of the file through the Python API, with the default options
(the default model, the CPU unless --device says otherwise; the network runs on one
thread, the rest of the codec on one core). The median time of each
gives MP/s; the worker's peak resident memory (its whole life, warm-up included) is the
memory figure. Every round trip is checked byte for byte.

Example:
    python benchmarks/model_speed.py benchmarks/data/large \
        ../shared/corpus/edge/lepton/slrindoor.jpg --repeat 3 --write
"""

from __future__ import annotations

import argparse
import datetime as dt
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


def _measure(path: str, repeat: int, device: str, out) -> None:
    use_repo_checkout()
    import jpegzip
    from jpegzip.api import decompress_with_result
    from jpegzip.options import Options

    options = Options(device=device)
    warm = WARM_UP.read_bytes()
    assert decompress_with_result(jpegzip.compress(warm, device=device), options)[0] == warm
    data = Path(path).read_bytes()
    compress_s, decompress_s = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        packed = jpegzip.compress(data, device=device)
        compress_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        back = decompress_with_result(packed, options)[0]
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
    parser.add_argument("--write", action="store_true",
                        help="refresh the 'model-speed' section of benchmarks/RESULTS.md")
    args = parser.parse_args()
    context = mp.get_context("spawn")
    rows = []
    started = time.time()
    files = [f for p in args.paths for f in (list_files(p) if p.is_dir() else [p])]
    for path in files:
        width, height = jpeg_dimensions(path.read_bytes())
        megapixels = width * height / 1e6
        queue = context.Queue()
        worker = context.Process(target=_measure,
                                 args=(str(path), args.repeat, args.device, queue))
        worker.start()
        compress_s, decompress_s, size, peak = queue.get()
        worker.join()
        row = (f"| {path.name} | {megapixels:.1f} | {path.stat().st_size:,} | {size:,} | "
               f"{compress_s:.2f} s = {megapixels / compress_s:.2f} MP/s | "
               f"{decompress_s:.2f} s = {megapixels / decompress_s:.2f} MP/s | "
               f"{peak / 2**30:.2f} GiB |")
        print(row, flush=True)
        rows.append(row)
    if args.write:
        command = (f"python benchmarks/model_speed.py "
                   f"{' '.join(display_path(p) for p in args.paths)} "
                   f"--repeat {args.repeat} --device {args.device} "
                   "--write")
        text = "\n".join([
            "## Speed and memory at camera sizes",
            "",
            f"{dt.date.today()}, {machine_line()}, load {load_average()}, "
            f"checkout {git_revision()}, {time.time() - started:.0f} s.",
            f"Command: `{command}`",
            "",
            "| file | MP | JPEG bytes | .jrz bytes | compress (median) | decompress (median) "
            "| peak RSS |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ])
        write_section(REPO_ROOT / "benchmarks" / "RESULTS.md", "model-speed", text)


if __name__ == "__main__":
    sys.exit(main())
