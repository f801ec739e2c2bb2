"""The jpegzip command: outputs, exit statuses, one-line errors, nothing left behind."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import sysconfig
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import jpegzip
from jpegzip import api, container
from jpegzip.cli import app


def run(*args: str):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def assert_one_error_line(result, name: str, code: str) -> None:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"jpegzip: {name}: "), lines[0]
    assert lines[0].endswith(f"[{code}]"), lines[0]
    assert "Traceback" not in result.output


def listing(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.fixture
def photo(tmp_path, jpeg_bytes) -> Path:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes)
    return path


def test_compress_then_decompress_next_to_input(photo, jpeg_bytes):
    result = run("compress", photo)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{photo} -> {photo.with_suffix('.jrz')}: {len(jpeg_bytes)} -> ")
    assert "% smaller" in line or "% larger" in line
    assert line.endswith("lossless") or ", stored (" in line
    photo.unlink()
    result = run("decompress", photo.with_suffix(".jrz"))
    assert result.exit_code == 0, result.output
    assert photo.read_bytes() == jpeg_bytes


def test_output_file_and_output_folder(tmp_path, photo, jpeg_bytes):
    assert run("compress", photo, "-o", tmp_path / "named.jrz").exit_code == 0
    (tmp_path / "out").mkdir()
    second = tmp_path / "second.jpg"
    second.write_bytes(jpeg_bytes)
    result = run("compress", photo, second, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert len(result.stderr.splitlines()) == 2
    assert (
        run("decompress", tmp_path / "named.jrz", "--output", tmp_path / "back.jpg").exit_code == 0
    )
    assert (tmp_path / "back.jpg").read_bytes() == jpeg_bytes
    assert listing(tmp_path / "out") == ["photo.jrz", "second.jrz"]


def test_output_with_several_inputs_must_be_a_folder(tmp_path, photo):
    result = run("compress", photo, photo, "-o", tmp_path / "one.jrz")
    assert result.exit_code == 2
    assert "must be an existing folder" in result.stderr
    assert listing(tmp_path) == ["photo.jpg"]


def test_existing_output_is_refused_without_force(photo):
    target = photo.with_suffix(".jrz")
    target.write_bytes(b"precious")
    result = run("compress", photo)
    assert result.exit_code == 1
    assert_one_error_line(result, str(photo), "output-exists")
    assert "--force" in result.stderr
    assert target.read_bytes() == b"precious"
    assert run("compress", photo, "--force").exit_code == 0
    assert api.decompress(target.read_bytes()) == photo.read_bytes()


def future_version(packed: bytes) -> bytes:
    body = packed[:4] + struct.pack("<H", container.FORMAT_VERSION + 1) + packed[6:-4]
    return body + struct.pack("<I", zlib.crc32(body))


BAD_INPUTS = {
    # name: (command, file name, bytes from the good .jrz -> bytes on disk, code)
    "text": ("compress", "notes.jpg", lambda packed: b"just some text\n", "not-jpeg"),
    "empty": ("compress", "empty.jpg", lambda packed: b"", "not-jpeg"),
    "png": ("compress", "image.png", None, "not-jpeg"),
    "truncated-jrz": ("decompress", "cut.jrz", lambda packed: packed[:-7], "bad-container"),
    "flipped-jrz": (
        "decompress",
        "flip.jrz",
        lambda packed: packed[:50] + bytes([packed[50] ^ 4]) + packed[51:],
        "bad-container",
    ),
    "future-jrz": ("decompress", "future.jrz", future_version, "bad-container"),
    "jpeg-as-jrz": ("decompress", "photo.jrz", None, "bad-container"),
}


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_one_line_exit_1_and_leaves_nothing(tmp_path, jpeg_bytes, png_bytes, case):
    command, name, make, code = case
    packed = api.compress(jpeg_bytes)
    if make is not None:
        content = make(packed)
    else:
        content = png_bytes if name.endswith(".png") else jpeg_bytes
    (tmp_path / name).write_bytes(content)
    before = listing(tmp_path)
    result = run(command, tmp_path / name)
    assert result.exit_code == 1
    assert_one_error_line(result, str(tmp_path / name), code)
    assert listing(tmp_path) == before


def test_output_in_missing_folder(tmp_path, photo):
    result = run("compress", photo, "-o", tmp_path / "missing" / "photo.jrz")
    assert result.exit_code == 1
    assert_one_error_line(result, str(photo), "io-error")
    assert "output folder does not exist" in result.stderr
    assert listing(tmp_path) == ["photo.jpg"]


def test_missing_input(tmp_path):
    result = run("compress", tmp_path / "absent.jpg")
    assert result.exit_code == 1
    assert_one_error_line(result, str(tmp_path / "absent.jpg"), "io-error")


def test_one_bad_file_does_not_stop_the_batch(tmp_path, photo):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    result = run("compress", bad, photo)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 2
    assert photo.with_suffix(".jrz").exists()
    assert not bad.with_suffix(".jrz").exists()


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(photo, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(api, "compress_file", broken)
    result = run("compress", photo)
    assert result.exit_code == 3
    assert_one_error_line(result, str(photo), "internal-error")
    assert "--debug" in result.stderr
    result = run("compress", photo, "--debug")
    assert result.exit_code == 3
    assert "Traceback" in result.stderr and "boom" in result.stderr


def test_a_file_stored_after_an_internal_error_is_safe_but_loud(tmp_path, photo, monkeypatch):
    """A bug in the model path stores the file whole; its line warns even with -q, the
    summary counts it, and the exit status is 3, also when another file failed (1)."""
    from jpegzip import codec

    def broken(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'jpegzip.missing'")

    monkeypatch.setattr(codec, "encode_lossless", broken)
    (tmp_path / "notes.txt").write_text("not a photo\n")
    result = run("compress", photo, tmp_path / "notes.txt", "-o", f"{tmp_path / 'out'}/", "-q",
                 "--json", "-j", "1")  # fmt: skip
    assert result.exit_code == 3, result.output
    answer = json.loads(result.stdout)
    assert answer["exit_status"] == 3 and answer["summary"]["internal_errors"] == 1
    assert (answer["summary"]["stored"], answer["summary"]["failed"]) == (1, 1)
    warning, failure, closing = result.stderr.splitlines()
    assert warning.startswith(f"jpegzip: warning: {photo} -> ")
    assert "stored (internal-error: ModuleNotFoundError)" in warning
    assert warning.endswith("[internal-error]") and failure.endswith("[not-jpeg]")
    assert closing.startswith("jpegzip: 1 of 2 files met an internal error")
    packed = (tmp_path / "out" / "photo.jrz").read_bytes()
    assert jpegzip.decompress(packed) == photo.read_bytes()  # the file is safe
    assert run("compress", photo, "--force").exit_code == 3  # one file: its line says it all


def test_interrupt_exits_130_and_leaves_nothing(tmp_path, photo, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "compress_file", interrupted)
    result = run("compress", photo, photo)
    assert result.exit_code == 130
    assert len(result.stderr.splitlines()) == 1
    assert listing(tmp_path) == ["photo.jpg"]


def test_model_mismatch_is_reported(fake_lossless_codec, photo):
    assert run("compress", photo).exit_code == 0
    fake_lossless_codec(model_id=bytes(32))
    result = run("decompress", photo.with_suffix(".jrz"), "-o", photo.with_name("back.jpg"))
    assert result.exit_code == 1
    assert_one_error_line(result, str(photo.with_suffix(".jrz")), "model-not-available")


def test_version_and_help():
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("jpegzip ")
    for command in ("compress", "decompress"):
        result = run(command, "--help")
        assert result.exit_code == 0
        assert f"jpegzip {command} photo." in result.stdout


@pytest.mark.parametrize("level, shown", [("1", 1), ("2", 2), ("max", 2)])
def test_levels_are_recorded_and_decode_without_a_flag(photo, jpeg_bytes, level, shown):
    assert run("compress", photo, "--level", level).exit_code == 0
    packed = photo.with_suffix(".jrz")
    facts = jpegzip.inspect(packed.read_bytes())
    assert facts["level"] == (shown if facts["mode"] == "lossless" else None)
    assert f"level {shown}, model" in run("info", packed).stderr or facts["mode"] == "stored"
    photo.unlink()
    assert run("decompress", packed).exit_code == 0
    assert photo.read_bytes() == jpeg_bytes


def test_an_unknown_level_is_a_usage_error(photo):
    result = run("compress", photo, "--level", "7")
    assert result.exit_code == 2
    assert "level must be one of 1, 2 or max" in result.output
    assert not photo.with_suffix(".jrz").exists()


def test_usage_errors_exit_2():
    assert run("compress").exit_code == 2
    assert run("compress", "x.jpg", "--no-such-flag").exit_code == 2
    assert run("squeeze", "x.jpg").exit_code == 2


# --- the installed command, in a real process ----------------------------------------------


def installed_command() -> list[str]:
    """The console script when installed (CI), else the same entry point via python -m."""
    script = shutil.which("jpegzip", path=sysconfig.get_path("scripts"))
    return [script] if script else [sys.executable, "-m", "jpegzip"]


def run_process(*args, cwd: Path) -> subprocess.CompletedProcess:
    package_parent = str(Path(jpegzip.__file__).resolve().parents[1])
    environment = os.environ | {"PYTHONPATH": package_parent}
    return subprocess.run(
        [*installed_command(), *map(str, args)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_installed_command_round_trip_and_errors(tmp_path, jpeg_bytes):
    (tmp_path / "photo.jpg").write_bytes(jpeg_bytes)
    done = run_process("compress", "photo.jpg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = run_process("decompress", "photo.jrz", "-o", "back.jpg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "back.jpg").read_bytes() == jpeg_bytes
    assert done.stdout == ""

    (tmp_path / "cut.jrz").write_bytes((tmp_path / "photo.jrz").read_bytes()[:-1])
    done = run_process("decompress", "cut.jrz", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("jpegzip: cut.jrz: truncated"), done.stderr
    assert not (tmp_path / "cut.jpg").exists()

    done = run_process("compress", "-o", cwd=tmp_path)
    assert done.returncode == 2


def test_help_and_version_do_not_load_the_codec(tmp_path):
    probe = (
        "import sys; from jpegzip import cli;"
        "heavy = {'torch', 'numba', 'jpegzip.codec', 'jpegzip.api'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=os.environ | {"PYTHONPATH": str(Path(jpegzip.__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "[]", done.stderr
    done = run_process("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("jpegzip ")
