"""Speed of jpegzip's JPEG layer alone: parse+decode (read_jpeg) and re-encode (write_jpeg).

For each file: ``rec = jpegzip.jpeg.read_jpeg(data); out = jpegzip.jpeg.write_jpeg(rec)``,
checking ``out == data``. Times are medians of --repeat rounds per file, aggregated as total
bytes (or megapixels) / total median time, one thread. Files the layer rejects are listed
as failed; a re-encode that differs is a mismatch and makes the exit status 1.

Example:
    python benchmarks/jpeg_layer_speed.py benchmarks/data/kodak-q75 benchmarks/data/large
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchlib import (
    SINGLE_THREAD_ENV,
    display_path,
    git_revision,
    list_files,
    load_average,
    machine_info,
    median,
    megapixels,
    use_repo_checkout,
    write_section,
)


def measure_file(jpeg: Any, data: bytes, repeat: int) -> dict[str, Any]:
    """Median read and write time of one file, or its failure."""
    read_s, write_s = [], []
    for _ in range(repeat):
        stage = "read_jpeg"
        try:
            t0 = time.perf_counter()
            rec = jpeg.read_jpeg(data)
            t1 = time.perf_counter()
            stage = "write_jpeg"
            out = jpeg.write_jpeg(rec)
            t2 = time.perf_counter()
        except Exception as exc:  # noqa: BLE001 - report and go on
            text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            return {"status": "failed", "reason": f"{stage}: {type(exc).__name__}: {text}"}
        if out != data:
            return {"status": "mismatch", "reason": "write_jpeg(read_jpeg(data)) != data"}
        read_s.append(t1 - t0)
        write_s.append(t2 - t1)
    return {"status": "ok", "read_s": median(read_s), "write_s": median(write_s)}


def measure_folder(jpeg: Any, folder: Path, repeat: int, limit: int) -> dict[str, Any]:
    """All files of one folder; totals over the files that round-tripped."""
    paths = list_files(folder)[: limit or None]
    files = []
    for path in paths:
        data = path.read_bytes()
        res = measure_file(jpeg, data, repeat)
        res.update(file=path.relative_to(folder).as_posix(), bytes=len(data),
                   mp=megapixels(data))
        files.append(res)
        print(f"  {folder.name}/{res['file']}: {res['status']}", file=sys.stderr, flush=True)
    ok = [f for f in files if f["status"] == "ok"]
    mb = sum(f["bytes"] for f in ok) / 1e6
    mpx = sum(f["mp"] or 0 for f in ok)
    read = sum(f["read_s"] for f in ok)
    write = sum(f["write_s"] for f in ok)
    return {
        "name": folder.resolve().name, "path": display_path(folder), "files": files,
        "n": len(files), "ok": len(ok),
        "failed": sum(f["status"] == "failed" for f in files),
        "mismatch": sum(f["status"] == "mismatch" for f in files),
        "reasons": Counter(f["reason"] for f in files if f["status"] != "ok").most_common(),
        "mb": mb, "mp": mpx, "read_s": read, "write_s": write,
        "read_mb_s": mb / read if read else None, "write_mb_s": mb / write if write else None,
        "read_mp_s": mpx / read if read else None, "write_mp_s": mpx / write if write else None,
    }


def render(meta: dict[str, Any], results: list[dict[str, Any]], per_file: bool) -> str:
    """Markdown report."""
    def f(x: float | None) -> str:
        return "–" if x is None else f"{x:.2f}"

    m = meta["machine"]
    lines = [
        "## JPEG layer speed", "",
        f"- Date: {meta['date']}; jpegzip checkout {meta['revision']}",
        f"- Machine: {m['cpu']}, {m['nproc']} cores, {m.get('memory', '?')}; "
        f"load {meta['load_start']} -> {meta['load_end']}",
        f"- Command: `{meta['command']}`",
        f"- First call (includes JIT compilation unless cached): {meta['first_call_s']:.2f} s",
        "",
        "| set | files ok | failed | mismatch | MB | MP | parse+decode MB/s | MP/s | "
        "re-encode MB/s | MP/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['name']} | {r['ok']}/{r['n']} | {r['failed']} | {r['mismatch']} | "
                     f"{r['mb']:.2f} | {r['mp']:.1f} | {f(r['read_mb_s'])} | "
                     f"{f(r['read_mp_s'])} | {f(r['write_mb_s'])} | {f(r['write_mp_s'])} |")
    lines.append("")
    for r in results:
        if r["reasons"]:
            lines.append(f"- {r['name']}: " + "; ".join(f"{n} × {x}" for x, n in r["reasons"]))
    if per_file:
        for r in results:
            lines += ["", f"### {r['name']}", "", "| file | KB | MP | read ms | write ms |",
                      "|---|---:|---:|---:|---:|"]
            for x in r["files"]:
                if x["status"] == "ok":
                    lines.append(f"| {x['file']} | {x['bytes'] / 1e3:.1f} | "
                                 f"{f(x['mp'])} | {1e3 * x['read_s']:.1f} | "
                                 f"{1e3 * x['write_s']:.1f} |")
                else:
                    lines.append(f"| {x['file']} | {x['bytes'] / 1e3:.1f} | {f(x['mp'])} | "
                                 f"{x['status']} | |")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("dirs", nargs="+", type=Path, help="folders of JPEG files")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per file (median)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N files per folder")
    parser.add_argument("--per-file", action="store_true", help="per-file table")
    parser.add_argument("--json", type=Path, help="write all measurements as JSON")
    parser.add_argument("--markdown", type=Path, help="write the report here (default: stdout)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    os.environ.update(SINGLE_THREAD_ENV)  # before numba/numpy load
    use_repo_checkout()
    from jpegzip import jpeg

    folders = [d for d in args.dirs if d.is_dir()]
    first = next((p for d in folders for p in list_files(d)), None)
    t0 = time.perf_counter()
    if first is not None:  # warm-up: JIT compilation and imports, not timed below
        measure_file(jpeg, first.read_bytes(), 1)
    meta: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_info(), "revision": git_revision(),
        "first_call_s": time.perf_counter() - t0, "load_start": load_average(),
        "command": " ".join(["python", display_path(sys.argv[0]),
                             *(sys.argv[1:] if argv is None else argv)]),
    }
    results = [measure_folder(jpeg, d, args.repeat, args.limit) for d in folders]
    meta["load_end"] = load_average()
    report = render(meta, results, args.per_file)
    if args.markdown:
        write_section(args.markdown, "jpeg-layer", report)
    else:
        print(report)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "sets": results}, indent=1))
    return 1 if any(r["mismatch"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
