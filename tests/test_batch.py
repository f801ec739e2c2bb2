"""Batches in-process: planning outputs, outcomes, resume, --rm, interrupts; Codec; inspect."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
import zstandard
from PIL import Image

import jpegzip
from jpegzip import api, batch, container, workers
from jpegzip.batch import Settings, Status
from jpegzip.errors import BadOption, NotJpegError, VerificationFailed
from jpegzip.inspection import inspect
from jpegzip.jpeg.metadata import read_metadata
from jpegzip.options import Options

COMPRESS = Settings(compressing=True)
DECOMPRESS = Settings(compressing=False)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def tree(tmp_path, make_jpeg, png_bytes) -> Path:
    """photos/ with JPEGs at three depths, a PNG and a text file."""
    root = tmp_path / "photos"
    for index, name in enumerate(["a.jpg", "sub/b.jpeg", "sub/deeper/c.JPG", "sub/d.jpg"]):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(make_jpeg(seed=index))
    (root / "sub" / "image.png").write_bytes(png_bytes)
    (root / "notes.txt").write_text("not a photo\n")
    return root


def run(inputs, settings=COMPRESS, output=None, recursive=True, **changes):
    settings = replace(settings, **changes)
    plan = batch.plan(inputs, output, recursive, settings.compressing)
    return batch.run(plan, settings)


# --- planning ------------------------------------------------------------------------------


def test_folders_mirror_under_output_and_named_files_go_flat(tree, tmp_path):
    plan = batch.plan([tree, tree / "sub" / "b.jpeg"], tmp_path / "out", True, True)
    targets = {task.source.relative_to(tree): task.destination for task in plan.tasks}
    assert targets[Path("sub/deeper/c.JPG")] == tmp_path / "out" / "sub/deeper/c.jrz"
    assert targets[Path("a.jpg")] == tmp_path / "out" / "a.jrz"
    # b.jpeg named again is the same file: done once, under its mirrored name
    assert [task.source.name for task in plan.tasks].count("b.jpeg") == 1
    assert not plan.problems
    assert all(task.make_folder for task in plan.tasks)
    assert {task.explicit for task in plan.tasks} == {False}


def test_outputs_next_to_inputs_by_default(tree):
    plan = batch.plan([tree / "a.jpg"], None, False, True)
    (task,) = plan.tasks
    assert (task.destination, task.explicit, task.make_folder) == (tree / "a.jrz", True, False)


def test_walks_skip_earlier_outputs_and_decompress_takes_jrz_only(tree):
    (tree / "a.jrz").write_bytes(b"old output")
    (tree / ".a.jrz.k3x9q.tmp").write_bytes(b"left by a killed run")
    compressing = {task.source.name for task in batch.plan([tree], None, True, True).tasks}
    assert "a.jrz" not in compressing and "notes.txt" in compressing
    assert ".a.jrz.k3x9q.tmp" not in compressing
    decompressing = batch.plan([tree], None, True, False).tasks
    assert [task.source.name for task in decompressing] == ["a.jrz"]


def test_input_problems_are_failures_not_crashes(tree, tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.jpg").write_bytes(b"\xff\xd8")
    plan = batch.plan(
        [tree, tmp_path / "other", tmp_path / "nothing*.jpg"], tmp_path / "out", True, True
    )
    codes = sorted(problem.code for problem in plan.problems)
    assert codes == ["io-error", "output-exists"]  # no glob match; two a.jpg -> out/a.jrz
    folder = batch.plan([tree], None, False, True)
    assert not folder.tasks and "add -r" in folder.problems[0].message


def test_quoted_globs_are_expanded(tree):
    plan = batch.plan([str(tree / "**" / "*.jp*g")], None, False, True)
    assert sorted(task.source.name for task in plan.tasks) == ["a.jpg", "b.jpeg", "d.jpg"]


def test_several_files_need_an_output_folder(tree, tmp_path):
    with pytest.raises(BadOption, match="must be an existing folder"):
        batch.plan([tree / "a.jpg", tree / "sub" / "d.jpg"], tmp_path / "one.jrz", False, True)
    plan = batch.plan([tree / "a.jpg", tree / "sub/d.jpg"], f"{tmp_path / 'new'}/", False, True)
    assert {task.destination.parent for task in plan.tasks} == {tmp_path / "new"}


# --- running -------------------------------------------------------------------------------


def test_tree_round_trip_skips_non_jpegs(tree, tmp_path):
    report = run([tree], output=tmp_path / "archive")
    summary = report.summary()
    assert (summary["failed"], summary["skipped"], summary["files"]) == (0, 2, 6)
    assert summary["done"] + summary["stored"] == 4
    skipped = {Path(o.source).name for o in report.outcomes if o.status is Status.SKIPPED}
    assert skipped == {"image.png", "notes.txt"}
    assert files_under(tmp_path / "archive") == [
        "a.jrz",
        "sub/b.jrz",
        "sub/d.jrz",
        "sub/deeper/c.jrz",
    ]
    back = run([tmp_path / "archive"], DECOMPRESS, output=tmp_path / "back")
    assert back.summary()["done"] == 4
    names = ["a.jpg", "sub/b.jpeg", "sub/d.jpg", "sub/deeper/c.JPG"]  # each suffix restored
    assert files_under(tmp_path / "back") == names
    for name in names:
        assert (tmp_path / "back" / name).read_bytes() == (tree / name).read_bytes()
    json.dumps(report.to_json())  # serialisable as it is


def test_sources_sharing_a_jrz_name_keep_their_whole_names(tree, tmp_path, make_jpeg):
    """a.jpg and a.jpeg in one folder would both be a.jrz: each becomes its name plus
    .jrz, and comes back under its own name; nothing is overwritten or lost."""
    (tree / "a.jpeg").write_bytes(make_jpeg(seed=9))
    plan = batch.plan([tree], None, True, True)
    targets = {task.source.name: task.destination.name for task in plan.tasks
               if task.source.parent == tree}
    assert targets == {"a.jpeg": "a.jpeg.jrz", "a.jpg": "a.jpg.jrz", "notes.txt": "notes.jrz"}
    assert not plan.problems
    assert batch.run(plan, COMPRESS).count(Status.FAILED) == 0
    back = run([tree], DECOMPRESS, output=tmp_path / "back")
    assert back.count(Status.DONE) == 5
    for name in ("a.jpg", "a.jpeg"):
        assert (tmp_path / "back" / name).read_bytes() == (tree / name).read_bytes()


def test_decompressed_names(tmp_path, jpeg_bytes):
    """photo.jrz of a photo.JPEG gives photo.JPEG; a.jpeg.jrz gives a.jpeg (not
    a.jpeg.jpeg); b.jpg gives b.jpg; a name without a suffix stays without; -o wins."""
    folder = tmp_path / "in"
    folder.mkdir()
    for source, jrz in [("photo.JPEG", "photo.jrz"), ("a.jpeg", "a.jpeg.jrz"),
                        ("b.jpg", "b.jrz"), ("bare", "bare.jrz")]:
        (tmp_path / source).write_bytes(jpeg_bytes)
        api.compress_file(tmp_path / source, folder / jrz)
    plan = batch.plan([folder], tmp_path / "out", True, False)
    assert sorted(task.destination.name for task in plan.tasks) == [
        "a.jpeg", "b.jpg", "bare", "photo.JPEG"]
    (task,) = batch.plan([folder / "photo.jrz"], tmp_path / "o.jpg", False, False).tasks
    assert task.destination == tmp_path / "o.jpg"


def test_named_non_jpeg_fails(tree):
    report = run([tree / "notes.txt", tree / "a.jpg"], recursive=False)
    statuses = {Path(o.source).name: (o.status, o.code) for o in report.outcomes}
    assert statuses["notes.txt"] == (Status.FAILED, "not-jpeg")
    assert statuses["a.jpg"][0] in (Status.DONE, Status.STORED)


def test_rerun_skips_verified_outputs_and_refuses_bad_ones(tree, tmp_path):
    out = tmp_path / "out"
    run([tree], output=out)
    (out / "sub" / "d.jrz").write_bytes(b"damaged")
    report = run([tree], output=out)
    reasons = sorted((o.status.value, o.reason or o.code) for o in report.outcomes)
    assert (
        reasons
        == [("failed", "output-exists")]
        + [("skipped", "already-done")] * 3
        + [("skipped", "not-jpeg")] * 2
    )
    forced = run([tree], output=out, force=True)
    assert forced.count(Status.FAILED) == forced.count(Status.SKIPPED) - 2 == 0
    assert api.decompress((out / "sub" / "d.jrz").read_bytes()) == (tree / "sub/d.jpg").read_bytes()


def test_rm_removes_a_source_only_after_its_output_verifies(tree, monkeypatch):
    originals = {p: p.read_bytes() for p in tree.rglob("*.jp*g")}
    calls = []
    real_check = api.check_written

    def check(path, digest, is_jrz, options):
        calls.append(Path(path).name)
        if Path(path).name == "d.jrz":
            raise VerificationFailed("simulated: the disk returned other bytes")
        return real_check(path, digest, is_jrz, options)

    monkeypatch.setattr(api, "check_written", check)
    report = run([tree], remove_source=True)
    failed = [o for o in report.outcomes if o.status is Status.FAILED]
    assert [(Path(o.source).name, o.code) for o in failed] == [("d.jpg", "verification-failed")]
    assert sorted(calls) == ["a.jrz", "b.jrz", "c.jrz", "d.jrz"]
    for source, data in originals.items():
        if source.name == "d.jpg":
            assert source.read_bytes() == data
        else:
            assert not source.exists()
            assert api.decompress(source.with_suffix(".jrz").read_bytes()) == data
    assert (tree / "notes.txt").exists() and (tree / "sub" / "image.png").exists()


def test_rm_on_rerun_removes_sources_of_verified_outputs(tree):
    run([tree])
    report = run([tree], remove_source=True)
    assert report.count(Status.SKIPPED) == 6
    assert not list(tree.rglob("*.jp*g")) and len(list(tree.rglob("*.jrz"))) == 4


def test_interrupt_stops_the_batch_and_keeps_the_report(tree, monkeypatch):
    real = api.compress_file
    calls = []

    def compress_file(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "compress_file", compress_file)
    report = run([tree], jobs=1)
    assert report.interrupted
    assert report.summary()["not_started"] == report.planned - len(report.outcomes) > 0
    assert len(list(tree.rglob("*.jrz"))) == 2
    assert not [p for p in tree.rglob("*") if p.name.endswith(".tmp")]


def test_a_bug_in_one_file_is_recorded_with_its_traceback(tree, monkeypatch):
    real = api.compress_file

    def compress_file(source, *args, **kwargs):
        if Path(source).name == "a.jpg":
            raise RuntimeError("boom")
        return real(source, *args, **kwargs)

    monkeypatch.setattr(api, "compress_file", compress_file)
    report = run([tree])
    (bug,) = [o for o in report.outcomes if o.status is Status.FAILED]
    assert (bug.code, bug.message) == ("internal-error", "RuntimeError: boom")
    assert "Traceback" in bug.trace and "trace" not in bug.to_json()
    assert report.count(Status.DONE) + report.count(Status.STORED) == 3


def test_worker_processes_give_the_same_result(tree, tmp_path):
    report = run([tree], output=tmp_path / "out", jobs=2)
    assert report.count(Status.FAILED) == 0 and not report.interrupted
    for jrz in (tmp_path / "out").rglob("*.jrz"):
        source = next(tree.rglob(jrz.stem + ".*"))
        assert api.decompress(jrz.read_bytes()) == source.read_bytes()


def exit_on_three(item: int) -> int:
    """Runs in a worker: dies on 3 (as if killed), doubles anything else."""
    if item == 3:
        os._exit(9)
    return 2 * item


def test_a_dead_worker_loses_only_what_it_held():
    results, lost = [], []
    workers.run_in_pool(exit_on_three, range(1, 9), (), 2, results.append, lost.append)
    assert 3 in lost and len(lost) <= 4  # whatever was in flight in the broken pool
    assert sorted(results + [2 * item for item in lost]) == [2 * i for i in range(1, 9)]


# --- options, Codec, api additions ---------------------------------------------------------


@pytest.mark.parametrize("rate", [0.0, -1, 1.5, math.nan, "1", True, None])
def test_bad_rates_are_refused(rate):
    with pytest.raises(BadOption):
        Options(rate=rate)


def test_devices(jpeg_bytes):
    with pytest.raises(BadOption, match="device"):
        jpegzip.compress(jpeg_bytes, device="tpu")
    import torch

    devices = ("auto", "cpu") + (("cuda",) if torch.cuda.is_available() else ())
    for device in devices:
        assert jpegzip.decompress(jpegzip.compress(jpeg_bytes, device=device)) == jpeg_bytes
    if not torch.cuda.is_available():
        with pytest.raises(BadOption, match="no CUDA device"):
            jpegzip.compress(jpeg_bytes, device="cuda")


def test_codec_pickles_by_options_and_serves_threads(make_jpeg):
    codec = pickle.loads(pickle.dumps(jpegzip.Codec(device="cpu")))
    assert repr(codec) == "Codec(rate=1.0, device='cpu', level=2)"
    originals = [make_jpeg(seed=seed, progressive=seed % 2 == 0) for seed in range(12)]
    with ThreadPoolExecutor(4) as pool:
        packed = list(pool.map(codec.compress, originals))
        restored = list(pool.map(codec.decompress, packed))
    assert restored == originals


def test_codec_file_helpers(tmp_path, jpeg_bytes):
    codec = jpegzip.Codec()
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes)
    result = codec.compress_file(tmp_path / "a.jpg", tmp_path / "a.jrz")
    codec.decompress_file(tmp_path / "a.jrz", tmp_path / "b.jpg")
    assert (tmp_path / "b.jpg").read_bytes() == jpeg_bytes
    assert result.original_sha256 == container.sha256(jpeg_bytes)


def test_verify_and_check_written(tmp_path, jpeg_bytes, make_jpeg):
    packed = api.compress(jpeg_bytes)
    assert api.verify(packed, jpeg_bytes).bytes_out == len(jpeg_bytes)
    with pytest.raises(VerificationFailed, match="other bytes"):
        api.verify(packed, make_jpeg(seed=5))
    (tmp_path / "a.jrz").write_bytes(packed)
    api.check_written(tmp_path / "a.jrz", container.sha256(jpeg_bytes), is_jrz=True)
    with pytest.raises(VerificationFailed):
        api.check_written(tmp_path / "a.jrz", bytes(32), is_jrz=True)


def test_save_is_atomic_and_refuses_to_overwrite(tmp_path):
    api.save(tmp_path / "a.jrz", b"one")
    with pytest.raises(jpegzip.JpegzipError, match="exists"):
        api.save(tmp_path / "a.jrz", b"two")
    api.save(tmp_path / "a.jrz", b"two", force=True)
    assert files_under(tmp_path) == ["a.jrz"] and (tmp_path / "a.jrz").read_bytes() == b"two"


# --- inspect -------------------------------------------------------------------------------


def photo_with_metadata() -> bytes:
    """A JPEG with JFIF, Exif, ICC, XMP and a comment, and two bytes after EOI."""
    image = Image.new("RGB", (40, 24), (90, 140, 200))
    buffer = io.BytesIO()
    image.save(
        buffer,
        "JPEG",
        quality=80,
        exif=b"Exif\0\0MM\0*",
        icc_profile=b"\0" * 64,
        comment=b"hello",
        progressive=True,
    )
    data = buffer.getvalue()
    xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>"
    segment = b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp
    return data[:2] + segment + data[2:] + b"\0\0"


def test_metadata_kinds_in_file_order():
    kinds = [segment.kind for segment in read_metadata(photo_with_metadata()).segments]
    assert kinds[0] == "XMP" and {"JFIF", "Exif", "ICC", "comment"} <= set(kinds)
    assert read_metadata(photo_with_metadata()).trailing_bytes == 2
    with pytest.raises(NotJpegError):
        read_metadata(b"GIF89a")


@pytest.mark.parametrize("fake_model", [False, True], ids=["real-codec", "fake-lossless-codec"])
def test_inspect_reports_the_image_and_its_metadata(request, fake_model):
    if fake_model:  # a fake model whose "raw" section holds the whole JPEG, as header bytes
        request.getfixturevalue("fake_lossless_codec")(
            encode=lambda jpeg, *options: {"raw": zstandard.compress(jpeg)},
            decode=lambda sections, *options: zstandard.decompress(sections["raw"]),
        )
    original = photo_with_metadata()
    packed, result = api.compress_with_result(original)
    facts = inspect(packed)
    assert facts["mode"] == result.mode  # the real codec may code the file or store it
    assert (facts["model_id"] is None) == (result.mode == "stored")
    if result.mode == "lossless":  # the fake codec's model is not a shipped one
        assert facts["model_name"] == (None if fake_model else "learned-v2")
        assert facts["level"] == (None if fake_model else 2)
    assert facts["original_size"] == len(original)
    assert container.sha256(original).hex().startswith(facts["original_sha256"])
    assert len(facts["original_sha256"]) == 2 * container.DIGEST_LENGTH
    assert facts["suffix"] is None
    image = facts["image"]
    assert (image["width"], image["height"], image["progressive"]) == (40, 24, True)
    assert (image["components"], image["subsampling"]) == (3, "4:2:0")
    assert {"XMP", "JFIF", "Exif", "ICC", "comment"} == {m["kind"] for m in facts["metadata"]}
    assert facts["trailing_bytes"] == 2 and facts["lossy"] is None
    json.dumps(facts)


def test_inspect_of_an_unreadable_header_says_why(make_jpeg):
    arithmetic = make_jpeg().replace(b"\xff\xc0", b"\xff\xc9", 1)  # SOF9: stored whole
    facts = inspect(api.compress(arithmetic))
    assert facts["mode"] == "stored" and facts["image"] is None
    assert "arithmetic" in facts["image_note"]
    gray = inspect(api.compress(make_jpeg(mode="L")))["image"]
    assert (gray["components"], gray["subsampling"]) == (1, "grayscale")
