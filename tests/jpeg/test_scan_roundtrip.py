"""Bytes -> coefficients + side information -> the very same bytes."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest

from jpegzip.errors import ContainerError, NotJpegError, Unsupported, VerificationFailed
from jpegzip.jpeg import pack_side_info, read_jpeg, unpack_side_info, write_jpeg
from jpegzip.jpeg.markers import ZIGZAG_TO_NATURAL, known_zero_bits
from jpegzip.jpeg.record import side_info_version

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


@pytest.mark.parametrize("options", [dict(), dict(progressive=True), dict(restart_marker_blocks=3)],
                         ids=["baseline", "progressive", "restarts"])  # fmt: skip
@pytest.mark.parametrize("kept", [0.3, 0.7, 0.99])
def test_a_truncated_file_is_cut_and_rebuilt(options, kept):
    """A file that ends ``kept`` of the way into its longest scan: the blocks before the cut
    decode, the bytes from there on are the tail, and the scan is rebuilt exactly."""
    data = pillow_jpeg(synthetic_photo(96, 64), quality=80, **options)
    whole = read_jpeg(data)
    lengths = [info.entropy_coded_length for info in whole.side]
    longest = int(np.argmax(lengths))
    start = whole.layout.scans[longest].offset + sum(lengths[:longest])  # in the file
    truncated = data[: start + int(lengths[longest] * kept)]
    record = read_jpeg(truncated)
    assert write_jpeg(record) == truncated
    assert [info.cut is not None for info in record.side] == [False] * longest + [True]
    tail = record.side[-1].tail
    assert truncated.endswith(tail) and len(tail) < 64  # at most the bytes of a block or two


def test_a_file_cut_in_its_headers_or_before_its_first_block_is_refused():
    data = pillow_jpeg(synthetic_photo(96, 64), quality=80)
    scan_start = data.index(b"\xff\xda") + 14  # SOS of 3 components: 14 bytes
    for end in (300, scan_start, scan_start + 1):
        with pytest.raises(Unsupported):
            read_jpeg(data[:end])


def test_a_missing_restart_marker_cuts_the_scan_before_the_next_interval():
    data = pillow_jpeg(synthetic_photo(96, 64), quality=80, restart_marker_blocks=3)
    second = data.index(b"\xff\xd1")
    damaged = data[:second] + b"\xff\xd5" + data[second + 2 :]  # out of sequence
    record = read_jpeg(damaged)
    assert write_jpeg(record) == damaged
    (info,) = record.side
    assert info.cut is not None and info.tail.startswith(b"\xff\xd5")
    assert info.pad_bits.size == 2 and info.cut == 2 * 3 * 6  # 3 MCUs of 6 blocks (4:2:0)


def test_a_damaged_byte_cuts_the_scan_and_keeps_the_rest():
    data = pillow_jpeg(synthetic_photo(96, 64), quality=80)
    middle = len(data) // 2
    damaged = data[:middle] + b"\xff\x00\xff\x00\xff\x00" + data[middle + 6 :]
    record = read_jpeg(damaged)
    assert write_jpeg(record) == damaged
    assert record.side[0].cut is not None
    assert damaged.endswith(record.side[0].tail + b"\xff\xd9")  # the EOI stays a marker


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


def test_a_whole_byte_of_padding_is_reproduced():
    """Some Motion-JPEG encoders close an interval that ends on a byte boundary with a byte
    of 1s (stuffed: FF 00) where T.81 writes no pad bits."""
    data = pillow_jpeg(synthetic_photo(64, 48), quality=70, restart_marker_blocks=1)
    record = read_jpeg(data)
    (info,) = record.side
    aligned = np.flatnonzero(info.pad_bits == 0)  # libjpeg pads with 1s: 0 means no pad bits
    assert aligned.size
    pads = info.pad_bits.copy()
    pads[aligned] = 0xFF
    odd = _reencoded(record, [dataclasses.replace(info, pad_bits=pads)])
    assert odd.count(b"\xff\x00") == data.count(b"\xff\x00") + aligned.size
    again = read_jpeg(odd)
    np.testing.assert_array_equal(again.side[0].pad_bits, pads)
    assert write_jpeg(again) == odd


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


@pytest.mark.parametrize("fixture, version", [("progressive_split_eob_run.jpg", 1),
                                               ("progressive_split_eob_run.jpg", 2),
                                               ("truncated_progressive.jpg", 2)])  # fmt: skip
def test_side_info_bytes_round_trip_and_reject_truncation(fixture, version):
    record = read_jpeg((FIXTURES / "jpeg" / fixture).read_bytes())
    packed = pack_side_info(record.side, version)
    assert side_info_version(packed) == version
    unpacked = unpack_side_info(packed)
    for before, after in zip(record.side, unpacked, strict=True):
        assert before.entropy_coded_length == after.entropy_coded_length
        np.testing.assert_array_equal(before.pad_bits, after.pad_bits)
        np.testing.assert_array_equal(before.reset_points, after.reset_points)
        np.testing.assert_array_equal(before.extra_zero_runs, after.extra_zero_runs)
        assert (before.cut, before.tail) == (after.cut, after.tail)
    with pytest.raises(ContainerError):
        unpack_side_info(packed[:-3])


def test_side_info_layout_1_cannot_hold_a_cut_and_an_unknown_layout_is_refused():
    record = read_jpeg((FIXTURES / "jpeg" / "truncated_progressive.jpg").read_bytes())
    with pytest.raises(ValueError):
        pack_side_info(record.side, 1)
    with pytest.raises(ContainerError, match="unknown layout 3"):
        unpack_side_info(pack_side_info(record.side, 2)[:3] + b"\2" + b"\0" * 8)
    packed = pack_side_info(record.side, 2)
    entry = len(packed) - len(record.side[-1].tail) - 12  # the one cut scan's (index, cut, T)
    listed = packed[:entry] + struct.pack("<I", len(record.side)) + packed[entry + 4 :]
    with pytest.raises(ContainerError, match="cut scans"):  # a cut scan that is not there
        unpack_side_info(listed)


def test_a_frame_without_huffman_tables_decodes_with_those_of_annex_k():
    """Motion-JPEG frames leave out their DHT; libjpeg-turbo then uses T.81's typical
    tables, which are also what libjpeg writes unless asked to optimize."""
    data = pillow_jpeg(synthetic_photo(48, 32), quality=85)
    start = data.index(b"\xff\xc4")
    end = data.index(b"\xff\xda")  # libjpeg writes its DHT segments together before SOS
    frame = data[:start] + data[end:]
    record = read_jpeg(frame)
    assert write_jpeg(record) == frame
    np.testing.assert_array_equal(record.coefficients, read_jpeg(data).coefficients)


def test_known_zero_bits_are_the_lowest_bit_position_any_scan_codes():
    data = pillow_jpeg(synthetic_photo(64, 48), quality=90, progressive=True)
    record = read_jpeg(data)
    assert not known_zero_bits(record.layout).any()  # every refinement is there
    # libjpeg's progressive script: DC at Al 1, the AC first scans at Al 1 (luma's first band
    # at Al 2), then the refinements; a file that stops before them keeps those bits zero.
    first_refinement = next(i for i, scan in enumerate(record.layout.scans) if scan.ah)
    before = first_refinement - 1
    lengths = [info.entropy_coded_length for info in record.side[: before + 1]]
    end = record.layout.scans[before].offset + sum(lengths)  # its last byte, in the file
    early = read_jpeg(data[:end])
    assert all(info.cut is None for info in early.side)
    bits = known_zero_bits(early.layout)
    assert bits.max() >= 1 and bits[:, 0].tolist() == [1, 1, 1]
    for plane, component_bits in zip(early.planes(), bits, strict=True):
        assert not (plane & ((1 << component_bits) - 1)).any()
