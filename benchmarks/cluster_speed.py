"""Throughput of ``jpegzip cluster compress`` on a LocalCluster against the local batch.

    python benchmarks/cluster_speed.py [--files 200] [--workers 1,2] [--rounds 5]
                                       [--markdown benchmarks/RESULTS.md]

The same job both ways: ``--files`` Kodak q90 JPEGs (copied round-robin into a temporary
folder, as batch_speed.py does) compressed by ``jpegzip compress -r DIR -o OUT -j N`` and by
``jpegzip cluster compress DIR OUT -j N`` (a LocalCluster of N single-threaded worker
processes), N = each of ``--workers``; each setting also converts a folder of one file.
One whole command per run, start-up included, every setting once per round, the settings
alternating (the machine is shared: quote medians and differences measured side by side).

What the engine adds: its fixed cost is the difference of the one-file jobs; its cost per
file is the difference of the marginal times, (time of the job - time of one file) /
(files - 1), which leaves the start-up out. The same is done with CPU time (the commands'
and their waited-for children's, less sensitive to a busy machine) where every worker's is
counted: not for the batch's forkserver workers (-j above 1). Needs the cluster extra.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from batch_speed import command, fill, kodak_jpegs
from benchlib import write_section

Setting = tuple[str, int, int]  # engine, workers, files


def time_run(arguments: list[str], out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one command; a fresh output folder each time."""
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [*command(), *arguments, "-q", "--json"], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(arguments[:2])} failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)["summary"]
    if summary["failed"] or summary["done"] + summary["stored"] != summary["files"]:
        sys.exit(f"not every file was converted: {summary}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def arguments(engine: str, folder: Path, out: Path, workers: int) -> list[str]:
    if engine == "batch":
        return ["compress", "-r", str(folder), "-o", str(out), "-j", str(workers)]
    return ["cluster", "compress", str(folder), str(out), "-j", str(workers)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--markdown",
        type=Path,
        help="write the report into this file's 'cluster' section "
        "(e.g. benchmarks/RESULTS.md); default: stdout",
    )
    args = parser.parse_args()
    workers = [int(count) for count in args.workers.split(",")]
    sizes = (args.files, 1)

    load_before = os.getloadavg()
    walls: dict[Setting, list[float]] = {}
    cpus: dict[Setting, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="jpegzip-cluster-") as temporary:
        work, sources = Path(temporary), kodak_jpegs()
        megabytes = fill(work / "many", sources, args.files) / 1e6
        fill(work / "one", sources, 1)
        folders = {args.files: work / "many", 1: work / "one"}
        for _ in range(args.rounds):
            for count in workers:
                for engine in ("batch", "cluster"):
                    for files in sizes:
                        setting = (engine, count, files)
                        out = work / "out"
                        wall, cpu = time_run(arguments(engine, folders[files], out, count), out)
                        walls.setdefault(setting, []).append(wall)
                        cpus.setdefault(setting, []).append(cpu)
                        print(f"{setting}: {wall:.2f} s, CPU {cpu:.2f} s", file=sys.stderr)
    load_after = os.getloadavg()

    def wall(setting: Setting) -> float:
        return statistics.median(walls[setting])

    def cpu(setting: Setting) -> float:
        return statistics.median(cpus[setting])

    def per_file(measure, engine: str, count: int) -> float:
        """Marginal milliseconds per file: start-up and one file's worth left out."""
        many, one = measure((engine, count, args.files)), measure((engine, count, 1))
        return 1000 * (many - one) / (args.files - 1)

    def counted(engine: str, count: int) -> bool:
        return engine == "cluster" or count == 1  # forkserver workers' CPU is not reported

    lines = [
        f"## Cluster throughput ({time.strftime('%Y-%m-%d %H:%M %Z')})",
        "",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average at start / end: "
        f"{load_before[0]:.2f} / {load_after[0]:.2f}",
        f"- Command: `python benchmarks/cluster_speed.py --files {args.files} --workers "
        f"{args.workers} --rounds {args.rounds}`: {args.files} Kodak q90 JPEGs "
        f"({megabytes:.1f} MB) and a job of 1 file, one command per run (`jpegzip compress "
        "-r DIR -o OUT -j N` / `jpegzip cluster compress DIR OUT -j N`, both `-q --json`), "
        "medians of the rounds",
        "",
        f"| engine | workers | {args.files} files: wall s | files/s | MB/s | 1 file: wall s | "
        "wall ms/file | CPU ms/file |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count in workers:
        for engine in ("batch", "cluster"):
            many = wall((engine, count, args.files))
            cpu_cost = f"{per_file(cpu, engine, count):.1f}" if counted(engine, count) else "n/a"
            lines.append(
                f"| {engine} | {count} | {many:.2f} | {args.files / many:.1f} | "
                f"{megabytes / many:.2f} | {wall((engine, count, 1)):.2f} | "
                f"{per_file(wall, engine, count):.1f} | {cpu_cost} |"
            )
    lines.append("")
    for count in workers:
        fixed = wall(("cluster", count, 1)) - wall(("batch", count, 1))
        extra = per_file(wall, "cluster", count) - per_file(wall, "batch", count)
        line = (
            f"- {count} worker(s): the cluster engine adds {fixed:+.2f} s of fixed cost "
            f"(start-up) and {extra:+.1f} ms per file of wall time"
        )
        if counted("batch", count):
            line += (
                f", {per_file(cpu, 'cluster', count) - per_file(cpu, 'batch', count):+.1f} "
                "ms per file of CPU time"
            )
        lines.append(line)
    lines += [
        "",
        "Per file: (time of the job - time of one file) / (files - 1); CPU: the command's and "
        "its waited-for children's user + system time (n/a: the batch's forkserver workers "
        "are not counted).",
        "",
    ]
    for setting, values in walls.items():
        engine, count, files = setting
        lines.append(
            f"- {engine} -j {count}, {files} file(s): wall {[round(t, 2) for t in values]}, "
            f"CPU {[round(t, 2) for t in cpus[setting]]}"
        )
    report = "\n".join(lines)
    if args.markdown:
        write_section(args.markdown, "cluster", report)
    else:
        print(report)


if __name__ == "__main__":
    main()
