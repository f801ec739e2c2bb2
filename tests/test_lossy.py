"""Lossy mode: requantized JPEGs that decode anywhere, sized by the coder, never silently
lossless, never lossy when asked for 1.0."""

from __future__ import annotations

import dataclasses
import io
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import jpegzip
from jpegzip import api
from jpegzip.errors import BadOption
from jpegzip.jpeg import read_jpeg
from jpegzip.jpeg.baseline import optimal_huffman_table, write_baseline
from jpegzip.jpeg.metadata import read_metadata
from jpegzip.lossy.ladder import Ladder, band_count, checked, shipped_ladder
from jpegzip.lossy.quality import decoded_pixels, psnr
from jpegzip.lossy.requantize import rd_decisions, scale_tables
from jpegzip.lossy.search import lam_for_quality, lam_for_size
from jpegzip.options import Options

DATA = Path(__file__).parent / "data"
SAMPLE = (DATA / "sample" / "kodim23.jpg").read_bytes()
FIXTURES = ["progressive_1x1_exif_xmp_com.jpg", "cmyk_ycck_dri13.jpg",
            "extended_16bit_qtables.jpg", "odd_size_33x33_420.jpg", "gray_long.jpg"]  # fmt: skip


def metadata_segments(data: bytes) -> list[bytes]:
    return [segment.segment for segment in read_metadata(data).segments]


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
        assert api.verify(packed).mode == "lossy" and lossy_jpeg != SAMPLE
        assert read_jpeg(lossy_jpeg).layout.frame.marker == 0xC0  # baseline
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


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def test_lossy_keeps_every_metadata_segment_in_order_even_after_junk():
    exif = _segment(0xE1, b"Exif\0\0" + bytes(range(40)))
    icc = _segment(0xE2, b"ICC_PROFILE\0\x01\x01" + bytes(100))
    comment = _segment(0xFE, b"a comment")
    original = SAMPLE[:2] + exif + b"junk!" + icc + comment + SAMPLE[2:]  # libjpeg skips junk
    packed, result = api.compress_with_result(original, Options(rate=0.8))
    assert result.mode == "lossy"
    lossy_jpeg = jpegzip.decompress(packed)
    kept = metadata_segments(lossy_jpeg)
    assert kept == metadata_segments(original) and {exif, icc, comment} <= set(kept)
    _decodes_everywhere(lossy_jpeg)


def test_sixteen_bit_tables_become_baseline():
    original = (DATA / "jpeg" / "extended_16bit_qtables.jpg").read_bytes()
    packed, result = api.compress_with_result(original, Options(rate=0.8))
    assert result.mode == "lossy"
    lossy_jpeg = jpegzip.decompress(packed)
    assert read_jpeg(lossy_jpeg).layout.frame.marker == 0xC0
    assert max(int(t.max()) for t in read_jpeg(lossy_jpeg).layout.quant_tables) <= 255
    _decodes_everywhere(lossy_jpeg)


@pytest.mark.parametrize(
    "name, note",
    [("mpo_trailing_data.jpg", "lossy-skipped"),  # a second image after EOI
     ("progressive_1x1_exif_xmp_com.jpg", "lossy-no-gain")],  # 1x1: nothing to take away
)  # fmt: skip
def test_files_lossy_cannot_improve_keep_their_lossless_jrz(name, note):
    original = (DATA / "jpeg" / name).read_bytes()
    packed, result = api.compress_with_result(original, Options(rate=0.7))
    assert result.mode == "lossless" and result.note.startswith(note)
    assert jpegzip.decompress(packed) == original


def test_a_failing_lossy_path_keeps_the_lossless_jrz(monkeypatch):
    import jpegzip.lossy.encoder as encoder

    def broken(jpeg: bytes):
        raise ValueError("libjpeg cannot decode this JPEG to pixels")

    monkeypatch.setattr(encoder, "decoded_pixels", broken)
    packed, result = api.compress_with_result(SAMPLE, Options(rate=0.8))
    assert result.mode == "lossless" and result.note.startswith("lossy-failed: ValueError")
    assert jpegzip.decompress(packed) == SAMPLE


def test_batch_resumes_lossy_outputs_and_never_removes_sources(tmp_path):
    from jpegzip import batch
    from jpegzip.errors import BadOption as Refused

    (tmp_path / "a.jpg").write_bytes(SAMPLE)
    lossy = Options(rate=0.8)
    with pytest.raises(Refused, match="lossy"):
        batch.Settings(True, remove_source=True, options=lossy)
    destination = tmp_path / "a.jrz"
    api.compress_file(tmp_path / "a.jpg", destination, options=Options())  # lossless first
    digest = api.source_digest(tmp_path / "a.jpg", True)
    assert api.output_matches(destination, digest, True)
    assert not api.output_matches(destination, digest, True, lossy)  # not what was asked
    api.compress_file(tmp_path / "a.jpg", destination, force=True, options=lossy)
    assert api.output_matches(destination, digest, True, lossy)
    assert not api.output_matches(destination, digest, True, Options(rate=0.7))
    assert not api.output_matches(destination, digest, True)  # it does not give SAMPLE back
    mpo = (DATA / "jpeg" / "mpo_trailing_data.jpg").read_bytes()  # stays lossless
    (tmp_path / "b.jpg").write_bytes(mpo)
    plan = batch.plan([str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")], None, False, True)
    first = batch.run(plan, batch.Settings(True, options=lossy))
    assert sorted(o.status.value for o in first.outcomes) == ["done", "skipped"]
    assert jpegzip.decompress((tmp_path / "b.jrz").read_bytes()) == mpo
    again = batch.run(plan, batch.Settings(True, options=lossy))  # a rerun resumes
    assert [o.status for o in again.outcomes] == [batch.Status.SKIPPED] * 2


def test_info_refuses_a_malformed_lossy_section():
    from jpegzip import container
    from jpegzip.errors import ContainerError
    from jpegzip.inspection import inspect

    packed = jpegzip.compress(SAMPLE, rate=0.8)
    parsed = container.read(packed)
    assert inspect(packed)["lossy"]["target"] == "rate"
    for bad in (b"{}", b"not json", parsed.sections["lossy"].replace(b'"rate"', b'"size"')):
        sections = {**parsed.sections, "lossy": bad}
        damaged = container.write(dataclasses.replace(parsed, sections=sections))
        with pytest.raises(ContainerError, match="lossy section"):
            inspect(damaged)


@pytest.mark.parametrize(
    "values",
    [{"rate": 0.0}, {"rate": 1.2}, {"bpp": 0.0}, {"bpp": math.inf}, {"psnr": -3.0},
     {"psnr": math.nan}, {"rate": 0.5, "bpp": 1.0}, {"bpp": 1.0, "psnr": 40.0}],
)  # fmt: skip
def test_bad_targets_are_refused(values):
    with pytest.raises(BadOption):
        Options(**values)


def test_codec_compresses_to_the_same_lossy_bytes_as_the_api():
    codec = pickle.loads(pickle.dumps(jpegzip.Codec(rate=0.8, device="cpu")))
    assert repr(codec) == "Codec(rate=0.8, device='cpu', level=2)"
    packed, result = codec.compress_with_result(SAMPLE)
    assert result.mode == "lossy" and packed == jpegzip.compress(SAMPLE, rate=0.8)
    by_psnr = jpegzip.Codec(psnr=40.0)
    assert by_psnr.options.target == Options(psnr=40.0).target
    assert by_psnr.compress(SAMPLE) == api.compress_with_result(SAMPLE, Options(psnr=40.0))[0]
    with pytest.raises(BadOption, match="one lossy target"):
        jpegzip.Codec(rate=0.8, bpp=1.0)


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
            assert coarser.max() <= 255
        previous = new


@pytest.mark.parametrize(
    "lams, multipliers",
    [([4.0, 2.0], np.ones((2, 2, band_count()))), ([4.0], np.full((1, 2, band_count()), 0.5)),
     ([4.0], np.ones((1, 2, 3))), ([0.0], np.ones((1, 2, band_count())))],
)  # fmt: skip
def test_malformed_ladders_are_refused(lams, multipliers):
    with pytest.raises(ValueError):
        checked(Ladder(np.array(lams), multipliers))


def test_size_search_lands_on_the_goal_across_a_table_step():
    """A ladder whose tables jump x4 at once: the size jumps over most goals, and the
    search must still land on them (keeping one side's tables, moving the decisions)."""
    from jpegzip import codec, container
    from jpegzip.lossy import Target
    from jpegzip.lossy.encoder import LosslessSizes

    lossless = jpegzip.compress(SAMPLE)
    coefficients = len(container.read(lossless).sections["coefficients"])
    sizes = LosslessSizes(len(lossless), coefficients)
    multipliers = np.ones((2, 2, band_count()))
    multipliers[1, :, 1:] = 4.0
    stepping = Ladder(np.array([100.0, 100.5]), multipliers)
    # goals the ladder can reach: below about 0.47 the size jumps at lam 0+ (ties round
    # the other way), from about 0.47 to 0.39 of the lossless size
    for rate in (0.5, 0.6, 0.7):
        lossy = codec.encode_lossy(SAMPLE, Target("rate", rate), sizes,
                                   len(lossless) - coefficients, Options(), ladder=stepping)
        assert abs(lossy.estimated_size / (rate * len(lossless)) - 1) <= 0.015
