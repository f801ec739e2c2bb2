"""Every file of the shared edge corpus: exact round trip or a clean refusal; libjpeg as oracle."""

from __future__ import annotations

import numpy as np

from jpegzip.errors import NotJpegError, Unsupported
from jpegzip.jpeg import JpegRecord, read_jpeg, write_jpeg
from jpegzip.jpeg.blocks import component_offsets, scan_block_order

from .conftest import assert_coefficients_match, libjpeg_coefficients

# Reasons that are refusals by design, whatever libjpeg makes of the file.
FORMATS_WE_STORE = {"arithmetic-coding", "lossless-jpeg", "hierarchical", "precision-12-bit"}


def test_edge_corpus_round_trips_or_is_refused(edge_corpus):
    files = sorted(p for p in edge_corpus.rglob("*") if p.is_file())
    assert len(files) > 300
    accepted = cut = 0
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
        if any(info.cut is not None for info in record.side):
            assert not clean, path  # libjpeg warns about every scan that stops early
            cut += 1
            if reference is not None and not record.layout.frame.progressive:
                _assert_decoded_blocks_match(record, reference)
        elif reference is not None:
            assert_coefficients_match(record.planes(), reference)
        accepted += 1
    assert accepted >= 220 and cut >= 50


def _assert_decoded_blocks_match(record: JpegRecord, reference: list[np.ndarray]) -> None:
    """The blocks before a sequential scan's cut are libjpeg's (past it, libjpeg decodes
    the damage its own way, or leaves zeros)."""
    frame = record.layout.frame
    offsets = component_offsets(frame)
    decoded = np.ones(int(offsets[-1]), dtype=bool)
    for scan, info in zip(record.layout.scans, record.side, strict=True):
        if info.cut is not None:
            decoded[scan_block_order(frame, scan, offsets)[0][info.cut :]] = False
    for index, (ours, theirs) in enumerate(zip(record.planes(), reference, strict=True)):
        rows, cols = theirs.shape[:2]
        mine = decoded[offsets[index] : offsets[index + 1]].reshape(ours.shape[:2])
        keep = mine[:rows, :cols]
        theirs = theirs.reshape(rows, cols, 64)
        np.testing.assert_array_equal(ours[:rows, :cols][keep], theirs[keep])
