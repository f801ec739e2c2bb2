"""The client side of a cluster job: list the files, plan, hand groups of files to Dask,
gather their records into the batch's report and the manifest.

Groups go out in a window of a few per worker thread rather than all at once, so a job of
millions of files never holds them all in the scheduler, and the window follows workers
that join or leave (an adaptive or HPC cluster). The engine knows nothing of the command
line; it returns a ``jpegzip.batch.Report`` like the local batch, and the same display shows
it.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import dask
from distributed import Client, KilledWorker, LocalCluster, as_completed

from ..batch import JRZ_SUFFIX, Outcome, Report, default_jobs
from ..errors import OutputExists, WorkerDied
from ..options import DEFAULT, Options
from . import manifest
from .manifest import ALREADY_DONE, MANIFEST_NAME, PARTS_FOLDER, FileRecord
from .storage import TEMPORARY, Location
from .tasks import CodecPlugin, Job, convert_group

if TYPE_CHECKING:
    from distributed import Future

# Tasks per worker thread for the automatic group size: enough to balance the load at the
# end of a job; the cap bounds the work a dying worker takes with it.
TASKS_PER_THREAD = 8
MAX_FILES_PER_TASK = 64
# Groups in flight per worker thread: one running, the next ones ready.
WINDOW_PER_THREAD = 4
# Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which sends every large array
# to mmap and back: about 10 % more time per file here. jpegzip's peak repeats file after
# file, so the LocalCluster it starts keeps glibc's adaptive default (docs/CLUSTER.md).
LOCAL_WORKERS = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


@dataclass(frozen=True)
class Item:
    """A source file to convert. ``source`` is its name in messages (what the progress
    display keys on); ``resumed`` is its manifest record when that proves it done."""

    relative: str
    size: int
    source: str
    resumed: FileRecord | None = None


@dataclass(frozen=True)
class Plan:
    """What a run will do: every input file, and the ones that failed before any work.
    Shaped like ``jpegzip.batch.Plan`` (``tasks``, ``problems``) for the progress display."""

    job: Job
    tasks: list[Item]
    problems: list[FileRecord]


@contextlib.contextmanager
def connect(
    address: str | None = None, scheduler_file: str | None = None, workers: int | None = None
) -> Iterator[Client]:
    """A client of the scheduler at ``address`` (or named in ``scheduler_file``, as
    dask-jobqueue and dask-mpi write it); without either, of a LocalCluster started here
    (``workers`` single-threaded processes, default one per core) and closed after."""
    if address or scheduler_file:
        with Client(address, scheduler_file=scheduler_file) as client:
            yield client
        return
    with warnings.catch_warnings(), dask.config.set(LOCAL_WORKERS):
        warnings.filterwarnings("ignore", message="Port .* is already in use")  # we show it
        local = LocalCluster(n_workers=workers or default_jobs(), threads_per_worker=1)
    with local, Client(local) as client:
        yield client


def new_job(
    source: str,
    destination: str,
    compressing: bool,
    options: Options = DEFAULT,
    force: bool = False,
    storage_options: dict | None = None,
) -> Job:
    """A job from two fsspec URLs (folders); ``storage_options`` go to both file systems."""
    extra = storage_options or {}
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    return Job(
        Location.open(source, **extra),
        Location.open(destination, **extra),
        compressing,
        run_id,
        options,
        force,
    )


def plan(job: Job, recheck: bool = False) -> Plan:
    """List the source and destination and read the manifest. A file the manifest proves
    converted is not looked at again unless ``recheck`` (or ``force``)."""
    if not job.source.fs.isdir(job.source.root or "/"):
        raise FileNotFoundError(2, "no such folder", job.source.url)
    sources = job.source.files()
    trust = not (job.force or recheck)
    outputs = job.destination.files() if trust else {}
    records = manifest.load(job.destination) if trust else {}
    items: list[Item] = []
    problems: list[FileRecord] = []
    owners: dict[str, str] = {}  # output -> the source that claimed it
    for relative in sorted(sources):
        if not is_input(relative, job.compressing):
            continue
        size, target = sources[relative], job.output_name(relative)
        shown = job.source.show(relative)
        owner = owners.setdefault(target, relative)
        if owner != relative:
            error = OutputExists(f"{job.destination.show(target)} is also the output of {owner}")
            problems.append(FileRecord.failed(relative, size, target, error, shown))
            continue
        record = records.get(relative)
        trusted = record is not None and record.trusted(size, outputs, job.lossy_target)
        resumed = record if trusted else None
        items.append(Item(relative, size, shown, resumed))
    return Plan(job, items, problems)


def is_input(relative: str, compressing: bool) -> bool:
    """Compressing takes every file but .jrz (earlier outputs); decompressing takes only
    .jrz. Never the manifest or temporary files, wherever they are."""
    parts = relative.split("/")
    if parts[-1] == MANIFEST_NAME or PARTS_FOLDER in parts or TEMPORARY.match(parts[-1]):
        return False
    return parts[-1].lower().endswith(JRZ_SUFFIX) != compressing


def run(
    plan: Plan,
    client: Client,
    on_outcome: Callable[[Outcome], None] | None = None,
    files_per_task: int | None = None,
) -> Report:
    """Convert every planned file on the cluster; ``on_outcome`` sees each outcome as it
    arrives. An interrupt cancels what is left and returns the report so far, marked
    ``interrupted``; a finished run writes the manifest and removes stale temporary files."""
    job = plan.job
    report = Report(job.compressing, len(plan.tasks) + len(plan.problems))
    records: list[FileRecord] = []
    started = time.perf_counter()

    def record(item: FileRecord) -> None:
        records.append(item)
        outcome = item.to_outcome(job.source, job.destination)
        report.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    try:
        for problem in plan.problems:
            record(problem)
        for item in plan.tasks:
            if item.resumed is not None:
                record(_resumed(item.resumed))
        pending = [item for item in plan.tasks if item.resumed is None]
        if pending:
            client.register_plugin(CodecPlugin(job.options))
            size = files_per_task or auto_files_per_task(len(pending), _threads(client))
            groups = [pending[start : start + size] for start in range(0, len(pending), size)]
            _run_groups(client, job, groups, record)
    except KeyboardInterrupt:
        report.interrupted = True
    report.seconds = time.perf_counter() - started
    if not report.interrupted:
        manifest.finish(job.destination, records)
        job.destination.remove_temporaries()
    return report


def auto_files_per_task(files: int, threads: int) -> int:
    """A group size that gives each worker thread several tasks, within 1..64 files."""
    return max(1, min(MAX_FILES_PER_TASK, math.ceil(files / (TASKS_PER_THREAD * threads))))


def _run_groups(
    client: Client, job: Job, groups: list[list[Item]], record: Callable[[FileRecord], None]
) -> None:
    queue = iter(enumerate(groups))
    held: dict[Future, list[Item]] = {}
    finished = as_completed()

    def submit(count: int) -> None:
        for index, group in itertools.islice(queue, max(count, 0)):
            part = f"{job.run_id}-{index:06d}"
            items = [(item.relative, item.size) for item in group]
            future = client.submit(convert_group, job, items, part, key=f"jpegzip-{part}")
            held[future] = group
            finished.add(future)

    try:
        submit(WINDOW_PER_THREAD * _threads(client))
        for future in finished:
            group = held.pop(future)
            for item in _gather(future, group, job):
                record(item)
            future.release()
            submit(WINDOW_PER_THREAD * _threads(client) - len(held))
    except BaseException:
        client.cancel(list(held))
        raise


def _gather(future: Future, group: list[Item], job: Job) -> list[FileRecord]:
    """A task's records; for a task that died with its worker (or failed outside the
    per-file guard, a bug), a failed record for each of its files."""
    trace = None
    try:
        return future.result()
    except KilledWorker:
        error: Exception = WorkerDied(
            "the worker died while it held this file (killed, or out of memory?)"
        )
    except Exception as failure:  # a bug: it becomes a record per file, never lost
        error, trace = failure, traceback.format_exc()
    return [
        FileRecord.failed(
            item.relative, item.size, job.output_name(item.relative), error, item.source, trace
        )
        for item in group
    ]


def _resumed(record: FileRecord) -> FileRecord:
    return replace(
        record, reason=ALREADY_DONE, seconds=0.0, message="output exists and verifies (manifest)"
    )


def _threads(client: Client) -> int:
    return max(1, sum(client.nthreads().values()))
