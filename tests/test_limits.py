"""Limits checked before allocation: input size, claimed original size, sections that
decompress to more than they may, images over the coefficient limit; and the edge corpus
under a memory limit, in a worker process."""

from __future__ import annotations

import io
import pickle
import re
import struct
import tracemalloc

import fuzzing
import numpy as np
import pytest
import zstandard

import jpegzip
from jpegzip import api, codec, container, header_dict
from jpegzip.container import Container, Mode
from jpegzip.errors import BadOption, ContainerError, LimitExceeded
from jpegzip.jpeg import read_jpeg
from jpegzip.jpeg.blocks import component_offsets, scan_block_order
from jpegzip.jpeg.huffman import stack_encode_tables
from jpegzip.jpeg.record import pack_side_info, scan_mode, unpack_side_info
from jpegzip.jpeg.scan_encode import BLOCK_BYTES_BOUND, encode_scan
from jpegzip.options import MAX_COEFFICIENTS, MAX_INPUT_BYTES, Options

SMALL = Options(max_input_bytes=1 << 20)


def bomb(size: int) -> bytes:
    """A zstd frame of ``size`` zero bytes that says so in its header (a few KiB)."""
    return zstandard.ZstdCompressor(level=19).compress(bytes(size))


def lossless_container(original: bytes, **sections: bytes) -> bytes:
    """A lossless .jrz of ``original`` through the model, with some sections replaced (a
    legacy plain-zstd ``raw`` section replaces the dictionary-coded ``raw-d1``)."""
    parts = codec.encode_lossless(original)
    if "raw" in sections:
        del parts["raw-d1"]
    parts |= sections
    digest = container.sha256(original)
    return container.write(Container(Mode.LOSSLESS, codec.model_id(), len(original), digest, parts))


def with_frame_size(jpeg: bytes, width: int, height: int) -> bytes:
    start = jpeg.index(b"\xff\xc0")  # baseline SOF: length, precision, height, width
    return jpeg[: start + 5] + struct.pack(">HH", height, width) + jpeg[start + 9 :]


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "1"])
def test_limits_must_be_positive_integers(value):
    for name in ("max_input_bytes", "max_coefficients"):
        with pytest.raises(BadOption, match=name):
            Options(**{name: value})


def test_defaults_and_codec_carry_the_limits(jpeg_bytes):
    assert (Options().max_input_bytes, Options().max_coefficients) == (256 << 20, 1 << 28)
    assert (MAX_INPUT_BYTES, MAX_COEFFICIENTS) == (256 << 20, 1 << 28)
    codec_ = pickle.loads(pickle.dumps(jpegzip.Codec(max_input_bytes=len(jpeg_bytes) - 1)))
    assert repr(codec_) == (f"Codec(rate=1.0, device='auto', "
                           f"max_input_bytes={len(jpeg_bytes) - 1}, level=2)")
    with pytest.raises(LimitExceeded):
        codec_.compress(jpeg_bytes)
    packed = jpegzip.Codec().compress(jpeg_bytes)
    with pytest.raises(LimitExceeded):
        jpegzip.Codec(max_input_bytes=len(packed) - 1).decompress(packed)


# --- input size ------------------------------------------------------------------------------


def test_inputs_over_the_limit_are_refused(jpeg_bytes):
    tight = Options(max_input_bytes=len(jpeg_bytes) - 1)
    with pytest.raises(LimitExceeded, match="over the limit") as caught:
        api.compress_with_result(jpeg_bytes, tight)
    assert caught.value.code == "limit-exceeded"
    packed = api.compress(jpeg_bytes)
    with pytest.raises(LimitExceeded):
        api.decompress_with_result(packed, Options(max_input_bytes=len(packed) - 1))
    # The .jrz is small enough, but the original it claims is not.
    with pytest.raises(LimitExceeded, match="the original it holds"):
        api.decompress_with_result(packed, tight)
    with pytest.raises(LimitExceeded):
        jpegzip.inspect(packed, tight)


def test_files_and_streams_over_the_limit_are_not_read(tmp_path, jpeg_bytes):
    huge = tmp_path / "huge.jpg"
    with open(huge, "wb") as handle:  # sparse: 8 GiB that take no space
        handle.truncate(8 << 30)
    tracemalloc.start()
    with pytest.raises(LimitExceeded, match=str(8 << 30)):
        api.compress_file(huge, tmp_path / "huge.jrz")
    with pytest.raises(LimitExceeded):
        api.read_input(io.BytesIO(bytes(SMALL.max_input_bytes + 1)), SMALL)  # no size known
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * SMALL.max_input_bytes + (1 << 20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.jpg"]
    assert api.read_input(io.BytesIO(jpeg_bytes)) == jpeg_bytes


def test_checks_of_written_outputs_use_the_same_limits(tmp_path, jpeg_bytes):
    target = tmp_path / "a.jrz"
    api.save(target, api.compress(jpeg_bytes))
    digest = container.sha256(jpeg_bytes)
    api.check_written(target, digest, True, Options(max_input_bytes=len(jpeg_bytes)))
    tight = Options(max_input_bytes=len(jpeg_bytes) - 1)
    with pytest.raises(LimitExceeded):
        api.check_written(target, digest, True, tight)
    assert not api.output_matches(target, digest, True, tight)


# --- what a .jrz claims ----------------------------------------------------------------------


def test_stored_zstd_bomb_stops_at_the_claimed_length(jpeg_bytes):
    packed = container.write(
        Container(
            Mode.STORED, bytes(32), 1000, container.sha256(jpeg_bytes), {"zstd": bomb(64 << 20)}
        )
    )
    tracemalloc.start()
    with pytest.raises(ContainerError, match="length mismatch"):
        api.decompress(packed)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20


@pytest.mark.parametrize("section", ["raw-d1", "raw", "scans"])
def test_sections_never_decompress_past_the_limit(jpeg_bytes, section):
    packed = lossless_container(jpeg_bytes, **{section: bomb(8 << 20)})
    tracemalloc.start()
    with pytest.raises(ContainerError, match="decompresses to more than"):
        api.decompress_with_result(packed, SMALL)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * SMALL.max_input_bytes


def test_a_frame_header_claiming_a_huge_size_allocates_nothing(jpeg_bytes):
    frame = bomb(100)
    claims_1_tib = frame[:4] + b"\xe0" + struct.pack("<Q", 1 << 40) + frame[6:]
    assert zstandard.get_frame_parameters(claims_1_tib).content_size == 1 << 40
    packed = lossless_container(jpeg_bytes, raw=claims_1_tib)
    for call in (api.decompress, jpegzip.inspect):
        with pytest.raises(ContainerError, match="raw section"):
            call(packed)


def test_image_over_the_coefficient_limit(make_jpeg):
    original = make_jpeg(width=64, height=64, mode="L")  # 64 blocks of 64 coefficients
    tight = Options(max_coefficients=64 * 64 - 1)
    packed, result = api.compress_with_result(original, tight)
    assert (result.mode, result.stored_reason) == ("stored", "image-too-large")
    lossless = lossless_container(original)
    assert api.decompress(lossless) == original
    with pytest.raises(LimitExceeded, match="over the limit of 4095 coefficients"):
        api.decompress_with_result(lossless, tight)


def test_frame_claiming_65535_squared_is_stored_whole(jpeg_bytes):
    claims = with_frame_size(jpeg_bytes, 65535, 65535)
    packed, result = api.compress_with_result(claims)
    assert (result.mode, result.stored_reason) == ("stored", "image-too-large")
    assert api.decompress(packed) == claims
    huge = lossless_container(jpeg_bytes)
    header = header_dict.header_bytes(container.read(huge).sections, len(jpeg_bytes))
    header = with_frame_size(header, 65535, 65535)
    for section in ({"raw": zstandard.compress(header)}, {"raw-d1": header_dict.compress(header)}):
        with pytest.raises(LimitExceeded, match="65535x65535"):
            api.decompress(lossless_container(jpeg_bytes, **section))


# --- side information that does not fit its scan --------------------------------------------


def cut_pad_bits(side):
    side[0].pad_bits = side[0].pad_bits[:-1]


def zrl_run(count: int):
    def edit(side):
        side[0].extra_zero_runs = np.array([[0, count]], np.int64)

    return edit


def claim_length(side):
    side[0].entropy_coded_length = 0xFFFFFFFF


@pytest.mark.parametrize(
    "damage, message",
    [
        (cut_pad_bits, "does not fit the scan"),  # the encoder read past the pad bits
        (zrl_run(100_000), "does not fit the scan"),  # it wrote ZRLs far past its buffer
        (zrl_run(0), "does not fit the scan"),
        (claim_length, "claims a JPEG of"),  # it allocated 4 GiB for the scan
    ],
    ids=["pad-bits-cut", "zrl-run-100000", "zrl-run-0", "scan-length-4gib"],
)
def test_damaged_side_information_is_refused(damage, message):
    """The damage of tests/data/crashers/scans_*.jrz, made again with the installed model."""
    original = (fuzzing.TESTS / "data" / "jpeg" / "restarts_444_dri5.jpg").read_bytes()
    scans = container.read(lossless_container(original)).sections["scans"]
    side = unpack_side_info(container.unpack_small(scans, 1 << 20, "scans"))
    damage(side)
    packed = lossless_container(original, scans=zstandard.compress(pack_side_info(side)))
    with pytest.raises(ContainerError, match=message):
        api.decompress(packed)


# --- the scan encoder never writes past its buffer -------------------------------------------


def test_scan_encoder_stays_in_its_buffer_whatever_the_coefficients():
    """Coefficients from a damaged .jrz can make a refinement scan far longer than recorded;
    the encoder must report an overflow without writing past ``out`` (it used to flush up to
    32767 blocks of correction bits at once, past the end)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (512, 512), (128, 128, 128)).save(buffer, "JPEG", progressive=True)
    record = read_jpeg(buffer.getvalue())
    record.coefficients[...] = 7  # every refinement scan gets correction bits everywhere
    frame, offsets = record.layout.frame, component_offsets(record.layout.frame)
    for scan, info in zip(record.layout.scans, record.side, strict=True):
        order, components, per_mcu = scan_block_order(frame, scan, offsets)
        size = info.entropy_coded_length + BLOCK_BYTES_BOUND
        memory = np.zeros(size + (1 << 20), np.uint8)
        encode_scan(
            memory[:size], order, components, per_mcu, scan.restart_interval,
            *stack_encode_tables(list(scan.dc_tables)), *stack_encode_tables(list(scan.ac_tables)),
            record.coefficients, scan_mode(frame.progressive, scan), scan.ss, scan.se, scan.al,
            info.pad_bits, info.reset_points, info.extra_zero_runs,
        )  # fmt: skip
        assert not memory[size:].any()


# --- the edge corpus under a memory limit ----------------------------------------------------


@pytest.mark.skipif(not fuzzing.EDGE_CORPUS.is_dir(), reason="../shared/corpus/edge is absent")
def test_edge_corpus_round_trips_or_is_refused_within_the_memory_limit():
    paths = sorted(p for p in fuzzing.EDGE_CORPUS.rglob("*") if p.is_file() and p.suffix != ".md")
    outcomes = {}
    with fuzzing.Worker(memory=fuzzing.MEMORY_LIMIT, time_limit=120) as worker:
        for index, path in enumerate(paths):
            data = path.read_bytes()
            case = fuzzing.Case(index, path.name, "jpeg", (), data)
            outcome, detail = worker.check(case)
            outcomes[str(path.relative_to(fuzzing.EDGE_CORPUS))] = (outcome, detail)
            if outcome == "refused":
                assert detail == "not-jpeg" and not data.startswith(b"\xff\xd8"), path
            else:
                assert outcome in ("lossless", "stored"), (path, outcome, detail)
    assert outcomes["jpeg-decoder/crashtest__images__max_size.jpg"] == ("stored", "image-too-large")
    assert outcomes["jpeg-decoder/crashtest__images__empty.jpg"] == ("refused", "not-jpeg")
    assert sum(outcome == "lossless" for outcome, _ in outcomes.values()) >= 120


# --- data is never code ----------------------------------------------------------------------

UNSAFE_LOADS = re.compile(
    r"pickle\.loads?\(|marshal\.loads?\(|torch\.load\((?!.*weights_only=True)"
    r"|np\.load\((?!.*allow_pickle=False)"
)


def test_no_data_is_loaded_as_code():
    """Weights and containers are data: nothing in the package unpickles what it reads."""
    package = fuzzing.REPOSITORY / "jpegzip"
    found = [
        f"{path.relative_to(package)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNSAFE_LOADS.search(line)
    ]
    assert found == []
