"""Every file of the shared edge corpus: exact round trip or a clean refusal; libjpeg as oracle."""

from __future__ import annotations

from jpegzip.errors import NotJpegError, Unsupported
from jpegzip.jpeg import read_jpeg, write_jpeg

from .conftest import assert_coefficients_match, libjpeg_coefficients

# Reasons that are refusals by design, whatever libjpeg makes of the file.
FORMATS_WE_STORE = {"arithmetic-coding", "lossless-jpeg", "hierarchical", "precision-12-bit"}


def test_edge_corpus_round_trips_or_is_refused(edge_corpus):
    files = sorted(p for p in edge_corpus.rglob("*") if p.is_file())
    assert len(files) > 300
    accepted = 0
    for path in files:
        data = path.read_bytes()
        reference, warnings = libjpeg_coefficients(data)
        clean = reference is not None and warnings == ""
        try:
            record = read_jpeg(data)
        except NotJpegError:
            assert data[:2] != b"\xff\xd8", path
            continue
        except Unsupported as refusal:
            assert not clean or refusal.reason in FORMATS_WE_STORE, (path, refusal)
            continue
        assert write_jpeg(record) == data, path
        if reference is not None:
            assert_coefficients_match(record.planes(), reference)
        accepted += 1
    assert accepted >= 165
