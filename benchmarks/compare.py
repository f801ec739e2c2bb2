"""Compare jpegzip with Lepton, JPEG XL transcoding and zstd on the same JPEG files, in one run.

Every tool runs single-threaded in its own worker process; the tools take turns file by file,
so a busy spell of this shared machine hits them alike. A crash, a hang (timeout) or a wrong
round trip marks that file failed for that tool and the run goes on. For each file and tool:
compress, decompress, compare the bytes with the original; --repeat rounds, median times.

Example:
    python benchmarks/compare.py benchmarks/data/kodak-q75 --tools lepton,jxl --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import resource
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import (
    REPO_ROOT,
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

TOOLS = ("jpegzip", "jpegzip-1", "lepton", "jxl", "zstd")
TOOL_LABELS = {
    "jpegzip": "jpegzip",
    "jpegzip-1": "jpegzip -l 1",
    "lepton": "Lepton",
    "jxl": "JPEG XL",
    "zstd": "zstd -19",
}
STARTUP_TIMEOUT_S = 300.0
ZSTD_LEVEL = 19

# ----------------------------------------------------------------------------- tools


@dataclass
class Codec:
    """A tool as the worker sees it: two byte-to-byte functions and a version string."""

    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]
    version: str


def _jpegzip_version(module: Any) -> str:
    version = getattr(module, "__version__", None)
    if version is None:
        try:
            import tomllib

            with open(REPO_ROOT / "pyproject.toml", "rb") as fh:
                version = tomllib.load(fh)["project"]["version"]
        except Exception:  # noqa: BLE001 - best effort, only for the report
            version = "unknown"
    return f"{version} (checkout {git_revision()})"


def load_codec(tool: str) -> Codec:
    """Import one tool, configured for a single thread."""
    from importlib.metadata import version as dist_version

    if tool in ("jpegzip", "jpegzip-1"):  # the default level, and level 1
        use_repo_checkout()
        import jpegzip
        from jpegzip.api import decompress_with_result

        one_thread = jpegzip.Options(threads=1)
        options = jpegzip.Options(threads=1, level=1) if tool == "jpegzip-1" else one_thread
        return Codec(
            lambda d: jpegzip.compress_with_result(d, options)[0],
            lambda d: decompress_with_result(d, one_thread)[0],
            f"{_jpegzip_version(jpegzip)}, level {options.level}, threads=1",
        )
    if tool == "lepton":
        import lepton_jpeg_python as lepton

        cfg = {"threads": "single"}
        return Codec(
            lambda d: lepton.compress_bytes(d, cfg),
            lambda d: lepton.decompress_bytes(d, cfg),
            f"lepton-jpeg-python {dist_version('lepton_jpeg_python')}, threads=single",
        )
    if tool == "jxl":
        import imagecodecs

        return Codec(
            lambda d: imagecodecs.jpegxl_encode_jpeg(d, numthreads=1),
            lambda d: bytes(imagecodecs.jpegxl_decode_jpeg(d, numthreads=1)),
            f"{imagecodecs.jpegxl_version()} via imagecodecs {imagecodecs.__version__}, "
            "numthreads=1, default effort",
        )
    if tool == "zstd":
        import zstandard

        cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        dctx = zstandard.ZstdDecompressor()
        return Codec(
            cctx.compress,
            dctx.decompress,
            f"zstandard {zstandard.__version__} (libzstd "
            f"{'.'.join(str(x) for x in zstandard.ZSTD_VERSION)}), "
            f"level {ZSTD_LEVEL}",
        )
    raise ValueError(f"unknown tool {tool!r}")


# ---------------------------------------------------------------------------- worker


def _peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def _run_file(codec: Codec, path: str, repeat: int, warmup: bool) -> dict[str, Any]:
    """Compress and decompress one file ``repeat`` times (plus an untimed warm-up)."""
    data = Path(path).read_bytes()
    enc_s: list[float] = []
    dec_s: list[float] = []
    enc_cpu: list[float] = []
    dec_cpu: list[float] = []
    out_bytes = None
    sizes = set()
    for i in range(repeat + (1 if warmup else 0)):
        stage = "compress"
        try:
            c0, t0 = time.process_time(), time.perf_counter()
            packed = codec.compress(data)
            c1, t1 = time.process_time(), time.perf_counter()
            stage = "decompress"
            restored = codec.decompress(packed)
            c2, t2 = time.process_time(), time.perf_counter()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - Rust/constriction panics are BaseException
            return {"status": "failed", "reason": f"{stage}: {_describe(exc)}",
                    "rss_kb": _peak_rss_kb()}
        if bytes(restored) != data:
            return {"status": "mismatch", "reason": "round trip differs from the input",
                    "out_bytes": len(packed), "rss_kb": _peak_rss_kb()}
        sizes.add(len(packed))
        if warmup and i == 0:
            continue
        out_bytes = len(packed)
        enc_s.append(t1 - t0)
        dec_s.append(t2 - t1)
        enc_cpu.append(c1 - c0)
        dec_cpu.append(c2 - c1)
    return {"status": "ok", "out_bytes": out_bytes, "enc_s": enc_s, "dec_s": dec_s,
            "enc_cpu_s": enc_cpu, "dec_cpu_s": dec_cpu,
            "deterministic": len(sizes) == 1, "rss_kb": _peak_rss_kb()}


def _worker_main(tool: str, conn: Any, mem_limit_mb: int) -> None:
    """Worker process: load the tool, then answer one task (file) at a time until None."""
    os.environ.update(SINGLE_THREAD_ENV)
    if mem_limit_mb > 0:
        limit = mem_limit_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        codec = load_codec(tool)
    except BaseException as exc:  # noqa: BLE001
        conn.send({"ready": False, "reason": f"load: {_describe(exc)}"})
        return
    conn.send({"ready": True, "version": codec.version, "rss_kb": _peak_rss_kb()})
    warm = False
    while True:
        task = conn.recv()
        if task is None:
            return
        path, repeat = task
        conn.send(_run_file(codec, path, repeat, warmup=not warm))
        warm = True


class Worker:
    """Parent-side handle of one tool's worker; restarts it after a crash or a timeout."""

    def __init__(self, ctx: Any, tool: str, mem_limit_mb: int) -> None:
        self.ctx = ctx
        self.tool = tool
        self.mem_limit_mb = mem_limit_mb
        self.proc: Any = None
        self.conn: Any = None
        self.load_error: str | None = None
        self.version: str | None = None
        self.base_rss_kb = 0
        self.peak_rss_kb = 0
        self.restarts = 0

    def _start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker_main, args=(self.tool, child,
                                                                self.mem_limit_mb), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        if not parent.poll(STARTUP_TIMEOUT_S):
            self._kill()
            self.load_error = f"load: no answer in {STARTUP_TIMEOUT_S:.0f} s"
            return
        try:
            msg = parent.recv()
        except EOFError:
            self.load_error = f"load: {self._death()}"
            return
        if not msg["ready"]:
            self.load_error = msg["reason"]
            self._kill()
            return
        self.version = msg["version"]
        self.base_rss_kb = max(self.base_rss_kb, msg["rss_kb"])

    def _kill(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.join(10)
        self.proc = None

    def _death(self) -> str:
        self.proc.join(10)
        code = self.proc.exitcode
        self.proc = None
        if code is not None and code < 0:
            return f"worker killed by signal {-code}"
        return f"worker exited with code {code}"

    def run(self, path: Path, repeat: int, timeout_s: float) -> dict[str, Any]:
        """Run one file; never raises for the tool's failures."""
        if self.load_error is None and self.proc is None:
            if self.version is not None:
                self.restarts += 1
            self._start()
        if self.load_error is not None:
            return {"status": "failed", "reason": self.load_error}
        self.conn.send((str(path), repeat))
        if not self.conn.poll(timeout_s):
            self._kill()
            return {"status": "failed", "reason": f"timeout after {timeout_s:.3g} s"}
        try:
            res = self.conn.recv()
        except EOFError:
            return {"status": "failed", "reason": self._death()}
        self.peak_rss_kb = max(self.peak_rss_kb, res.get("rss_kb", 0))
        return res

    def stop(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(10)
        self._kill()


# ------------------------------------------------------------------------- the run


@dataclass
class DataSet:
    """A folder of files measured together; ``edge`` sets are reported as coverage."""

    name: str
    path: Path
    edge: bool
    repeat: int
    timeout_s: float
    files: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_dataset(ds: DataSet, tools: list[str], ctx: Any, mem_limit_mb: int, limit: int,
                versions: dict[str, str]) -> None:
    """Measure every file of ``ds`` with every tool, taking turns file by file."""
    paths = list_files(ds.path)
    if limit:
        paths = paths[:limit]
    workers = {t: Worker(ctx, t, mem_limit_mb) for t in tools}
    started = time.perf_counter()
    try:
        for i, path in enumerate(paths):
            data = path.read_bytes()
            entry: dict[str, Any] = {
                "file": path.relative_to(ds.path).as_posix(),
                "bytes": len(data),
                "mp": megapixels(data),
                "results": {},
            }
            order = tools[i % len(tools):] + tools[: i % len(tools)]
            for tool in order:
                # one untimed warm-up round runs on each worker's first file
                entry["results"][tool] = workers[tool].run(path, ds.repeat,
                                                           ds.timeout_s * (ds.repeat + 1))
            ds.files.append(entry)
            status = " ".join(f"{t}:{entry['results'][t]['status']}" for t in tools)
            print(f"  [{ds.name} {i + 1}/{len(paths)} {time.perf_counter() - started:6.0f}s] "
                  f"{entry['file'][:50]} {status}", file=sys.stderr, flush=True)
    finally:
        for w in workers.values():
            w.stop()
    for tool, w in workers.items():
        if w.version:
            versions[tool] = w.version
        ds.summary[tool] = {"base_rss_mb": w.base_rss_kb / 1024,
                            "peak_rss_mb": w.peak_rss_kb / 1024,
                            "restarts": w.restarts,
                            "load_error": w.load_error}
    summarize(ds, tools)


PHOTO_BYTES = 50_000


def _is_photo(entry: dict[str, Any]) -> bool:
    """An edge file that is a camera or phone photo: 50,000 bytes or more, or a
    progressive one (the corpus's small files are thumbnails, crafted or damaged)."""
    return entry["bytes"] >= PHOTO_BYTES or "progressive" in entry["file"]


def _rate(amount: float, seconds: float) -> float | None:
    return amount / seconds if seconds > 0 else None


def summarize(ds: DataSet, tools: list[str]) -> None:
    """Totals per tool: coverage, sizes, savings, speeds (total / sum of per-file medians)."""
    common = [f for f in ds.files if all(f["results"][t]["status"] == "ok" for t in tools)]
    total_in = sum(f["bytes"] for f in ds.files)
    for tool in tools:
        s = ds.summary[tool]
        res = [(f, f["results"][tool]) for f in ds.files]
        ok = [(f, r) for f, r in res if r["status"] == "ok"]
        s["files"] = len(ds.files)
        s["ok"] = len(ok)
        s["failed"] = sum(r["status"] == "failed" for _, r in res)
        s["mismatch"] = sum(r["status"] == "mismatch" for _, r in res)
        s["reasons"] = Counter(r["reason"] for _, r in res if r["status"] != "ok").most_common()
        s["nondeterministic"] = sum(not r.get("deterministic", True) for _, r in ok)
        in_ok = sum(f["bytes"] for f, _ in ok)
        out_ok = sum(r["out_bytes"] for _, r in ok)
        s["in_bytes"] = total_in
        s["out_bytes"] = out_ok + (total_in - in_ok)  # a failed file stays as it was
        s["savings_pct"] = 100 * (1 - s["out_bytes"] / total_in) if total_in else None
        s["savings_ok_pct"] = 100 * (1 - out_ok / in_ok) if in_ok else None
        c_in = sum(f["bytes"] for f in common)
        c_out = sum(f["results"][tool]["out_bytes"] for f in common)
        s["common_files"] = len(common)
        s["savings_common_pct"] = 100 * (1 - c_out / c_in) if c_in else None
        enc = sum(median(r["enc_s"]) for _, r in ok)
        dec = sum(median(r["dec_s"]) for _, r in ok)
        s["enc_s"], s["dec_s"] = enc, dec
        s["enc_mb_s"] = _rate(in_ok / 1e6, enc)
        s["dec_mb_s"] = _rate(in_ok / 1e6, dec)
        s["enc_cpu_mb_s"] = _rate(in_ok / 1e6, sum(median(r["enc_cpu_s"]) for _, r in ok))
        s["dec_cpu_mb_s"] = _rate(in_ok / 1e6, sum(median(r["dec_cpu_s"]) for _, r in ok))
        if ds.edge:  # the camera and phone photos among the edge files
            photos = [f for f in common if _is_photo(f)]
            p_in = sum(f["bytes"] for f in photos)
            p_out = sum(f["results"][tool]["out_bytes"] for f in photos)
            s["photo_files"] = len(photos)
            s["savings_photos_pct"] = 100 * (1 - p_out / p_in) if p_in else None
        with_mp = [(f, r) for f, r in ok if f["mp"]]
        mp_total = sum(f["mp"] for f, _ in with_mp)
        s["enc_mp_s"] = _rate(mp_total, sum(median(r["enc_s"]) for _, r in with_mp))
        s["dec_mp_s"] = _rate(mp_total, sum(median(r["dec_s"]) for _, r in with_mp))


# -------------------------------------------------------------------------- output


def _f(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _set_description(folder: Path) -> str:
    """The description make_datasets.py wrote for this set (SETS.tsv next to it), if any."""
    sets_file = folder.resolve().parent / "SETS.tsv"
    if sets_file.is_file():
        for line in sets_file.read_text().splitlines():
            name, _, text = line.partition("\t")
            if name == folder.resolve().name:
                return text
    return ""


def _load_manifest_notes(folder: Path) -> dict[str, str]:
    """Notes per file from a MANIFEST.tsv in the folder or its parent (the shared corpus)."""
    for base in (folder, folder.parent):
        manifest = base / "MANIFEST.tsv"
        if not manifest.is_file():
            continue
        notes = {}
        prefix = folder.relative_to(base).as_posix()
        for line in manifest.read_text(errors="replace").splitlines()[1:]:
            cols = line.split("\t")
            if len(cols) >= 6:
                rel = cols[0][len(prefix) + 1:] if prefix != "." else cols[0]
                notes[rel] = cols[5].split(" | ")[0]
        return notes
    return {}


def render_markdown(meta: dict[str, Any], sets: list[DataSet], tools: list[str],
                    per_file: bool) -> str:
    """The whole report as Markdown."""
    lines = ["## Lossless: jpegzip against the peers", "",
             "Written by `benchmarks/compare.py` (see benchmarks/README.md); do not edit by hand.",
             ""]
    m = meta["machine"]
    lines += [
        f"- Date: {meta['date']}",
        f"- Machine: {m['cpu']}, {m['nproc']} cores available, {m.get('memory', '?')} RAM, "
        f"{m['os']}, Python {m['python']}",
        f"- Load average (1/5/15 min) at start: {meta['load_start']}; at end: {meta['load_end']}",
        f"- Command: `{meta['command']}`",
        f"- Wall time of the run: {meta['wall_s'] / 60:.1f} min ({meta['wall_s']:.0f} s)",
        "- Tools (one thread each, own worker process, taking turns file by file):",
    ]
    for t in tools:
        lines.append(f"  - {TOOL_LABELS[t]}: {meta['versions'].get(t, 'not loaded')}")
    lines += [
        "",
        "Savings = 1 − output/input over all files of a set; a file a tool fails on counts as "
        "kept unchanged (0 %). *Common* = only the files every tool round-tripped exactly. "
        "Speeds: MB (10⁶ bytes) of JPEG and megapixels per second, one thread, total size / "
        "sum of per-file median times (wall clock; *by CPU time* uses the worker's process "
        "CPU time instead, less sensitive to other load). Peak RSS = ru_maxrss of the tool's "
        "worker process "
        "(includes the Python interpreter). The machine is shared and noisy: compare tools "
        "within one table, not absolute times across runs.",
        "",
    ]
    speed_sets = [d for d in sets if not d.edge]
    if speed_sets:
        lines += ["### Summary: savings % (enc / dec MB/s)", "",
                  "| set | files | MB | " + " | ".join(TOOL_LABELS[t] for t in tools) + " |",
                  "|---|---:|---:|" + "---:|" * len(tools)]
        for d in speed_sets:
            cells = []
            for t in tools:
                s = d.summary[t]
                bad = s["failed"] + s["mismatch"]
                cell = f"{_f(s['savings_pct'])} ({_f(s['enc_mb_s'])} / {_f(s['dec_mb_s'])})"
                if bad:
                    cell += f" [{bad} failed]"
                cells.append(cell)
            mb = sum(f["bytes"] for f in d.files) / 1e6
            lines.append(f"| {d.name} | {len(d.files)} | {mb:.2f} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += [f"- **{d.name}**: {_set_description(d.path)}" for d in speed_sets
                  if _set_description(d.path)]
        lines.append("")
        if "lepton" in tools:
            lines += ["Relative to Lepton on the same set: output size / Lepton's on the "
                      "common files (files smaller than Lepton's), then encode and decode "
                      "MB/s ÷ Lepton's:", "",
                      "| set | " + " | ".join(f"{TOOL_LABELS[t]} size / enc / dec" for t in tools
                                              if t != "lepton") + " |",
                      "|---|" + "---:|" * (len(tools) - 1)]
            for d in speed_sets:
                lep = d.summary["lepton"]
                cells = []
                for t in tools:
                    if t == "lepton":
                        continue
                    s = d.summary[t]
                    common = [f for f in d.files
                              if all(f["results"][x]["status"] == "ok" for x in tools)]
                    lo = sum(f["results"]["lepton"]["out_bytes"] for f in common)
                    to = sum(f["results"][t]["out_bytes"] for f in common)
                    wins = sum(f["results"][t]["out_bytes"] < f["results"]["lepton"]["out_bytes"]
                               for f in common)
                    size = f"{to / lo:.3f} ({wins}/{len(common)} smaller)" if lo else "–"
                    enc = (_f(s["enc_mb_s"] / lep["enc_mb_s"], 2)
                           if s["enc_mb_s"] and lep["enc_mb_s"] else "–")
                    dec = (_f(s["dec_mb_s"] / lep["dec_mb_s"], 2)
                           if s["dec_mb_s"] and lep["dec_mb_s"] else "–")
                    cells.append(f"{size} / {enc} / {dec}")
                lines.append(f"| {d.name} | " + " | ".join(cells) + " |")
            lines.append("")
        if meta.get("plot"):
            lines += [f"![savings and speed]({meta['plot']})", ""]

    for d in sets:
        mb = sum(f["bytes"] for f in d.files) / 1e6
        mpx = sum(f["mp"] or 0 for f in d.files)
        title = "Coverage" if d.edge else "Set"
        size = f"{mb:.2f} MB" if d.edge else f"{mb:.2f} MB, {mpx:.1f} MP"
        lines += [f"### {title}: {d.name}", "",
                  f"`{display_path(d.path)}`: {len(d.files)} files, {size}; "
                  f"{d.repeat} timed round(s) per file, timeout {d.timeout_s:.3g} s per round."]
        about = _set_description(d.path)
        if about:
            lines += ["", about]
        lines.append("")
        if d.edge:
            lines += ["| tool | ok (exact) | failed | mismatch | savings % (all) | "
                      "savings % (own ok files) | savings % (common) | peak RSS MB |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|"]
            for t in tools:
                s = d.summary[t]
                lines.append(
                    f"| {TOOL_LABELS[t]} | {s['ok']} | {s['failed']} | {s['mismatch']} | "
                    f"{_f(s['savings_pct'])} | {_f(s['savings_ok_pct'])} | "
                    f"{_f(s['savings_common_pct'])} ({s['common_files']} files) | "
                    f"{_f(s['peak_rss_mb'], 0)} |")
            first = d.summary[tools[0]]
            lines += ["", f"Camera and phone photos (the common files of {PHOTO_BYTES:,} bytes "
                      f"or more, or named progressive: {first.get('photo_files', 0)} files), "
                      "savings %: " + ", ".join(
                          f"{TOOL_LABELS[t]} {_f(d.summary[t].get('savings_photos_pct'), 2)}"
                          for t in tools) + "."]
        else:
            lines += ["| tool | ok | failed | mismatch | in MB | out MB | savings % | "
                      "savings % (common) | enc MB/s | dec MB/s | enc MP/s | dec MP/s | "
                      "enc / dec MB/s by CPU time | peak RSS MB |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for t in tools:
                s = d.summary[t]
                lines.append(
                    f"| {TOOL_LABELS[t]} | {s['ok']} | {s['failed']} | {s['mismatch']} | "
                    f"{s['in_bytes'] / 1e6:.3f} | {s['out_bytes'] / 1e6:.3f} | "
                    f"{_f(s['savings_pct'], 2)} | {_f(s['savings_common_pct'], 2)} | "
                    f"{_f(s['enc_mb_s'], 2)} | {_f(s['dec_mb_s'], 2)} | "
                    f"{_f(s['enc_mp_s'], 2)} | {_f(s['dec_mp_s'], 2)} | "
                    f"{_f(s['enc_cpu_mb_s'], 2)} / {_f(s['dec_cpu_mb_s'], 2)} | "
                    f"{_f(s['peak_rss_mb'], 0)} |")
        lines.append("")
        for t in tools:
            bad = [f["file"] for f in d.files if f["results"][t]["status"] == "mismatch"]
            if bad:
                lines += [f"**{TOOL_LABELS[t]}: round trip differs from the input on "
                          f"{len(bad)} file(s):** " + ", ".join(f"`{b}`" for b in bad), ""]
        reasons = [(t, d.summary[t]["reasons"]) for t in tools if d.summary[t]["reasons"]]
        if reasons:
            lines += ["Failures (count × reason):", ""]
            for t, rs in reasons:
                shown = rs[:8]
                more = sum(n for _, n in rs[8:])
                text = "; ".join(f"{n} × {r}" for r, n in shown)
                if more:
                    text += f"; {more} × other reasons (see the JSON)"
                lines.append(f"- {TOOL_LABELS[t]}: {text}")
            lines.append("")
        if per_file:
            lines += _per_file_table(d, tools)
    return "\n".join(lines).rstrip() + "\n"


def _per_file_table(d: DataSet, tools: list[str]) -> list[str]:
    notes = _load_manifest_notes(d.path) if d.edge else {}
    rows = d.files
    header = "| file | KB | MP | " + " | ".join(f"{TOOL_LABELS[t]} %" for t in tools) + " |"
    if d.edge:
        rows = [f for f in d.files if len({f["results"][t]["status"] for t in tools}) > 1]
        head = [f"Files where the tools disagree ({len(rows)}); % = savings, ✗ = failed, "
                "≠ = round trip differs:", ""]
        header += " note |"
    else:
        head = ["Per file (% savings; ✗ = failed, ≠ = round trip differs):", ""]
    out = head + [header, "|---|---:|---:|" + "---:|" * len(tools) + ("---|" if d.edge else "")]
    for f in rows:
        cells = []
        for t in tools:
            r = f["results"][t]
            if r["status"] == "ok":
                cells.append(_f(100 * (1 - r["out_bytes"] / f["bytes"])) if f["bytes"] else "–")
            else:
                cells.append("✗" if r["status"] == "failed" else "≠")
        line = (f"| {f['file']} | {f['bytes'] / 1e3:.1f} | {_f(f['mp'], 2)} | "
                + " | ".join(cells) + " |")
        if d.edge:
            line += f" {notes.get(f['file'], '')[:70]} |"
        out.append(line)
    return out + [""]


def make_plot(sets: list[DataSet], tools: list[str], out: Path) -> None:
    """Grouped bars of savings per set, and savings versus decode speed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speed_sets = [d for d in sets if not d.edge]
    if not speed_sets:
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5))
    width = 0.8 / len(tools)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, t in enumerate(tools):
        xs = [i + (j - (len(tools) - 1) / 2) * width for i in range(len(speed_sets))]
        ys = [d.summary[t]["savings_pct"] or 0.0 for d in speed_sets]
        bars = ax1.bar(xs, ys, width, label=TOOL_LABELS[t], color=colors[j % len(colors)])
        ax1.bar_label(bars, fmt="%.1f", fontsize=6, padding=1)
        pts = [(d.summary[t]["dec_mb_s"], d.summary[t]["savings_pct"], d.name)
               for d in speed_sets if d.summary[t]["dec_mb_s"]]
        if pts:
            ax2.scatter([p[0] for p in pts], [p[1] for p in pts], label=TOOL_LABELS[t],
                        color=colors[j % len(colors)])
            for x, y, name in pts:
                ax2.annotate(name.replace("kodak-", ""), (x, y), fontsize=7,
                             xytext=(3, 3), textcoords="offset points")
    ax1.set_xticks(range(len(speed_sets)))
    ax1.set_xticklabels([d.name for d in speed_sets], rotation=30, ha="right")
    ax1.set_ylabel("savings % (higher is better)")
    ax1.set_title("Lossless savings per data set")
    ax1.axhline(0, color="black", linewidth=0.5)
    ax1.legend()
    ax2.set_xscale("log")
    ax2.set_xlabel("decode MB/s of JPEG, one thread (log)")
    ax2.set_ylabel("savings %")
    ax2.set_title("Savings vs decode speed")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _json_ready(ds: DataSet) -> dict[str, Any]:
    return {"name": ds.name, "path": display_path(ds.path), "edge": ds.edge,
            "repeat": ds.repeat, "timeout_s": ds.timeout_s, "summary": ds.summary,
            "files": ds.files}


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("dirs", nargs="*", type=Path, help="folders of JPEG files (data sets)")
    parser.add_argument("--edge", type=Path, action="append", default=[],
                        help="folder reported as coverage (files taken, exactness); repeatable")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help=f"comma-separated, from {','.join(TOOLS)} (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per file (median)")
    parser.add_argument("--edge-repeat", type=int, default=1, help="timed rounds, edge sets")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds per file and round before the worker is killed")
    parser.add_argument("--edge-timeout", type=float, default=60.0,
                        help="the same for edge sets")
    parser.add_argument("--mem-limit-mb", type=int, default=8192,
                        help="address-space limit of each worker (0 = none)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N files per set")
    parser.add_argument("--per-file", action="store_true", help="per-file tables in Markdown")
    parser.add_argument("--json", type=Path, help="write every measurement as JSON")
    parser.add_argument("--markdown", type=Path, help="write the report as Markdown")
    parser.add_argument("--plot", type=Path, help="write a PNG plot (needs matplotlib)")
    args = parser.parse_args(argv)
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = [t for t in args.tools if t not in TOOLS]
    if bad or not args.tools:
        parser.error(f"unknown tool(s) {bad}; choose from {', '.join(TOOLS)}")
    if args.repeat < 1 or args.edge_repeat < 1:
        parser.error("--repeat and --edge-repeat must be at least 1")
    if not args.dirs and not args.edge:
        parser.error("give at least one folder (or --edge folder)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.update(SINGLE_THREAD_ENV)
    sets: list[DataSet] = []
    for folder, edge in [(d, False) for d in args.dirs] + [(d, True) for d in args.edge]:
        if not folder.is_dir():
            print(f"skipping {display_path(folder)}: not a folder", file=sys.stderr)
            continue
        sets.append(DataSet(folder.resolve().name, folder, edge,
                            args.edge_repeat if edge else args.repeat,
                            args.edge_timeout if edge else args.timeout))
    if not sets:
        print("nothing to measure", file=sys.stderr)
        return 2

    ctx = mp.get_context("spawn")
    command = " ".join(["python", shlex.quote(display_path(sys.argv[0]))]
                       + [shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)])
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "load_start": load_average(),
        "command": command,
        "tools": args.tools,
        "versions": {},
    }
    start = time.perf_counter()
    for ds in sets:
        print(f"{ds.name}: {display_path(ds.path)}", file=sys.stderr, flush=True)
        run_dataset(ds, args.tools, ctx, args.mem_limit_mb, args.limit, meta["versions"])
    meta["wall_s"] = time.perf_counter() - start
    meta["load_end"] = load_average()

    if args.json:  # first: a failing plot must not lose a long run's figures
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "sets": [_json_ready(d) for d in sets]},
                                        indent=1))
    if args.plot and args.markdown:
        meta["plot"] = os.path.relpath(args.plot, args.markdown.parent)
    report = render_markdown(meta, sets, args.tools, args.per_file)
    if args.markdown:
        write_section(args.markdown, "compare", report)
    else:
        print(report)
    if args.plot:
        make_plot(sets, args.tools, args.plot)
    mismatches = sum(d.summary[t]["mismatch"] for d in sets for t in args.tools)
    if mismatches:
        print(f"WARNING: {mismatches} round trip(s) did not give the input back",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
