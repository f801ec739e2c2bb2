"""The whole edge corpus through the installed command: every JPEG comes back byte for byte,
files that are not JPEGs are skipped in folder mode and refused when named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_cli_batch import jpegzip_json, jpegzip_run

EDGE = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "edge"


@pytest.mark.skipif(not EDGE.is_dir(), reason="../shared/corpus/edge is absent")
def test_edge_corpus_round_trips_through_the_cli(tmp_path):
    source = tmp_path / "edge"
    shutil.copytree(EDGE, source)
    files = sorted(p for p in source.rglob("*") if p.is_file())
    jpegs = [p for p in files if p.read_bytes()[:2] == b"\xff\xd8"]
    others = [p for p in files if p not in jpegs]

    report = jpegzip_json("compress", "-r", source, "-o", tmp_path / "jrz", "-j", "2",
                          cwd=tmp_path)  # fmt: skip
    summary = report["summary"]
    assert summary["failed"] == 0 and summary["skipped"] == len(others)
    assert summary["done"] + summary["stored"] == len(jpegs)

    jpegzip_json("decompress", "-r", tmp_path / "jrz", "-o", tmp_path / "back", "-j", "2",
                 cwd=tmp_path)  # fmt: skip
    for jpeg in jpegs:
        back = tmp_path / "back" / jpeg.relative_to(source)  # its suffix restored
        assert back.read_bytes() == jpeg.read_bytes(), jpeg

    for other in others:
        refused = jpegzip_run("compress", other, "-o", tmp_path / "x.jrz", cwd=tmp_path, check=1)
        assert len(refused.stderr.strip().splitlines()) == 1 and "not-jpeg" in refused.stderr
        assert not (tmp_path / "x.jrz").exists()
