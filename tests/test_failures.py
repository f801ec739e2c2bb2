"""Failure injection: the output cannot be written, the disk fills, the process is killed
between writing and renaming, two processes write the same output.

Whatever happens, the source is untouched, no partial output ever sits under the final
name, the error is one line naming the file, and a rerun succeeds. We run as root here, so
a read-only folder is simulated by making the calls fail, not with chmod.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jpegzip import api
from jpegzip.cli import app
from jpegzip.errors import OutputExists


def run(*args) -> object:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def assert_one_error_line(result, name: Path, text: str, code: str = "io-error") -> None:
    lines = result.stderr.splitlines()
    assert result.exit_code == 1, result.output
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"jpegzip: {name}: ") and lines[0].endswith(f"[{code}]")
    assert text in lines[0], lines[0]
    assert "Traceback" not in result.output


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.fixture
def photo(tmp_path, jpeg_bytes) -> Path:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes)
    return path


def failing(error: OSError):
    def fail(*args, **kwargs):
        raise error

    return fail


# --- the output cannot be written ------------------------------------------------------------


def test_read_only_output_folder(photo, jpeg_bytes, monkeypatch):
    denied = PermissionError(errno.EACCES, "Permission denied", str(photo.parent))
    monkeypatch.setattr("tempfile.mkstemp", failing(denied))
    with pytest.raises(PermissionError):
        api.compress_file(photo, photo.with_suffix(".jrz"))
    result = run("compress", photo)
    assert_one_error_line(result, photo, "Permission denied")
    assert files_in(photo.parent) == ["photo.jpg"] and photo.read_bytes() == jpeg_bytes


def test_rename_refused_leaves_no_temporary_file(photo, jpeg_bytes, monkeypatch):
    denied = PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(os, "link", failing(denied))
    result = run("compress", photo)
    assert_one_error_line(result, photo, "Permission denied")
    assert files_in(photo.parent) == ["photo.jpg"] and photo.read_bytes() == jpeg_bytes


def test_output_folder_that_is_a_file(tmp_path, photo):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    result = run("compress", photo, "-o", blocker / "photo.jrz")
    assert_one_error_line(result, photo, "output folder does not exist")
    assert files_in(tmp_path) == ["notes.txt", "photo.jpg"]


def test_file_system_without_hard_links_still_refuses_to_clobber(tmp_path, jpeg_bytes, monkeypatch):
    monkeypatch.setattr(os, "link", failing(OSError(errno.EPERM, "Operation not permitted")))
    api.save(tmp_path / "a.jrz", b"first")
    with pytest.raises(OutputExists):
        api.save(tmp_path / "a.jrz", b"second")
    assert files_in(tmp_path) == ["a.jrz"] and (tmp_path / "a.jrz").read_bytes() == b"first"


# --- the disk fills --------------------------------------------------------------------------


class _FullDisk:
    """A file object whose writes fail as on a full disk (after the first few bytes)."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def write(self, data: bytes) -> int:
        self.handle.write(data[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.handle.close()


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_disk_full_keeps_the_source_and_leaves_nothing(photo, jpeg_bytes, monkeypatch, where):
    if where == "write":
        real_fdopen = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda *args, **kw: _FullDisk(real_fdopen(*args, **kw)))
    else:  # delayed allocation: the failure shows when the data is forced to disk
        monkeypatch.setattr(os, "fsync", failing(OSError(errno.ENOSPC, "No space left on device")))
    result = run("compress", "--rm", photo)
    assert_one_error_line(result, photo, "No space left on device")
    assert files_in(photo.parent) == ["photo.jpg"] and photo.read_bytes() == jpeg_bytes
    monkeypatch.undo()  # space freed: a rerun succeeds
    assert run("compress", photo).exit_code == 0
    assert api.decompress(photo.with_suffix(".jrz").read_bytes()) == jpeg_bytes


# --- killed between writing the temporary file and renaming it -------------------------------

KILLED_AT = """
import os, signal, sys
from jpegzip import api
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
setattr(os, sys.argv[1], die)
api.compress_file(sys.argv[2], sys.argv[3], force=sys.argv[4] == "force")
"""


@pytest.mark.parametrize("call", ["fsync", "link", "replace"])
def test_killed_before_the_rename(tmp_path, photo, jpeg_bytes, call):
    target = photo.with_suffix(".jrz")
    force = call == "replace"  # --force renames over the old output; the others link
    if force:
        target.write_bytes(b"an older output")
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AT, call, str(photo), str(target), "force" * force],
        capture_output=True,
    )
    assert killed.returncode == -9, killed.stderr.decode()
    assert photo.read_bytes() == jpeg_bytes
    assert target.read_bytes() == b"an older output" if force else not target.exists()
    (leftover,) = [name for name in files_in(tmp_path) if name not in ("photo.jpg", "photo.jrz")]
    assert leftover.startswith(".photo.jrz.") and leftover.endswith(".tmp")  # hidden, not .jrz

    # A rerun over the folder neither takes the leftover for an input nor trips on it.
    result = run("compress", "-r", "-v", "--force", tmp_path)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr and leftover not in result.stderr
    assert api.decompress(target.read_bytes()) == jpeg_bytes
    photo.unlink()
    result = run("decompress", "-r", tmp_path)
    assert result.exit_code == 0, result.output
    assert photo.read_bytes() == jpeg_bytes


# --- two writers of one output ---------------------------------------------------------------

# Each process stops at its final rename (link, or replace) until both have reached it, so
# both have passed every "does the output exist?" check before either renames.
RACER = """
import os, sys, time
from pathlib import Path
def together(call):
    def wait_for_the_other(*args, **kwargs):
        barrier = Path(sys.argv[1])
        (barrier / str(os.getpid())).touch()
        deadline = time.monotonic() + 60
        while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        return call(*args, **kwargs)
    return wait_for_the_other
os.link, os.replace = together(os.link), together(os.replace)
from jpegzip.cli import app
app(sys.argv[2:], prog_name="jpegzip")
"""


def test_two_writers_of_one_output_one_wins(tmp_path, make_jpeg):
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    target = tmp_path / "out.jrz"
    sources = []
    for seed in (1, 2):
        sources.append(tmp_path / f"in{seed}.jpg")
        sources[-1].write_bytes(make_jpeg(seed=seed))
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(barrier), "compress", str(source), "-o", str(target)],
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,  # not the checkout: "-c" puts the working folder first on sys.path
        )
        for source in sources
    ]
    errors = [racer.communicate(timeout=120)[1] for racer in racers]
    statuses = [racer.returncode for racer in racers]
    assert sorted(statuses) == [0, 1], errors
    winner, loser = (0, 1) if statuses[0] == 0 else (1, 0)
    (line,) = errors[loser].splitlines()
    assert line.startswith(f"jpegzip: {sources[loser]}: ") and "already exists" in line
    assert line.endswith("[output-exists]") and "Traceback" not in errors[loser]
    assert api.decompress(target.read_bytes()) == sources[winner].read_bytes()
    assert files_in(tmp_path) == ["barrier", "in1.jpg", "in2.jpg", "out.jrz"]
