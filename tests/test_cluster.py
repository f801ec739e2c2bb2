"""Cluster jobs: a LocalCluster of two worker processes converts a tree both ways, keeps a
complete manifest, and survives a worker killed in the middle of a write; the fsspec path
(no atomic rename) on memory://; the command line."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

import cloudpickle  # noqa: E402  (comes with distributed)
import dask  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from jpegzip import api, cluster, container  # noqa: E402
from jpegzip.batch import Status  # noqa: E402
from jpegzip.cli import app  # noqa: E402
from jpegzip.cluster import FileRecord, Location, manifest, tasks  # noqa: E402
from jpegzip.errors import OutputExists  # noqa: E402
from jpegzip.options import DEFAULT, Options  # noqa: E402

JPEGS = 20
FAULT = "sub/img07.jpg"  # the file whose worker dies in the fault test
# The plugin below is sent to worker processes, which cannot import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes. A task whose worker dies fails at once
    (allowed-failures 0), and each worker holds only the task it runs (saturation 1.0),
    so a death takes exactly one task with it."""
    settings = {
        "distributed.scheduler.allowed-failures": 0,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with (
        dask.config.set(settings),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        ) as local,
        distributed.Client(local) as connected,
    ):
        yield connected


@pytest.fixture
def photos(tmp_path, make_jpeg) -> Path:
    """20 small JPEGs at two depths, and a text file that must be skipped."""
    root = tmp_path / "photos"
    for index in range(JPEGS):
        name = f"sub/img{index:02d}.jpg" if index % 2 else f"img{index:02d}.jpg"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(make_jpeg(40 + 8 * (index % 4), 32, seed=index))
    (root / "notes.txt").write_text("not a photo\n")
    return root


def compress(client, source: Path, destination: Path, **settings):
    job = cluster.new_job(str(source), str(destination), compressing=True)
    return cluster.run(cluster.plan(job), client, files_per_task=4, **settings)


def counts(report) -> dict:
    return {key: report.summary()[key] for key in ("done", "stored", "skipped", "failed")}


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def manifest_of(folder: Path) -> dict[str, dict]:
    lines = (folder / cluster.MANIFEST_NAME).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len({record["source"] for record in records}) == len(records)  # one per source
    return {record["source"]: record for record in records}


def jpegs(folder: Path) -> dict[str, bytes]:
    return {name: data for name, data in tree(folder).items() if name.endswith(".jpg")}


def test_round_trip_keeps_every_byte_and_a_complete_manifest(client, photos, tmp_path):
    archive, back = tmp_path / "archive", tmp_path / "back"

    report = compress(client, photos, archive)

    assert counts(report)["failed"] == 0 and report.summary()["skipped"] == 1
    assert report.count(Status.DONE) + report.count(Status.STORED) == JPEGS
    written = tree(archive)
    expected = {name[:-4] + ".jrz" for name in jpegs(photos)} | {cluster.MANIFEST_NAME}
    assert set(written) == expected  # no temporary files, no manifest parts
    records = manifest_of(archive)
    assert set(records) == set(jpegs(photos)) | {"notes.txt"}
    assert records["notes.txt"]["status"] == "skipped"
    for name, data in jpegs(photos).items():
        record = records[name]
        assert record["size"] == len(data)
        assert record["sha256"] == container.sha256(data).hex()
        assert record["output_size"] == len(written[record["destination"]])
        assert record["mode"] in ("lossless", "stored")
        assert record["status"] in ("done", "stored")

    job = cluster.new_job(str(archive), str(back), compressing=False)
    report = cluster.run(cluster.plan(job), client)

    assert counts(report) == {"done": JPEGS, "stored": 0, "skipped": 0, "failed": 0}
    assert jpegs(back) == jpegs(photos)
    assert len(manifest_of(back)) == JPEGS


def test_a_rerun_skips_what_the_manifest_proves_done(client, photos, tmp_path):
    archive = tmp_path / "archive"
    compress(client, photos, archive)
    before, records = tree(archive), manifest_of(archive)

    report = compress(client, photos, archive)

    assert counts(report) == {"done": 0, "stored": 0, "skipped": JPEGS + 1, "failed": 0}
    assert set(tree(archive)) == set(before)
    assert {name: data for name, data in tree(archive).items() if name.endswith(".jrz")} == {
        name: data for name, data in before.items() if name.endswith(".jrz")
    }
    again = manifest_of(archive)
    assert {name: again[name] for name in jpegs(photos)} == {
        name: records[name] for name in jpegs(photos)
    }  # the conversions' records are kept

    job = cluster.new_job(str(photos), str(archive), compressing=True)
    report = cluster.run(cluster.plan(job, recheck=True), client)  # decodes every output

    assert counts(report) == {"done": 0, "stored": 0, "skipped": JPEGS + 1, "failed": 0}
    assert {o.reason for o in report.outcomes} == {"already-done", "not-jpeg"}


def test_lossy_gives_the_command_s_bytes_and_a_rerun_resumes_per_target(
    client, tmp_path, make_jpeg
):
    photos, archive = tmp_path / "photos", tmp_path / "archive"
    photos.mkdir()
    for seed in range(2):
        (photos / f"p{seed}.jpg").write_bytes(make_jpeg(192, 128, seed=seed, quality=92))
    lossy = Options(rate=0.8)
    job = cluster.new_job(str(photos), str(archive), compressing=True, options=lossy)

    report = cluster.run(cluster.plan(job), client)

    assert counts(report) == {"done": 2, "stored": 0, "skipped": 0, "failed": 0}
    assert all(outcome.lossy["target"] == "rate" for outcome in report.outcomes)
    for name in ("p0", "p1"):  # what jpegzip compress --rate 0.8 writes
        api.compress_file(photos / f"{name}.jpg", tmp_path / f"{name}.jrz", options=lossy)
        assert (archive / f"{name}.jrz").read_bytes() == (tmp_path / f"{name}.jrz").read_bytes()
        assert container.read((archive / f"{name}.jrz").read_bytes()).mode.value == "lossy"
    assert {record["lossy_target"] for record in manifest_of(archive).values()} == {"rate 0.8"}

    again = cluster.run(cluster.plan(job, recheck=True), client)  # decodes both outputs
    assert counts(again) == {"done": 0, "stored": 0, "skipped": 2, "failed": 0}

    other = cluster.new_job(str(photos), str(archive), compressing=True, options=Options(rate=0.7))
    plan = cluster.plan(other)
    assert all(item.resumed is None for item in plan.tasks)  # made for another target
    failed = cluster.run(plan, client)
    assert {outcome.code for outcome in failed.outcomes} == {"output-exists"}


class KillWorkerOn(distributed.WorkerPlugin):
    """In every worker (restarted ones too): die while writing ``trigger``'s output,
    leaving a temporary file behind as a killed writer does."""

    name = "kill-worker-on"

    def __init__(self, trigger: str) -> None:
        self.trigger = trigger

    def setup(self, worker) -> None:
        from jpegzip.cluster import tasks as worker_tasks

        original, trigger = worker_tasks.convert_one, self.trigger

        def convert_one(job, codec, relative, size):
            if relative == trigger:
                target = Path(job.destination.path(job.output_name(relative)))
                target.parent.mkdir(parents=True, exist_ok=True)
                (target.parent / f".{target.name}.k1ll3d.tmp").write_bytes(b"half a file")
                os._exit(1)
            return original(job, codec, relative, size)

        self.original = original
        worker_tasks.convert_one = convert_one

    def teardown(self, worker) -> None:
        from jpegzip.cluster import tasks as worker_tasks

        worker_tasks.convert_one = self.original


def test_a_killed_worker_fails_its_files_and_a_rerun_completes_them(client, photos, tmp_path):
    archive = tmp_path / "archive"
    client.register_plugin(KillWorkerOn(FAULT))
    try:
        report = compress(client, photos, archive)
    finally:
        client.unregister_worker_plugin(KillWorkerOn.name)

    failed = [o for o in report.outcomes if o.status is Status.FAILED]
    assert failed and {o.code for o in failed} == {"worker-died"}
    assert str(photos / FAULT) in {o.source for o in failed}
    assert not report.interrupted
    assert not any(name.endswith(".tmp") for name in tree(archive))  # the stale one is gone
    assert len(manifest_of(archive)) == JPEGS + 1  # the failed files are recorded too

    client.wait_for_workers(2, timeout=60)
    report = compress(client, photos, archive)

    assert counts(report)["failed"] == 0
    assert sum(counts(report).values()) == JPEGS + 1
    written = tree(archive)
    expected = {name[:-4] + ".jrz" for name in jpegs(photos)} | {cluster.MANIFEST_NAME}
    assert set(written) == expected  # every output exactly once, nothing partial
    for name, data in jpegs(photos).items():
        assert api.decompress(written[name[:-4] + ".jrz"]) == data
    records = manifest_of(archive)
    assert all(records[name]["status"] in ("done", "stored") for name in jpegs(photos))


# --- without a cluster: the fsspec path, the manifest's rules -------------------------------


def test_a_task_on_an_fsspec_store_writes_through_a_temporary_name(make_jpeg):
    store = Location.open("memory://cluster-test/photos")
    store.fs.pipe(store.path("a.jpg"), make_jpeg(seed=1))
    store.fs.pipe(store.path("deep/b.jpg"), make_jpeg(seed=2))
    job = cluster.new_job("memory://cluster-test/photos", "memory://cluster-test/out", True)
    items = [("a.jpg", 0), ("deep/b.jpg", 0)]
    try:
        records = tasks.convert_group(job, items, "part-1")
        assert {r.status for r in records} <= {"done", "stored"}
        outputs = job.destination.files()
        assert set(outputs) == {"a.jrz", "deep/b.jrz", f"{cluster.PARTS_FOLDER}/part-1.jsonl"}
        assert api.decompress(job.destination.read("a.jrz", DEFAULT)) == make_jpeg(seed=1)
        with pytest.raises(OutputExists):
            job.destination.write("a.jrz", b"other", force=False)

        again = tasks.convert_group(job, items, "part-2")  # a task run twice

        assert {r.reason for r in again} == {"already-done"}
        manifest.finish(job.destination, again)
        assert set(manifest.load(job.destination)) == {"a.jpg", "deep/b.jpg"}
        assert manifest.load(job.destination)["a.jpg"].status in ("done", "stored")
        assert set(job.destination.files()) == {"a.jrz", "deep/b.jrz", cluster.MANIFEST_NAME}
    finally:
        store.fs.rm("/cluster-test", recursive=True)


def test_only_sources_are_inputs():
    assert cluster.is_input("a/b.JPG", compressing=True)
    assert not cluster.is_input("a/b.jrz", compressing=True)
    assert cluster.is_input("a/b.jrz", compressing=False)
    assert not cluster.is_input("a/.b.jrz.x1y2.tmp", compressing=False)
    assert not cluster.is_input(f"archive/{cluster.MANIFEST_NAME}", compressing=True)
    assert not cluster.is_input(f"{cluster.PARTS_FOLDER}/run-000001.jsonl", compressing=True)


def test_a_rerun_that_finds_outputs_keeps_the_record_of_their_conversion():
    done = FileRecord("a.jpg", 10, "done", "a.jrz", "ab", 8, "lossless")
    again = FileRecord("a.jpg", 10, "done", "a.jrz", "ab", 8, "lossless", "already-done")
    failed = FileRecord("a.jpg", 10, "failed", "a.jrz", code="worker-died")
    state: dict[str, FileRecord] = {}
    manifest.merge(state, [done, again])
    assert state["a.jpg"] == done
    manifest.merge(state, [failed, again])
    assert state["a.jpg"] == again
    assert done.trusted(10, {"a.jrz": 8}, None)
    assert not done.trusted(11, {"a.jrz": 8}, None) and not done.trusted(10, {"a.jrz": 7}, None)
    assert not done.trusted(10, {"a.jrz": 8}, "rate 0.8")  # made lossless, not for 0.8
    assert cluster.auto_files_per_task(200, 2) == 13
    assert cluster.auto_files_per_task(10**7, 1000) == 64


# --- the command line -------------------------------------------------------------------------


def test_the_command_converts_on_a_given_scheduler(client, photos, tmp_path):
    archive = tmp_path / "archive"
    arguments = [
        "cluster",
        "compress",
        str(photos),
        str(archive),
        "--json",
        "-q",
        "--scheduler",
        client.scheduler.address,
        "--files-per-task",
        "5",
    ]

    result = CliRunner().invoke(app, arguments)

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["summary"]["failed"] == 0 and answer["summary"]["skipped"] == 1
    assert answer["exit_status"] == 0 and len(answer["files"]) == JPEGS + 1


def test_the_command_s_limits_reach_the_workers(client, photos, tmp_path):
    arguments = ["cluster", "compress", str(photos), str(tmp_path / "archive"), "--json", "-q",
                 "--scheduler", client.scheduler.address, "--max-input-size", "100"]  # fmt: skip

    result = CliRunner().invoke(app, arguments)

    assert result.exit_code == 1, result.output
    answer = json.loads(result.stdout)
    assert answer["summary"]["failed"] == JPEGS and answer["summary"]["skipped"] == 1
    assert {f["code"] for f in answer["files"] if f["status"] == "failed"} == {"limit-exceeded"}
    assert "(raise it with --max-input-size) [limit-exceeded]" in result.stderr


@pytest.mark.parametrize(
    "arguments, status, text",
    [
        (["--rate", "0.5", "--psnr", "40"], 2, "one lossy target"),
        (["--device", "tpu"], 2, "device"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], 2, "LocalCluster"),
    ],
)
def test_bad_usage_exits_2(tmp_path, arguments, status, text):
    result = CliRunner().invoke(
        app, ["cluster", "compress", str(tmp_path), str(tmp_path / "out"), *arguments]
    )
    assert result.exit_code == status
    assert text in result.output


def test_a_missing_source_is_one_line_and_exit_1(tmp_path):
    result = CliRunner().invoke(
        app, ["cluster", "compress", str(tmp_path / "nowhere"), str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    assert result.output.strip().endswith("no such folder [io-error]")
    assert len(result.output.strip().splitlines()) == 1


def test_the_command_line_does_not_import_dask():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from jpegzip.cli import app\n"
        "for args in (['--help'], ['cluster', '--help'], ['cluster', 'compress', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed',"
        " 'fsspec')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
