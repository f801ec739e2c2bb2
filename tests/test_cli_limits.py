"""The limit flags: sizes as people write them, the defaults in --help, and a refusal
that names the flag to raise."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from jpegzip.cli import app
from jpegzip.cli_shared import parse_size, show_size
from jpegzip.limits import MAX_COEFFICIENTS, MAX_INPUT_BYTES


def run(*args: object):
    return CliRunner().invoke(app, [str(arg) for arg in args])


@pytest.mark.parametrize(
    "text, size",
    [("500000000", 500_000_000), ("300M", 300 << 20), ("1G", 1 << 30), ("1.5g", 3 << 29),
     ("256MiB", 256 << 20), ("2KB", 2000), ("7B", 7), (" 2 T ", 2 << 40)],
)  # fmt: skip
def test_sizes_as_people_write_them(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "12Q", "-5", "0", "0.0001K", "1.5.2M", "MB", "3iB"])
def test_what_is_not_a_size(text):
    with pytest.raises(typer.BadParameter):
        parse_size(text)


@pytest.mark.parametrize(
    "command", [["compress"], ["decompress"], ["cluster", "compress"], ["cluster", "decompress"]]
)
def test_help_gives_the_defaults_as_the_flags_take_them(command):
    assert (show_size(MAX_INPUT_BYTES), show_size(1000)) == ("256M", "1000")
    text = " ".join(run(*command, "--help").stdout.split())
    assert "--max-input-size SIZE The largest input" in text
    assert f"Default: {show_size(MAX_INPUT_BYTES)}." in text
    assert f"Default: {show_size(MAX_COEFFICIENTS)} (16384 x 16384 in grayscale" in text


def test_a_file_over_a_limit_is_refused_naming_the_flag_to_raise_it(tmp_path, jpeg_bytes):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg_bytes)
    refused = run("compress", photo, "--max-input-size", len(jpeg_bytes) - 1)
    assert refused.exit_code == 1 and not (tmp_path / "photo.jrz").exists()
    assert refused.stderr.strip().endswith("(raise it with --max-input-size) [limit-exceeded]")
    assert run("compress", photo, "--max-input-size", "1M").exit_code == 0

    photo.unlink()
    refused = run("decompress", tmp_path / "photo.jrz", "--max-coefficients", "1K")
    assert refused.exit_code == 1 and not photo.exists()
    assert refused.stderr.strip().endswith("(raise it with --max-coefficients) [limit-exceeded]")
    assert run("decompress", tmp_path / "photo.jrz", "--max-coefficients", "4K").exit_code == 0
    assert photo.read_bytes() == jpeg_bytes


def test_a_bad_limit_is_a_usage_error(tmp_path):
    done = run("compress", tmp_path / "photo.jpg", "--max-input-size", "12Q")
    assert done.exit_code == 2 and "'--max-input-size'" in done.stderr
