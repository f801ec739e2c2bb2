"""Lossy mode: requantized JPEGs that decode anywhere, sized by the coder, never silently
lossless, never lossy when asked for 1.0."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import jpegzip
from jpegzip import api
from jpegzip.errors import BadOption, LossyNotAvailable
from jpegzip.jpeg import read_jpeg
from jpegzip.jpeg.baseline import metadata_segments, optimal_huffman_table, write_baseline
from jpegzip.lossy.ladder import Ladder, band_count, checked, shipped_ladder
from jpegzip.lossy.quality import decoded_pixels, psnr
from jpegzip.lossy.requantize import rd_decisions, scale_tables
from jpegzip.lossy.search import lam_for_quality, lam_for_size
from jpegzip.options import Options

DATA = Path(__file__).parent / "data"
SAMPLE = (DATA / "sample" / "kodim23.jpg").read_bytes()
FIXTURES = ["progressive_1x1_exif_xmp_com.jpg", "cmyk_ycck_dri13.jpg",
            "extended_16bit_qtables.jpg", "odd_size_33x33_420.jpg", "gray_long.jpg"]  # fmt: skip


def _lossless_size(jpeg: bytes) -> int:
    return len(jpegzip.compress(jpeg))


def _decodes_everywhere(jpeg: bytes) -> np.ndarray:
    """Pillow and libjpeg both read it, to the same size; returns libjpeg's pixels."""
    with Image.open(io.BytesIO(jpeg)) as image:
        image.load()
        size = image.size
    pixels = decoded_pixels(jpeg)
    assert pixels.shape[1::-1] == size
    return pixels


@pytest.mark.parametrize("name", FIXTURES)
def test_baseline_rewrite_keeps_coefficients_pixels_and_metadata(name):
    original = (DATA / "jpeg" / name).read_bytes()
    record = read_jpeg(original)
    tables = [np.maximum(t, 1) for t in record.layout.quant_tables]
    rewritten = write_baseline(record.layout, record.raw, record.coefficients, tables)
    again = read_jpeg(rewritten)
    assert not again.layout.frame.progressive and len(again.layout.scans) in (1, 4)
    assert np.array_equal(again.coefficients, record.coefficients)
    assert metadata_segments(again.raw) == metadata_segments(record.raw)
    assert np.array_equal(_decodes_everywhere(rewritten), decoded_pixels(original))


def test_huffman_tables_are_complete_and_at_most_16_bits():
    skewed = np.zeros(256, dtype=np.int64)
    skewed[:40] = 2 ** np.arange(40)  # a Huffman code would need 40 bits for the rarest
    for frequencies in (skewed, np.r_[1, np.zeros(255, dtype=np.int64)]):
        table = optimal_huffman_table(frequencies)
        assert sorted(table.symbols) == list(np.flatnonzero(frequencies))
        kraft = sum(count * 2.0 ** -(length + 1) for length, count in enumerate(table.counts))
        assert kraft < 1  # the all-ones code of every length stays free
        codes, lengths = table.encode_table
        assert lengths[np.flatnonzero(frequencies)].max() <= 16


def test_rd_decisions_only_shrink_and_error_grows_with_lam():
    record = read_jpeg(SAMPLE)
    planes = record.planes()
    tables = record.layout.quant_tables
    sampling = [(c.h, c.v) for c in record.layout.frame.components]
    assert all(np.array_equal(a, b) for a, b in zip(rd_decisions(planes, tables, sampling, 0),
                                                    planes, strict=True))  # fmt: skip
    errors, nonzeros = [], []
    for lam in (10, 100, 1000, 10000):
        new = rd_decisions(planes, tables, sampling, lam)
        for before, after in zip(planes, new, strict=True):
            assert np.array_equal(before[..., 0], after[..., 0])  # DC untouched
            assert np.all(np.abs(after) <= np.abs(before))
            assert np.all(np.sign(after) * np.sign(before) >= 0)  # no sign flips
        errors.append(sum(float(np.square((a.astype(float) - b) * t).sum())
                          for a, b, t in zip(planes, new, tables, strict=True)))  # fmt: skip
        nonzeros.append(sum(int(np.count_nonzero(p)) for p in new))
    assert errors == sorted(errors) and errors[0] < errors[-1]
    assert nonzeros == sorted(nonzeros, reverse=True)


def test_scaled_tables_requantize_to_coarser_steps():
    record = read_jpeg(SAMPLE)
    planes, tables = scale_tables(record.planes(), record.layout.quant_tables, 2.0)
    for before, after in zip(record.layout.quant_tables, tables, strict=True):
        assert np.all(after >= before) and after.max() <= 255
    original_values = record.planes()[0].astype(np.int64) * record.layout.quant_tables[0]
    error = np.abs(planes[0].astype(np.int64) * tables[0] - original_values)
    assert np.all(error <= tables[0] // 2 + 1)


def test_search_meets_size_and_quality_goals():
    def size_of(lam: float) -> int:  # a falling curve, like a coder's
        return int(100_000 / (1 + lam / 50))

    calls = []

    def counted(lam: float) -> int:
        calls.append(lam)
        return size_of(lam)

    lam = lam_for_size(counted, 60_000, size_of(0))
    assert abs(size_of(lam) / 60_000 - 1) <= 0.01 and len(calls) <= 8
    assert lam_for_size(size_of, 200_000, size_of(0)) == 0.0
    def floored(lam: float) -> int:  # the goal is out of reach: the smallest size wins
        return 1000 - int(min(lam, 500))

    assert floored(lam_for_size(floored, 10, 1000)) == 500

    def psnr_of(lam: float) -> float:
        return 60 - 5 * math.log10(1 + lam)

    lam = lam_for_quality(psnr_of, 45.0)
    assert psnr_of(lam) >= 45.0 and psnr_of(lam * 1.05) < 45.0


def test_rate_one_is_bit_exact_and_rates_below_are_lossy():
    packed, result = api.compress_with_result(SAMPLE, Options(rate=1.0))
    assert result.mode == "lossless" and jpegzip.decompress(packed) == SAMPLE
    lossless = len(packed)
    reference = decoded_pixels(SAMPLE)
    sizes, qualities = [], []
    for rate in (0.95, 0.85, 0.7):
        packed, result = api.compress_with_result(SAMPLE, Options(rate=rate))
        assert result.mode == "lossy"
        assert abs(len(packed) / (rate * lossless) - 1) <= 0.03
        lossy_jpeg = jpegzip.decompress(packed)
        assert api.verify(packed, lossy_jpeg).mode == "lossy"
        measured = psnr(reference, _decodes_everywhere(lossy_jpeg))
        assert measured == pytest.approx(result.lossy.psnr_db, abs=1e-9)
        assert metadata_segments(read_jpeg(lossy_jpeg).raw) == metadata_segments(
            read_jpeg(SAMPLE).raw
        )
        sizes.append(len(packed))
        qualities.append(measured)
    assert sizes == sorted(sizes, reverse=True)
    assert qualities == sorted(qualities, reverse=True) and math.isfinite(qualities[0])


def test_psnr_and_bpp_targets():
    packed, result = api.compress_with_result(SAMPLE, Options(psnr=38.0))
    assert result.lossy.psnr_db >= 38.0
    assert len(packed) < _lossless_size(SAMPLE)
    packed, result = api.compress_with_result(SAMPLE, Options(bpp=0.6))  # lossless: 0.92
    summary = result.lossy.summary(len(packed))
    assert summary["bits_per_pixel"] == pytest.approx(0.6, rel=0.03)


def test_lossy_metadata_survives_on_a_progressive_file_with_exif_xmp_and_comment():
    original = (DATA / "jpeg" / "progressive_1x1_exif_xmp_com.jpg").read_bytes()
    packed, result = api.compress_with_result(original, Options(rate=0.9))
    assert result.mode == "lossy"
    lossy_jpeg = jpegzip.decompress(packed)
    segments = metadata_segments(read_jpeg(lossy_jpeg).raw)
    assert segments == metadata_segments(read_jpeg(original).raw) and len(segments) >= 3
    _decodes_everywhere(lossy_jpeg)


@pytest.mark.parametrize(
    "values",
    [{"rate": 0.0}, {"rate": 1.2}, {"bpp": 0.0}, {"bpp": math.inf}, {"psnr": -3.0},
     {"psnr": math.nan}, {"rate": 0.5, "bpp": 1.0}, {"bpp": 1.0, "psnr": 40.0}],
)  # fmt: skip
def test_bad_targets_are_refused(values):
    with pytest.raises(BadOption):
        Options(**values)


def test_codec_stays_lossless_only():
    with pytest.raises(LossyNotAvailable, match="Codec"):
        jpegzip.Codec(rate=0.5)


def test_shipped_ladder_is_identity_at_zero_and_only_coarsens():
    ladder = shipped_ladder()
    assert np.all(np.diff(ladder.multipliers, axis=0) >= 0)  # coarser as lam grows
    assert np.all(ladder.multipliers[:, :, 0] == 1)  # DC band
    tables = read_jpeg(SAMPLE).layout.quant_tables
    assert all(np.array_equal(a, b) for a, b in zip(ladder.tables_at(0.0, tables), tables,
                                                    strict=True))  # fmt: skip
    previous = tables
    for lam in (1, 10, 100, 1000, 10000, 1e6):
        new = ladder.tables_at(lam, tables)
        for before, coarser, original in zip(previous, new, tables, strict=True):
            assert np.all(coarser >= before) and np.all(coarser >= original)
            assert coarser.max() <= max(255, int(original.max()))
        previous = new


@pytest.mark.parametrize(
    "lams, multipliers",
    [([4.0, 2.0], np.ones((2, 2, band_count()))), ([4.0], np.full((1, 2, band_count()), 0.5)),
     ([4.0], np.ones((1, 2, 3))), ([0.0], np.ones((1, 2, band_count())))],
)  # fmt: skip
def test_malformed_ladders_are_refused(lams, multipliers):
    with pytest.raises(ValueError):
        checked(Ladder(np.array(lams), multipliers))
