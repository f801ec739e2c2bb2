"""Which edge-corpus files go through the model, before and after a change, against Lepton.

jpegzip runs twice, from two git revisions (``--before``; ``--after``, or this checkout),
each unpacked with ``git archive`` and run in a fresh process over every file: mode (lossless or
stored), the stored reason, the .jrz size and whether it decodes to the same bytes. Lepton
runs once, each file in a worker process that a crash or hang cannot take down. The report
lists the files that moved between stored and the model path, and the savings of the
groups of files the revision stored by reason (e.g. truncated-scan) on the files Lepton
round-trips.

Example:
    python benchmarks/edge_coverage.py --before 15890b7 --markdown benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchlib import (
    REPO_ROOT,
    SHARED_CORPUS,
    SINGLE_THREAD_ENV,
    display_path,
    git_revision,
    list_files,
    machine_line,
    write_section,
)

LEPTON_TIMEOUT_S = 120.0
# Run by each jpegzip revision in its own process: one JSON line per file.
_PROBE = """
import json, sys
from pathlib import Path
import jpegzip
from jpegzip import api
for path in sys.argv[1:]:
    data = Path(path).read_bytes()
    try:
        packed, result = api.compress_with_result(data, jpegzip.Options(threads=1))
        row = {"mode": result.mode, "reason": result.stored_reason, "size": len(packed),
               "ok": api.decompress(packed) == data}
    except jpegzip.JpegzipError as error:  # not a JPEG at all
        row = {"mode": "error", "reason": error.code, "size": None, "ok": True}
    print(json.dumps({"path": path, **row}), flush=True)
"""


def run_jpegzip(tree: Path, files: list[Path]) -> dict[str, dict]:
    """Every file through the jpegzip of ``tree`` (a source tree), in a fresh process."""
    env = {**os.environ, **SINGLE_THREAD_ENV, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", _PROBE, *map(str, files)], cwd=tree, env=env,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    rows = [json.loads(line) for line in out.splitlines()]
    return {row.pop("path"): row for row in rows}


def run_revision(revision: str, files: list[Path]) -> dict[str, dict]:
    """run_jpegzip on the tree of a git revision."""
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(["git", "archive", revision], cwd=REPO_ROOT,
                                 capture_output=True, check=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        return run_jpegzip(Path(folder), files)


def _lepton_size(path: str) -> int | None:
    import lepton_jpeg_python as lepton

    data = Path(path).read_bytes()
    config = {"threads": "single"}
    try:
        packed = lepton.compress_bytes(data, config)
        return len(packed) if lepton.decompress_bytes(packed, config) == data else None
    except BaseException:  # noqa: BLE001 - a refusal or a panic: Lepton does not take it
        return None


def run_lepton(files: list[Path]) -> dict[str, int | None]:
    """Lepton's size per file (None: refused, crashed, hung or wrong round trip)."""
    sizes: dict[str, int | None] = {}
    context = mp.get_context("spawn")
    pool = context.Pool(1, maxtasksperchild=1)
    for path in map(str, files):
        try:
            sizes[path] = pool.apply_async(_lepton_size, (path,)).get(LEPTON_TIMEOUT_S)
        except (mp.TimeoutError, Exception):  # noqa: BLE001 - the worker died or hung
            pool.terminate()
            pool = context.Pool(1, maxtasksperchild=1)
            sizes[path] = None
    pool.terminate()
    return sizes


def _saving(original: int, packed: int) -> str:
    return f"{100 * (1 - packed / original):.2f} %" if original else "-"


def report(before: dict, after: dict, lepton: dict, corpus: Path) -> str:
    """Markdown: the files that moved, then per group of files (the before revision's
    stored reason) the savings of jpegzip before and after and of Lepton."""
    sizes = {path: Path(path).stat().st_size for path in after}
    lines = ["| file | bytes | before | after | jpegzip after | Lepton |",
             "|---|---:|---|---|---:|---:|"]
    for path in sorted(after):
        old, new = before[path], after[path]
        if (old["mode"] == "lossless") == (new["mode"] == "lossless"):
            continue
        lepton_size = lepton[path]
        why = f" ({new['reason']})" if new["reason"] else ""
        lines.append(
            f"| {Path(path).relative_to(corpus)} | {sizes[path]} | {old['mode']} "
            f"({old['reason']}) | {new['mode']}{why} | {_saving(sizes[path], new['size'])} "
            f"| {'fails' if lepton_size is None else _saving(sizes[path], lepton_size)} |")
    groups: dict[str, list[str]] = defaultdict(list)
    for path, row in before.items():
        if row["mode"] == "stored":
            groups[(row["reason"] or "").split(":")[0]].append(path)
    summary = ["| stored before as | files | on the model path now | bytes | jpegzip before "
               "| jpegzip after | Lepton round-trips | bytes (those) | jpegzip after (those) "
               "| Lepton (those) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for reason, paths in sorted(groups.items(), key=lambda item: -len(item[1])):
        moved = sum(after[p]["mode"] == "lossless" for p in paths)
        total = sum(sizes[p] for p in paths)
        both = [p for p in paths if lepton[p] is not None]
        total_both = sum(sizes[p] for p in both)
        summary.append(
            f"| {reason} | {len(paths)} | {moved} | {total} "
            f"| {_saving(total, sum(before[p]['size'] for p in paths))} "
            f"| {_saving(total, sum(after[p]['size'] for p in paths))} | {len(both)} "
            f"| {total_both} | {_saving(total_both, sum(after[p]['size'] for p in both))} "
            f"| {_saving(total_both, sum(lepton[p] for p in both))} |")
    failures = [p for p in after if not after[p]["ok"]]
    counts = {name: sum(row["mode"] == "lossless" for row in rows.values())
              for name, rows in (("before", before), ("after", after))}
    return "\n".join([
        f"Files on the model path: {counts['before']} before, {counts['after']} after, of "
        f"{len(after)}; round-trip failures after: {len(failures)}"
        + (f" ({', '.join(failures)})" if failures else "") + ".", "",
        "By the reason the before revision stored a file for: savings over all the files of "
        "the group, and over those of them that Lepton round-trips (a stored file counts at "
        "its stored size):", "",
        *summary, "", "Files that moved:", "", *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare with")
    parser.add_argument("--after", help="git revision to measure (default: this checkout, "
                        "with its uncommitted changes)")  # fmt: skip
    parser.add_argument("--corpus", type=Path, default=SHARED_CORPUS / "edge")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--markdown", type=Path, help="put the report in this file's "
                        "edge-coverage section")  # fmt: skip
    args = parser.parse_args()
    files = [path.resolve() for path in list_files(args.corpus) if path.suffix != ".md"]
    start = time.time()
    before = run_revision(args.before, files)
    after = run_jpegzip(REPO_ROOT, files) if args.after is None else run_revision(args.after, files)
    lepton = run_lepton(files)
    corpus = args.corpus.resolve()
    text = report(before, after, lepton, corpus)
    command = "python " + " ".join([display_path(sys.argv[0]), *sys.argv[1:]])
    section = "\n".join([
        "## Edge coverage: which edge files reach the model", "",
        "Written by `benchmarks/edge_coverage.py`; do not edit by hand.", "",
        f"- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine_line()}",
        f"- Command: `{command}`",
        f"- jpegzip before: {args.before}; after: {args.after or git_revision()}; default level, "
        "one thread; Lepton: lepton-jpeg-python, threads=single",
        f"- Wall time: {time.time() - start:.0f} s", "", text])
    print(section)
    if args.json:
        args.json.write_text(json.dumps({"before": before, "after": after, "lepton": lepton},
                                        indent=1))  # fmt: skip
    if args.markdown:
        write_section(args.markdown, "edge-coverage", section)


if __name__ == "__main__":
    main()
