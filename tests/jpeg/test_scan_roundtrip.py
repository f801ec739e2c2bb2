"""Bytes -> coefficients + side information -> the very same bytes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from jpegzip.errors import ContainerError, NotJpegError, Unsupported, VerificationFailed
from jpegzip.jpeg import pack_side_info, read_jpeg, unpack_side_info, write_jpeg
from jpegzip.jpeg.markers import ZIGZAG_TO_NATURAL

from .conftest import (
    FIXTURES,
    assert_coefficients_match,
    libjpeg_coefficients,
    pillow_jpeg,
    synthetic_photo,
)

QUIRK_FILES = sorted((FIXTURES / "jpeg").glob("*.jpg"))
CRASHERS = sorted((FIXTURES / "crashers").glob("*.jpg"))


@pytest.mark.parametrize("path", QUIRK_FILES, ids=lambda p: p.stem)
def test_quirk_fixture_round_trips(path):
    data = path.read_bytes()
    assert write_jpeg(read_jpeg(data)) == data


@pytest.mark.parametrize(
    "options",
    [
        dict(quality=75, subsampling=2),
        dict(quality=90, subsampling=1),
        dict(quality=95, subsampling=0),
        dict(quality=30, subsampling=2, optimize=True),
        dict(quality=85, progressive=True),
        dict(quality=100, progressive=True, subsampling=0),
    ],
    ids=["q75-420", "q90-422", "q95-444", "q30-optimized", "progressive-q85", "progressive-q100"],
)
@pytest.mark.parametrize("size", [(67, 45), (128, 96)])
def test_pillow_jpeg_round_trips_and_matches_libjpeg(options, size):
    data = pillow_jpeg(synthetic_photo(*size), **options)
    record = read_jpeg(data)
    assert write_jpeg(record) == data
    reference, warnings = libjpeg_coefficients(data)
    assert reference is not None and warnings == ""
    assert_coefficients_match(record.planes(), reference)


def test_grayscale_round_trips():
    data = pillow_jpeg(synthetic_photo(50, 70)[..., 0], quality=85)
    record = read_jpeg(data)
    assert len(record.planes()) == 1
    assert write_jpeg(record) == data


@pytest.mark.parametrize("path", CRASHERS, ids=lambda p: p.stem)
def test_crashers_are_refused(path):
    with pytest.raises(Unsupported):
        read_jpeg(path.read_bytes())


@pytest.mark.parametrize("data", [b"", b"hello", b"\x89PNG\r\n\x1a\n0000", b"\xff"])
def test_non_jpeg_is_refused(data):
    with pytest.raises(NotJpegError):
        read_jpeg(data)


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_truncated_scan_is_refused(cut):
    data = pillow_jpeg(synthetic_photo(96, 64), quality=80)
    with pytest.raises(Unsupported):
        read_jpeg(data[: int(len(data) * cut)])


def _reencoded(record, side):
    """Write a record with edited side information, as another encoder would have."""
    loose = [dataclasses.replace(info, entropy_coded_length=info.entropy_coded_length + 4096)
             for info in side]  # fmt: skip
    return write_jpeg(dataclasses.replace(record, side=loose), exact_lengths=False)


def test_zero_pad_bits_are_reproduced():
    data = pillow_jpeg(synthetic_photo(64, 48), quality=70)
    record = read_jpeg(data)
    side = [dataclasses.replace(info, pad_bits=np.zeros_like(info.pad_bits))
            for info in record.side]  # fmt: skip
    odd = _reencoded(record, side)
    assert odd != data
    again = read_jpeg(odd)
    assert write_jpeg(again) == odd
    np.testing.assert_array_equal(again.coefficients, record.coefficients)


def test_trailing_zero_runs_are_reproduced():
    data = pillow_jpeg(synthetic_photo(64, 48), quality=40)
    record = read_jpeg(data)
    coefficients = record.coefficients
    # Blocks whose last nonzero coefficient leaves room for a ZRL before position 63.
    zigzag_last = np.array([np.flatnonzero(row).max(initial=0) for row in coefficients])
    candidates = np.flatnonzero(zigzag_last < 20)[:3]
    assert candidates.size
    info = record.side[0]
    runs = np.stack([candidates, np.ones_like(candidates)], axis=1).astype(np.int64)
    odd = _reencoded(record, [dataclasses.replace(info, extra_zero_runs=runs)])
    again = read_jpeg(odd)
    np.testing.assert_array_equal(again.side[0].extra_zero_runs, runs)
    assert write_jpeg(again) == odd


def test_split_eob_run_is_reproduced():
    """An encoder may end an EOB run early; the next empty block becomes a reset point."""
    # Each block row: texture for a varying number of blocks, then flat. EOB runs of
    # every length from 1 to 31 appear, so the optimized table codes any shorter run.
    pixels = synthetic_photo(256, 256)
    for row in range(32):
        pixels[8 * row : 8 * row + 8, 8 * (row % 31 + 1) :] = 128
    data = pillow_jpeg(pixels, quality=60, progressive=True, subsampling=0)
    record = read_jpeg(data)
    reproduced = 0
    for index, scan in enumerate(record.layout.scans):
        if scan.ss == 0:
            continue
        band = np.flatnonzero(np.isin(np.arange(64), ZIGZAG_TO_NATURAL[scan.ss : scan.se + 1]))
        rows = record.planes()[scan.components[0]].reshape(-1, 64)[:, band]
        empty = ~rows.any(axis=1)
        # Blocks inside a run: empty, with an empty block before them.
        inside = np.flatnonzero(empty[1:] & empty[:-1]) + 1
        for block in inside[:: max(1, inside.size // 4)]:
            side = list(record.side)
            side[index] = dataclasses.replace(side[index], reset_points=np.array([block]))
            try:
                odd = _reencoded(record, side)
            except VerificationFailed:  # the optimized table has no code for the shorter run
                continue
            again = read_jpeg(odd)
            np.testing.assert_array_equal(again.side[index].reset_points, [block])
            assert write_jpeg(again) == odd
            reproduced += 1
    assert reproduced > 0


def test_side_info_bytes_round_trip_and_reject_truncation():
    record = read_jpeg((FIXTURES / "jpeg" / "progressive_split_eob_run.jpg").read_bytes())
    packed = pack_side_info(record.side)
    unpacked = unpack_side_info(packed)
    for before, after in zip(record.side, unpacked, strict=True):
        assert before.entropy_coded_length == after.entropy_coded_length
        np.testing.assert_array_equal(before.pad_bits, after.pad_bits)
        np.testing.assert_array_equal(before.reset_points, after.reset_points)
        np.testing.assert_array_equal(before.extra_zero_runs, after.extra_zero_runs)
    with pytest.raises(ContainerError):
        unpack_side_info(packed[:-3])
