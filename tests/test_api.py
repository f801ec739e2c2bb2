"""compress / decompress: byte-exact round trips, the stored fallback, checks, file writes."""

from __future__ import annotations

import io
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import jpegzip
from jpegzip import api, codec, container, embedded
from jpegzip.container import Container, Mode
from jpegzip.errors import (
    ContainerError,
    JpegzipError,
    ModelNotAvailable,
    NotJpegError,
    OutputExists,
    Unsupported,
)
from jpegzip.model import LEVEL_WEIGHTS
from jpegzip.options import DEFAULT_LEVEL, LEVELS, Options

GOLDEN = Path(__file__).resolve().parent / "data" / "jrz"
EDGE = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "edge"
EDGE_FILES = sorted(path for path in EDGE.rglob("*") if path.is_file()) if EDGE.is_dir() else []
FORMS = {
    "rgb-420": {},
    "gray": {"mode": "L"},
    "rgb-444-q95": {"subsampling": 0, "quality": 95},
    "progressive": {"progressive": True},
    "odd-size-q30": {"width": 37, "height": 19, "quality": 30},
}


@pytest.mark.parametrize("options", FORMS.values(), ids=FORMS.keys())
def test_round_trip_is_byte_exact(make_jpeg, options):
    original = make_jpeg(**options)
    packed, result = api.compress_with_result(original)
    assert result.mode in ("lossless", "stored")
    assert (result.stored_reason is None) == (result.mode == "lossless")
    assert (result.bytes_in, result.bytes_out) == (len(original), len(packed))
    assert api.decompress(packed) == original
    assert jpegzip.decompress(jpegzip.compress(original)) == original


@pytest.mark.parametrize(
    "data", [b"", b"hello, world\n", b"\xff", b"\xd8\xff\xe0", b"\x89JRZ\x00\x01"], ids=repr
)
def test_non_jpeg_input_is_refused(data):
    with pytest.raises(NotJpegError):
        api.compress(data)


def test_png_is_refused(png_bytes):
    with pytest.raises(jpegzip.JpegzipError) as caught:
        api.compress(png_bytes)
    assert caught.value.code == "not-jpeg"


def test_decompress_refuses_a_jpeg(jpeg_bytes):
    with pytest.raises(ContainerError, match="bad magic"):
        api.decompress(jpeg_bytes)


def test_fake_codec_takes_the_lossless_path(fake_lossless_codec, jpeg_bytes):
    packed, result = api.compress_with_result(jpeg_bytes)
    assert (result.mode, result.stored_reason) == ("lossless", None)
    parsed = container.read(packed)
    assert parsed.mode is Mode.LOSSLESS
    assert parsed.model_id == codec.model_id()
    assert api.decompress_with_result(packed) == (
        jpeg_bytes,
        api.Result("lossless", None, len(packed), len(jpeg_bytes)),
    )


def test_model_id_mismatch_names_both_ids(fake_lossless_codec, jpeg_bytes):
    packed = api.compress(jpeg_bytes)
    fake_lossless_codec(model_id=bytes.fromhex("ab" * 32))
    with pytest.raises(ModelNotAvailable) as caught:
        api.decompress(packed)
    message = str(caught.value)
    assert codec.model_id().hex()[:12] in message
    assert container.read(packed).model_id.hex()[:12] in message
    assert len(message) < 100


def raise_(error: BaseException):
    def fail(*args):
        raise error

    return fail


class FakePanic(BaseException):
    """Stands in for constriction's PanicException, which is not an Exception."""


@pytest.mark.parametrize(
    "encode, decode, reason",
    [
        (raise_(Unsupported("arithmetic-coding")), None, "arithmetic-coding"),
        (None, lambda sections, options, model: b"\xff\xd8 wrong bytes", "verification-failed"),
        (None, raise_(Unsupported("bad-scan")), "bad-scan"),
        (raise_(RuntimeError("bug")), None, "internal-error: RuntimeError"),
        (None, raise_(IndexError("bug")), "internal-error: IndexError"),
        (raise_(FakePanic()), None, "internal-error: FakePanic"),
        (lambda jpeg, options: {"": b""}, None, "internal-error: ValueError"),
    ],
    ids=["unsupported", "mismatch", "decode-unsupported", "bug", "decode-bug", "panic", "bad-name"],
)
def test_model_path_failures_fall_back_to_stored(
    fake_lossless_codec, jpeg_bytes, encode, decode, reason
):
    fake_lossless_codec(encode=encode, decode=decode)
    packed, result = api.compress_with_result(jpeg_bytes)
    assert (result.mode, result.stored_reason) == ("stored", reason)
    assert container.read(packed).mode is Mode.STORED
    assert api.decompress(packed) == jpeg_bytes


def test_interrupt_in_the_codec_is_not_swallowed(fake_lossless_codec, jpeg_bytes):
    fake_lossless_codec(encode=raise_(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        api.compress(jpeg_bytes)


def stored_container(original: bytes, **changes) -> bytes:
    fields = {
        "mode": Mode.STORED,
        "model_id": bytes(32),
        "original_length": len(original),
        "original_sha256": container.sha256(original),
        "sections": container.pack_stored(original),
    } | changes
    return container.write(Container(**fields))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"original_sha256": bytes(32)}, "SHA-256 mismatch"),
        ({"original_length": 5}, "length mismatch"),
        ({"original_length": 10**8}, "length mismatch"),
    ],
)
def test_decompress_never_returns_wrong_bytes(jpeg_bytes, changes, message):
    with pytest.raises(ContainerError, match=message):
        api.decompress(stored_container(jpeg_bytes, **changes))


def test_lossy_mode_with_a_model_id_nobody_has_is_a_clear_error(jpeg_bytes):
    with pytest.raises(ModelNotAvailable, match="coded with model 000000000000"):
        api.decompress(stored_container(jpeg_bytes, mode=Mode.LOSSY))


def test_golden_files_still_decode():
    """Every .jrz in tests/data/jrz must keep decoding to its .jpg with the shipped models:
    one per level, format and header section, and a large image coded in parts."""
    pairs = sorted(GOLDEN.glob("*.jrz"))
    assert {jpegzip.inspect(packed.read_bytes())["level"] for packed in pairs} >= set(LEVELS)
    for packed in pairs:
        assert api.decompress(packed.read_bytes()) == packed.with_suffix(".jpg").read_bytes()


@pytest.mark.parametrize("name, error, message", [
    ("lossless_learned_v1.jrz", ModelNotAvailable, "coded with model 4f0292938f83"),
    ("lossless_classic_v2_stream2.jrz", ContainerError, "version 2 was retired"),
    ("lossless_learned_v2_raw_d1_v3.jrz", ContainerError, "version 3 was retired"),
])
def test_files_of_retired_formats_are_refused_by_name(name, error, message):
    """Made before 2026-12-07 (nothing was released): the learned-v1 model and coefficient
    streams 2 and 3 were retired, and their files say so rather than decode wrongly."""
    with pytest.raises(error, match=message):
        api.decompress((GOLDEN / "retired" / name).read_bytes())


@pytest.mark.skipif(not os.environ.get("JPEGZIP_REGENERATE_GOLDEN"), reason="explicit flag only")
def test_regenerate_golden_files(make_jpeg, with_thumbnail):
    """Golden files are written once per format version, level (its model) and header
    section, with an embedded thumbnail, for an image large enough to be coded in parts
    (format 5 on), and stored with a suffix (format 6 on); old ones must keep decoding, so
    a new model ships beside the old weights rather than replacing them."""
    GOLDEN.mkdir(parents=True, exist_ok=True)
    original = make_jpeg(width=24, height=16, seed=7)
    stored = stored_container(original, suffix=".JPEG")
    (GOLDEN / f"stored_v{_version(stored)}.jpg").write_bytes(original)
    (GOLDEN / f"stored_v{_version(stored)}.jrz").write_bytes(stored)
    photo = make_jpeg(width=96, height=64, seed=3)
    thumbnailed = with_thumbnail(photo, make_jpeg(width=96, height=64, seed=4, quality=90))
    for jpeg, level in [(photo, level) for level in LEVELS] + [(thumbnailed, DEFAULT_LEVEL),
                                                                (_smooth_6mp(), DEFAULT_LEVEL)]:
        packed, result = api.compress_with_result(jpeg, Options(level=level))
        assert result.mode == "lossless"
        sections = container.read(packed).sections
        header = next(n for n in sections if n.startswith("raw"))
        extra = [n for n in sections if n == embedded.SECTION]
        if sections["coefficients"][:1] == b"\x05" and _version(packed) > 5:  # not implied
            extra.append("parts")
        name = "_".join(["lossless", Path(LEVEL_WEIGHTS[level]).stem, header, *extra])
        name += f"_v{_version(packed)}"
        (GOLDEN / f"{name.replace('-', '_')}.jpg").write_bytes(jpeg)
        (GOLDEN / f"{name.replace('-', '_')}.jrz").write_bytes(packed)


def _version(packed: bytes) -> int:
    return struct.unpack_from("<H", packed, len(container.MAGIC))[0]


def _smooth_6mp() -> bytes:
    """A smooth 3072 x 2048 4:2:0 JPEG (~100 KB): large enough to be coded in two parts."""
    y, x = np.mgrid[0:2048, 0:3072]
    pixels = np.stack([128 + 60 * np.sin(x / 300) * np.cos(y / 200),
                       100 + 50 * np.sin((x + y) / 400), 128 + 40 * np.cos(x / 150)], axis=-1)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=50)
    return buffer.getvalue()


def test_readme_python_example_runs(tmp_path, monkeypatch, jpeg_bytes):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks
    (tmp_path / "sample.jpg").write_bytes(jpeg_bytes)
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


# --- files ---------------------------------------------------------------------------------


def test_golden_files_of_format_6_keep_the_suffix():
    assert container.read((GOLDEN / "stored_v6.jrz").read_bytes()).suffix == ".JPEG"
    assert api.original_suffix(GOLDEN / "stored_v6.jrz") == ".JPEG"
    assert api.original_suffix(GOLDEN / "stored_v1.jrz") == ".jpg"  # none recorded then


@pytest.mark.parametrize("name, recorded, restored", [
    ("photo.JPEG", ".JPEG", ".JPEG"), ("a.jpeg", ".jpeg", ".jpeg"), ("photo.jpg", None, ".jpg"),
    ("photo", "", ""), ("odd.j\tp", None, ".jpg"), ("long." + "x" * 40, None, ".jpg")])
def test_compress_file_records_the_suffix_of_its_source(tmp_path, jpeg_bytes, name, recorded,
                                                        restored):
    """.jpg is what a .jrz without a suffix gives back, so it costs no bytes; "" is a name
    without one; a suffix the format cannot hold is not recorded."""
    (tmp_path / name).write_bytes(jpeg_bytes)
    api.compress_file(tmp_path / name, tmp_path / "out.jrz")
    assert container.read((tmp_path / "out.jrz").read_bytes()).suffix == recorded
    assert api.original_suffix(tmp_path / "out.jrz") == restored
    assert api.decompress((tmp_path / "out.jrz").read_bytes()) == jpeg_bytes


def test_original_suffix_of_an_unreadable_file_is_the_default(tmp_path):
    assert api.original_suffix(tmp_path / "missing.jrz") == ".jpg"
    (tmp_path / "junk.jrz").write_bytes(b"junk")
    assert api.original_suffix(tmp_path / "junk.jrz") == ".jpg"


def test_file_round_trip(tmp_path, jpeg_bytes):
    source = tmp_path / "photo.jpg"
    source.write_bytes(jpeg_bytes)
    result = api.compress_file(source, tmp_path / "photo.jrz")
    assert result.bytes_out == (tmp_path / "photo.jrz").stat().st_size
    api.decompress_file(tmp_path / "photo.jrz", tmp_path / "back.jpg")
    assert (tmp_path / "back.jpg").read_bytes() == jpeg_bytes
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "back.jpg",
        "photo.jpg",
        "photo.jrz",
    ]


def test_existing_output_is_kept_unless_forced(tmp_path, jpeg_bytes):
    source, target = tmp_path / "photo.jpg", tmp_path / "photo.jrz"
    source.write_bytes(jpeg_bytes)
    target.write_bytes(b"precious")
    with pytest.raises(OutputExists):
        api.compress_file(source, target)
    assert target.read_bytes() == b"precious"
    api.compress_file(source, target, force=True)
    assert api.decompress(target.read_bytes()) == jpeg_bytes
    assert len(list(tmp_path.iterdir())) == 2


def test_output_may_not_be_the_input(tmp_path, jpeg_bytes):
    source = tmp_path / "photo.jpg"
    source.write_bytes(jpeg_bytes)
    with pytest.raises(OutputExists, match="is the input"):
        api.compress_file(source, source, force=True)
    assert source.read_bytes() == jpeg_bytes


def test_missing_output_folder_is_an_error(tmp_path, jpeg_bytes):
    source = tmp_path / "photo.jpg"
    source.write_bytes(jpeg_bytes)
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        api.compress_file(source, tmp_path / "missing" / "photo.jrz")
    assert list(tmp_path.iterdir()) == [source]


def test_failed_write_leaves_no_temporary_file(tmp_path, jpeg_bytes, monkeypatch):
    source = tmp_path / "photo.jpg"
    source.write_bytes(jpeg_bytes)
    for name in ("replace", "link"):  # the final rename: either call
        monkeypatch.setattr(os, name, raise_(OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space"):
        api.compress_file(source, tmp_path / "photo.jrz")
    assert list(tmp_path.iterdir()) == [source]


def test_failed_compress_writes_nothing(tmp_path):
    source = tmp_path / "notes.jpg"
    source.write_bytes(b"not a jpeg")
    with pytest.raises(NotJpegError):
        api.compress_file(source, tmp_path / "notes.jrz")
    assert list(tmp_path.iterdir()) == [source]


# --- the shared corpus ---------------------------------------------------------------------


@pytest.mark.skipif(not EDGE_FILES, reason="../shared/corpus/edge is absent")
@pytest.mark.parametrize(
    "path", EDGE_FILES, ids=[str(path.relative_to(EDGE)) for path in EDGE_FILES]
)
def test_edge_corpus_round_trips_or_is_refused(path):
    """At every level."""
    data = path.read_bytes()
    if not data.startswith(api.START_OF_IMAGE):
        with pytest.raises(NotJpegError):
            api.compress(data)
        return
    for level in LEVELS:
        try:
            packed, result = api.compress_with_result(data, Options(level=level))
        except JpegzipError as error:  # pragma: no cover - the message names the file
            pytest.fail(f"{path.name}, level {level}: {error!r}")
        assert result.mode in ("lossless", "stored")
        assert api.decompress(packed) == data


def test_every_level_round_trips_and_names_its_model(make_jpeg):
    original = make_jpeg(width=64, height=48)
    for level in (*LEVELS, "max"):
        packed = jpegzip.compress(original, level=level)
        assert jpegzip.decompress(packed) == original
        assert container.read(packed).model_id == codec.model_id(
            LEVELS[-1] if level == "max" else level)
    codec_ = pickle.loads(pickle.dumps(jpegzip.Codec(level=1)))
    assert codec_.options.level == 1
    assert jpegzip.inspect(codec_.compress(original))["level"] == 1
    with pytest.raises(jpegzip.JpegzipError, match="level must be"):
        jpegzip.Codec(level=0)
