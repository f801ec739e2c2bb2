"""The installed ``jpegzip`` command on trees of files, in real processes: mirrored outputs,
stdin/stdout, --rm, interrupt and resume, exit statuses, --json, info and verify."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli import installed_command

import jpegzip

PACKAGE_PARENT = str(Path(jpegzip.__file__).resolve().parents[1])
JPEG_NAMES = ["a.jpg", "b.jpeg", "sub/c.jpg", "sub/d.JPG", "sub/deep/e.jpg", "sub/deep/f.jpg"]


def jpegzip_run(*args, cwd: Path, stdin: bytes | None = None, check: int | None = None):
    """Run the command; stdout as bytes, stderr as text. ``check``: the expected status."""
    done = subprocess.run(
        [*installed_command(), *map(str, args)],
        cwd=cwd,
        env=os.environ | {"PYTHONPATH": PACKAGE_PARENT},
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=300,
    )
    done.stderr = done.stderr.decode()
    if check is not None:
        assert done.returncode == check, done.stderr
    return done


def jpegzip_json(*args, cwd: Path, check: int = 0):
    return json.loads(jpegzip_run(*args, "--json", cwd=cwd, check=check).stdout)


def relative_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def leftovers(folder: Path) -> list[str]:
    """Temporary files an interrupted write could leave (.<name>.<random>.tmp)."""
    return [str(p) for p in folder.rglob(".*") if p.is_file()]


@pytest.fixture
def photos(tmp_path, make_jpeg, png_bytes) -> Path:
    root = tmp_path / "photos"
    for seed, name in enumerate(JPEG_NAMES):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(make_jpeg(64, 48, seed=seed, progressive=seed == 3))
    (root / "sub" / "image.png").write_bytes(png_bytes)
    (root / "readme.txt").write_text("not a photo\n")
    return root


def test_recursive_tree_round_trip_with_mirrored_outputs(photos, tmp_path):
    report = jpegzip_json("compress", "-r", "photos", "-o", "archive", "-j", "2", cwd=tmp_path)
    summary = report["summary"]
    assert (summary["files"], summary["skipped"], summary["failed"]) == (8, 2, 0)
    assert summary["done"] + summary["stored"] == 6 and report["exit_status"] == 0
    expected = sorted(str(Path(name).with_suffix(".jrz")) for name in JPEG_NAMES)
    assert relative_files(tmp_path / "archive") == expected

    done = jpegzip_run("decompress", "-r", "archive", "-o", "restored", cwd=tmp_path, check=0)
    assert done.stdout == b""
    for name in JPEG_NAMES:  # each under its own name: its suffix is restored
        restored = tmp_path / "restored" / name
        assert restored.read_bytes() == (photos / name).read_bytes(), name


def test_workers_import_the_command_s_jpegzip_whatever_the_working_folder(photos, tmp_path):
    """Run from a folder whose own ``jpegzip`` package would shadow the installed one (a
    source checkout): the worker processes still import the command's."""
    if installed_command()[0] == sys.executable:
        pytest.skip("python -m imports from the working folder itself; needs the script")
    shadow = tmp_path / "jpegzip"
    shadow.mkdir()
    (shadow / "__init__.py").write_text(
        "import pathlib\npathlib.Path(__file__).with_name('imported').touch()\n"
    )
    report = jpegzip_json("compress", "-r", "photos", "-o", "archive", "-j", "2", cwd=tmp_path)
    assert not (shadow / "imported").exists()
    converted = [f for f in report["files"] if f["status"] in ("done", "stored")]
    assert len(converted) == len(JPEG_NAMES) and report["summary"]["failed"] == 0
    assert all(f["reason"] is None for f in converted), report["files"]


def test_non_jpegs_in_folders_warn_but_named_ones_fail(photos, tmp_path):
    done = jpegzip_run("compress", "-r", "photos", "-j", "1", cwd=tmp_path, check=0)
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 2 and all(line.endswith("not a JPEG, skipped") for line in warnings)
    done = jpegzip_run("compress", "photos/readme.txt", cwd=tmp_path, check=1)
    assert done.stderr.strip().endswith("[not-jpeg]")


def test_stdin_to_stdout_and_back(photos, tmp_path):
    original = (photos / "a.jpg").read_bytes()
    packed = jpegzip_run("compress", "-", cwd=tmp_path, stdin=original, check=0).stdout
    assert packed.startswith(b"\x89JRZ")
    assert jpegzip_run("decompress", "-", cwd=tmp_path, stdin=packed, check=0).stdout == original
    jpegzip_run("compress", "-", "-o", "from-stdin.jrz", cwd=tmp_path, stdin=original, check=0)
    restored = jpegzip_run("decompress", "from-stdin.jrz", "-o", "-", cwd=tmp_path, check=0)
    assert restored.stdout == original
    bad = jpegzip_run("compress", "-", cwd=tmp_path, stdin=b"plain text", check=1)
    assert bad.stdout == b"" and bad.stderr.strip().endswith("[not-jpeg]")


def test_rm_deletes_only_verified_sources(photos, tmp_path):
    originals = {name: (photos / name).read_bytes() for name in JPEG_NAMES}
    blocker = photos / "sub" / "c.jrz"
    blocker.write_bytes(b"an older file that is not c.jpg's output")
    done = jpegzip_run("compress", "-r", "photos", "--rm", "-j", "1", cwd=tmp_path, check=1)
    assert "sub/c.jpg" in done.stderr and "[output-exists]" in done.stderr
    assert (photos / "sub" / "c.jpg").exists(), "its output did not verify: the source stays"
    assert blocker.read_bytes().startswith(b"an older file")
    for name, data in originals.items():
        if name != "sub/c.jpg":
            assert not (photos / name).exists()
            packed = (photos / name).with_suffix(".jrz").read_bytes()
            assert jpegzip.decompress(packed) == data
    assert (photos / "readme.txt").exists() and (photos / "sub" / "image.png").exists()


def many_photos(tmp_path: Path, make_jpeg, count: int) -> Path:
    source = tmp_path / "many"
    source.mkdir()
    for seed in range(count):
        (source / f"p{seed:02d}.jpg").write_bytes(make_jpeg(160, 120, seed=seed, quality=95))
    return source


def start_and_signal(tmp_path: Path, jobs: str, flag: str, signal_number: int):
    """Start ``compress -r many -o out``, signal it once its first output exists (unless it
    finished first), and return the process, its stdout and stderr."""
    out = tmp_path / "out"
    process = subprocess.Popen(
        [*installed_command(), "compress", "-r", "many", "-o", "out", "-j", jobs, flag],
        cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": PACKAGE_PARENT},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(out.glob("*.jrz"))) and process.poll() is None:
        assert time.monotonic() < deadline, "the batch never wrote its first output"
        time.sleep(0.01)
    process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=120)
    return process, stdout, stderr.decode()


def test_interrupt_leaves_no_partial_files_and_a_rerun_resumes(tmp_path, make_jpeg):
    source = many_photos(tmp_path, make_jpeg, 60)
    out = tmp_path / "out"
    process, stdout, stderr = start_and_signal(tmp_path, "1", "--json", signal.SIGINT)
    first = json.loads(stdout)
    if process.returncode == 0:  # finished before the signal: nothing to interrupt
        assert first["summary"]["done"] + first["summary"]["stored"] == 60
    else:
        assert process.returncode == 130, stderr
        assert first["summary"]["interrupted"] and first["exit_status"] == 130
        assert "interrupted after" in stderr.splitlines()[-1]
        assert not leftovers(out)
        written = relative_files(out)
        finished = [f["destination"] for f in first["files"] if f["status"] in ("done", "stored")]
        assert sorted(Path(name).name for name in finished) == written
    rerun = jpegzip_json("compress", "-r", "many", "-o", "out", "-j", "2", cwd=tmp_path)
    skipped = rerun["summary"]["skipped"]
    assert skipped == len(first["files"]) and rerun["summary"]["failed"] == 0
    assert len(relative_files(out)) == 60 and not leftovers(out)
    for jrz in out.iterdir():
        assert jpegzip.decompress(jrz.read_bytes()) == (source / f"{jrz.stem}.jpg").read_bytes()


def test_sigterm_stops_worker_processes_cleanly(tmp_path, make_jpeg):
    source = many_photos(tmp_path, make_jpeg, 40)
    process, _, stderr = start_and_signal(tmp_path, "2", "-q", signal.SIGTERM)
    assert process.returncode in (0, 130), stderr
    assert "Traceback" not in stderr
    out = tmp_path / "out"
    assert not leftovers(out)
    for jrz in out.iterdir():
        assert jpegzip.decompress(jrz.read_bytes()) == (source / f"{jrz.stem}.jpg").read_bytes()


def test_exit_statuses(photos, tmp_path):
    jpegzip_run("compress", "photos/a.jpg", cwd=tmp_path, check=0)
    jpegzip_run("compress", "photos/a.jpg", "photos/readme.txt", "-o", "x/", cwd=tmp_path, check=1)
    assert (tmp_path / "x" / "a.jrz").exists()
    for usage in (
        ["compress", "photos/a.jpg", "--rate", "0"],
        ["compress", "photos/a.jpg", "--rate", "0.8", "--psnr", "40"],
        ["compress", "photos/a.jpg", "--rate", "0.8", "--rm"],  # lossy cannot give it back
        ["compress", "photos/a.jpg", "--device", "tpu"],
        ["compress", "photos/a.jpg", "-q", "-v"],
        ["compress", "photos/a.jpg", "photos/b.jpeg", "-o", "one.jrz"],
        ["compress", "-", "--json"],
        ["compress", "-r", "photos", "-j", "0"],
    ):
        done = jpegzip_run(*usage, cwd=tmp_path, check=2)
        assert "Traceback" not in done.stderr
    assert "choose one lossy target" in jpegzip_run(
        "compress", "photos/a.jpg", "--bpp", "1", "--psnr", "40", cwd=tmp_path
    ).stderr


def test_lossy_compress_reports_and_info_shows_it(photos, tmp_path):
    done = jpegzip_run("compress", "photos/a.jpg", "--rate", "0.8", "-o", "a.jrz", cwd=tmp_path,
                       check=0)  # fmt: skip
    assert "lossy (" in done.stderr and "of lossless" in done.stderr and "bpp" in done.stderr
    (facts,) = jpegzip_json("info", "a.jrz", cwd=tmp_path, check=0)
    assert facts["mode"] == "lossy" and facts["lossy"]["target"] == "rate"
    assert facts["lossy"]["source_size"] == (photos / "a.jpg").stat().st_size
    jpegzip_run("decompress", "a.jrz", "-o", "a.jpg", cwd=tmp_path, check=0)
    lossy_jpeg = (tmp_path / "a.jpg").read_bytes()
    assert hashlib.sha256(lossy_jpeg).hexdigest().startswith(facts["original_sha256"])
    assert lossy_jpeg != (photos / "a.jpg").read_bytes()


def test_info_and_verify(photos, tmp_path):
    jpegzip_run("compress", "photos/a.jpg", "photos/sub/d.JPG", "-o", "out/", cwd=tmp_path, check=0)
    (tmp_path / "broken.jrz").write_bytes((tmp_path / "out" / "a.jrz").read_bytes()[:-3])
    answers = jpegzip_json("info", "out/a.jrz", "out/d.jrz", "broken.jrz", cwd=tmp_path, check=1)
    first, second, broken = answers
    assert first["original_size"] == (photos / "a.jpg").stat().st_size
    assert (first["image"]["width"], first["image"]["height"]) == (64, 48)
    assert second["image"]["progressive"] is True
    assert [m["kind"] for m in first["metadata"]] == ["JFIF"]
    assert broken["error"]["code"] == "bad-container"
    human = jpegzip_run("info", "out/a.jrz", cwd=tmp_path, check=0)
    assert human.stdout == b"" and "64x48" in human.stderr and "4:2:0" in human.stderr

    ok = jpegzip_json("verify", "out/a.jrz", "photos/a.jpg", cwd=tmp_path)
    assert ok["ok"] and ok["matches_original"] and ok["original_size"] == first["original_size"]
    wrong = jpegzip_json("verify", "out/a.jrz", "photos/b.jpeg", cwd=tmp_path, check=1)
    assert not wrong["ok"] and wrong["error"]["code"] == "verification-failed"
    cut = jpegzip_run("verify", "broken.jrz", cwd=tmp_path, check=1)
    assert cut.stderr.startswith("jpegzip: broken.jrz: truncated")


def test_help_of_every_command_has_examples(tmp_path):
    for command in ("compress", "decompress", "info", "verify"):
        done = jpegzip_run(command, "--help", cwd=tmp_path, check=0)
        assert f"jpegzip {command} " in done.stdout.decode()
