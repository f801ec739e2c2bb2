"""A short fixed fuzzing campaign (tests/fuzzing.py), and every saved crasher replayed.

The campaign is deterministic: the same seed files give the same cases. Longer runs:
``python benchmarks/fuzz.py --minutes 20 --seed N``. The lossless crashers were coded with
the classic-v1 model; with other weights they stop at the model id (still a clean
refusal), and tests/test_limits.py makes the same damage again with the installed model.
"""

from __future__ import annotations

from pathlib import Path

import fuzzing
import pytest
from typer.testing import CliRunner

from jpegzip import api
from jpegzip.cli import app
from jpegzip.errors import ContainerError

CAMPAIGN = 20261126
CASES = 25_000  # about half a minute once the bounds-checked kernels are cached
CRASHERS = sorted(p for p in fuzzing.CRASHERS.iterdir() if p.suffix in (".jpg", ".jrz"))


@pytest.fixture(scope="module")
def seeds() -> list[fuzzing.Seed]:
    jpegs = fuzzing.jpeg_seeds(16 << 10)
    return jpegs + fuzzing.jrz_seeds(jpegs)


def test_short_campaign_finds_no_crash_wrong_output_hang_or_memory_blowup(seeds):
    with fuzzing.Worker(boundscheck=True) as worker:
        summary = fuzzing.run(seeds, CAMPAIGN, count=CASES, worker=worker)
    assert summary.cases == CASES
    assert summary.failures == []
    # Every path is reached: refusals, both modes of compress, .jrz files that still decode.
    assert {"refused", "stored", "lossless", "decoded"} <= set(summary.outcomes)


def test_cases_are_made_again_from_their_index(seeds):
    first = [fuzzing.make_case(seeds, CAMPAIGN, index) for index in range(50)]
    assert first == [fuzzing.make_case(seeds, CAMPAIGN, index) for index in range(50)]
    assert len({case.data for case in first}) == len(first)


@pytest.mark.parametrize("path", CRASHERS, ids=lambda path: path.name)
def test_crasher_is_refused_cleanly(path: Path):
    kind = "jrz" if path.suffix == ".jrz" else "jpeg"
    outcome, detail = fuzzing.check(kind, path.read_bytes())
    assert outcome == ("refused" if kind == "jrz" else "stored"), detail


def test_crashers_within_the_memory_limit():
    with fuzzing.Worker() as worker:
        for index, path in enumerate(CRASHERS):
            kind = "jrz" if path.suffix == ".jrz" else "jpeg"
            case = fuzzing.Case(index, path.name, kind, (), path.read_bytes())
            assert worker.check(case)[0] == ("refused" if kind == "jrz" else "stored"), path


@pytest.mark.parametrize("command", ["decompress", "verify", "info"])
def test_crashers_fail_in_one_line_on_the_command_line(tmp_path, command):
    """decompress and verify refuse each one; info (which decodes no coefficients) describes
    it or refuses it, in one line."""
    for path in (p for p in CRASHERS if p.suffix == ".jrz"):
        output = ["-o", str(tmp_path / "out.jpg")] if command == "decompress" else []
        result = CliRunner().invoke(app, [command, str(path), *output])
        assert "Traceback" not in result.output
        if command == "info" and result.exit_code == 0:
            continue
        assert result.exit_code == 1, (path, result.output)
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"jpegzip: {path}: "), line
        assert line.endswith(("[bad-container]", "[model-not-available]")), line
        assert not (tmp_path / "out.jpg").exists()


class ForeignPanic(BaseException):
    """Stands in for constriction's PanicException, which is not an Exception."""


def test_a_panic_while_decoding_is_a_clean_error(fake_lossless_codec, jpeg_bytes):
    packed = api.compress(jpeg_bytes)

    def panic(sections, options, coded_with):
        raise ForeignPanic("called `Result::unwrap()` on an `Err` value")

    fake_lossless_codec(decode=panic)
    with pytest.raises(ContainerError, match="ForeignPanic"):
        api.decompress(packed)
