"""Helpers shared by the benchmark scripts: paths, file lists, JPEG dimensions, machine info.

Standard library only, so that worker processes start fast and import nothing by accident.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SHARED_CORPUS = REPO_ROOT.parent / "shared" / "corpus"
DATA_DIR = BENCH_DIR / "data"

# Thread-count knobs of the libraries the tools may use; benchmarks run single-threaded.
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "RAYON_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}

_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def use_repo_checkout() -> None:
    """Put the repository root first on sys.path so ``import jpegzip`` gets this checkout."""
    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)


def list_files(folder: Path) -> list[Path]:
    """All regular, non-hidden files below ``folder``, sorted by relative path."""
    out = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and not path.is_symlink():
            out.append(path)
    return sorted(out, key=lambda p: p.relative_to(folder).as_posix())


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first SOF segment, or None when there is none."""
    if data[:2] != b"\xff\xd8":
        return None
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            pos += 1
            continue
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):
            return None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _SOF_MARKERS:
            if pos + 9 > n:
                return None
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            return width, height
        pos += 2 + length
    return None


def megapixels(data: bytes) -> float | None:
    """Image size in megapixels from the SOF header, or None."""
    dims = jpeg_dimensions(data)
    if dims is None or dims[0] == 0 or dims[1] == 0:
        return None
    return dims[0] * dims[1] / 1e6


def median(values: Iterable[float]) -> float:
    """Median of a non-empty iterable."""
    return statistics.median(list(values))


def display_path(path: Path | str) -> str:
    """A path relative to the current directory (never this machine's absolute layout)."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return Path(path).name


def machine_info() -> dict[str, str]:
    """CPU model, core count, memory, OS and Python: the header of every results file."""
    info: dict[str, str] = {}
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 0
    info["nproc"] = str(affinity)
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["cpu"] = model
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                info["memory"] = f"{kib / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    info["os"] = f"{platform.system()} {platform.release()}"
    info["python"] = platform.python_version()
    return info


def machine_line() -> str:
    """machine_info() as one line for a report."""
    m = machine_info()
    return (f"{m['cpu']}, {m['nproc']} cores, {m.get('memory', '?')} RAM, {m['os']}, "
            f"Python {m['python']}")


def load_average() -> str:
    """1/5/15-minute load average as text (the machine is shared: record how busy it was)."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def git_revision() -> str:
    """Short commit of the checkout plus '+dirty' when it has changes, or 'unknown'."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_section(path: Path, name: str, text: str) -> None:
    """Put ``text`` in the section ``name`` of a Markdown file, keeping the other sections.

    Each benchmark script refreshes only its own part of RESULTS.md, between
    ``<!-- name:start -->`` and ``<!-- name:end -->``; a new section goes at the end.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text.strip()}\n{end}"
    old = path.read_text() if path.exists() else ""
    if start in old and end in old:
        before, rest = old.split(start, 1)
        new = before + block + rest.split(end, 1)[1]
    else:
        new = (old.rstrip() + "\n\n" if old.strip() else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)

