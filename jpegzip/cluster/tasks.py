"""What runs on a Dask worker: a plugin that loads the model once, and a task that converts
a group of files.

A task is many files, so that scheduling costs nothing next to the coding and each task's
manifest part is not a file per file. Every file is converted like one of the local batch:
read whole, skipped if not a JPEG, skipped if its output exists and verifies, converted
through a ``Codec`` (which verifies before it returns), written atomically under its final
name. A task may run twice (Dask reruns the tasks of a worker that died); the second run
finds the first one's outputs verified and skips them, so every output is written once.
"""

from __future__ import annotations

import functools
import time
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import PurePosixPath

from distributed import WorkerPlugin

from .. import api, container
from ..batch import JPEG_SUFFIX, JRZ_SUFFIX, Status
from ..errors import JpegzipError, OutputExists
from ..options import DEFAULT, Options
from . import manifest
from .manifest import ALREADY_DONE, FileRecord
from .storage import Location


@dataclass(frozen=True)
class Job:
    """One cluster job: from where to where, which way, how. Sent with every task."""

    source: Location
    destination: Location
    compressing: bool
    run_id: str
    options: Options = DEFAULT
    force: bool = False

    def output_name(self, relative: str) -> str:
        """The output's name in the destination: the source's, with the new suffix."""
        suffix = JRZ_SUFFIX if self.compressing else JPEG_SUFFIX
        return str(PurePosixPath(relative).with_suffix(suffix))

    @property
    def lossy_target(self) -> str | None:
        """The lossy target as the manifest records it ("rate 0.9"); None for lossless."""
        target = self.options.target
        return None if target is None else f"{target.kind} {target.value!r}"


class CodecPlugin(WorkerPlugin):
    """Loads the model when a worker starts (or restarts), before its first task."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.name = f"jpegzip-codec-{options}"

    def setup(self, worker: object) -> None:
        codec_for(self.options)


@functools.lru_cache(maxsize=4)
def codec_for(options: Options) -> api.Codec:
    """One loaded codec per process and options, shared by every task it runs."""
    return api.Codec(**asdict(options)).load()


def convert_group(job: Job, items: list[tuple[str, int]], part: str) -> list[FileRecord]:
    """Convert ``(relative source, size)`` items; write their manifest part; return them."""
    codec = codec_for(job.options)
    records = [convert_one(job, codec, relative, size) for relative, size in items]
    try:
        manifest.write_part(job.destination, part, records)
    except (JpegzipError, OSError):
        pass  # the client still gets the records and writes them into the manifest
    return records


def convert_one(job: Job, codec: api.Codec, relative: str, size: int) -> FileRecord:
    """Convert one file and say what happened; only an interrupt (or exit) escapes."""
    started = time.perf_counter()
    target = job.output_name(relative)
    shown = job.source.show(relative)
    try:
        record = _convert(job, codec, relative, target)
    except (JpegzipError, OSError) as error:
        record = FileRecord.failed(relative, size, target, error, shown)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # a bug (or a foreign panic): record it and go on
        record = FileRecord.failed(relative, size, target, error, shown, traceback.format_exc())
    return replace(record, seconds=round(time.perf_counter() - started, 4))


def _convert(job: Job, codec: api.Codec, relative: str, target: str) -> FileRecord:
    data = job.source.read(relative, job.options)
    digest = container.sha256(data).hex()
    found = FileRecord(relative, len(data), "", target, digest, lossy_target=job.lossy_target)
    if job.compressing and not data.startswith(api.START_OF_IMAGE):
        return replace(
            found,
            status=Status.SKIPPED.value,
            destination=None,
            reason="not-jpeg",
            message="not a JPEG",
        )
    if not job.force:
        existing = _verified_output(job, target, data)
        if existing is not None:
            return _already_done(job, found, *existing)
    if job.compressing:
        output, result = codec.compress_with_result(data)
    else:
        output, result = api.decompress_with_result(data, codec.options)
    try:
        job.destination.write(target, output, job.force)
    except OutputExists:  # another run of this task got there first: fine if it verifies
        existing = _verified_output(job, target, data)
        if existing is None:
            raise
        return _already_done(job, found, *existing)
    return replace(
        found,
        status=_status(job, result.mode),
        output_size=len(output),
        mode=result.mode,
        reason=result.stored_reason,
        lossy=result.lossy.summary(len(output)) if result.lossy else None,
        note=result.note,
    )


def _verified_output(job: Job, target: str, data: bytes) -> tuple[str, int] | None:
    """The mode and size of an output that is already there and is what this job makes of
    the source; None when there is none. Raises OutputExists when one is there but does
    not verify (``--force`` replaces it)."""
    parsed = None if job.compressing else container.read(data)  # the source .jrz's header
    try:
        output = job.destination.read(target, job.options)
    except FileNotFoundError:
        return None
    try:
        if parsed is None:
            mode = _compressed_from(job, output, data)
        elif container.digest_matches(parsed.original_sha256, output):
            mode = parsed.mode.value
        else:
            raise OutputExists("it is not the original")
    except JpegzipError as error:
        message = f"{job.destination.show(target)} already exists and does not verify"
        raise OutputExists(message) from error
    return mode, len(output)


def _compressed_from(job: Job, output: bytes, data: bytes) -> str:
    """The mode of a .jrz that compressing ``data`` for this job would keep: it decodes,
    with every check, to ``data``, or, with a lossy target, it is a lossy .jrz of ``data``
    for that target, or a lossless one that lossy mode cannot improve on (as the local
    batch decides). Raises a JpegzipError when it is not."""
    decoded, result = api.decompress_with_result(output, job.options)
    lossy = job.options.target
    if lossy is not None and api.lossy_made_for(output, container.sha256(data), lossy):
        return result.mode
    if decoded != data:
        raise OutputExists("it does not give the source back")
    if lossy is not None and codec_for(job.options).compress_with_result(data)[1].lossy:
        raise OutputExists(f"it is not lossy, and {job.lossy_target} makes a lossy .jrz of it")
    return result.mode


def _already_done(job: Job, found: FileRecord, mode: str, output_size: int) -> FileRecord:
    """An output a run found verified: the manifest's status says what it is (done or
    stored), the reason says that this run skipped it."""
    return replace(
        found,
        status=_status(job, mode),
        output_size=output_size,
        mode=mode,
        reason=ALREADY_DONE,
        message="output exists and verifies",
    )


def _status(job: Job, mode: str) -> str:
    """As in the local batch: "stored" for a JPEG that compressing stored whole."""
    return (Status.STORED if job.compressing and mode == "stored" else Status.DONE).value
