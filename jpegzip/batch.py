"""Many files: walk the inputs, plan the outputs, convert in worker processes, report.

``plan`` turns command-line inputs (files, globs, folders) into tasks, each with its output
path: next to the input, or mirrored under an output folder. A .jrz keeps its original's
suffix (photo.JPEG -> photo.jrz -> photo.JPEG); where two inputs would share a .jrz name
(a.jpg and a.jpeg), each keeps its whole name instead (a.jpg.jrz, a.jpeg.jrz). ``run``
converts them in-process or in a pool of worker processes that each load the model once,
and records one ``Outcome`` per file; one bad file never stops the batch. An interrupt
(KeyboardInterrupt, which the CLI also raises for SIGTERM) stops the workers, whose atomic
writes leave no partial file, and ``run`` returns the report so far, marked
``interrupted``. Exit statuses are the CLI's job.
"""

from __future__ import annotations

import enum
import errno
import glob
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from . import api
from .errors import BadOption, JpegzipError, OutputExists, WorkerDied
from .inspection import savings_percent
from .options import DEFAULT, LOSSLESS_RATE, Options, available_cores
from .workers import run_in_pool

JRZ_SUFFIX = ".jrz"
JPEG_SUFFIX = api.JPEG_SUFFIX  # a decompressed file's suffix where its .jrz recorded none
_GLOB_CHARACTERS = frozenset("*?[")
INTERNAL_ERROR = "internal-error"  # the code of a bug, and how a stored reason starts


class Status(str, enum.Enum):
    """What happened to one file. Skipped is not failed: a batch with skips succeeds."""

    DONE = "done"
    STORED = "stored"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class Task:
    """One file to convert. ``explicit``: named by the user, so a non-JPEG is a failure (a
    file found in a folder is skipped instead). ``make_folder``: the output's folder is ours
    to create (a mirrored tree under ``-o``)."""

    source: Path
    destination: Path
    size: int
    explicit: bool = True
    make_folder: bool = False


@dataclass(frozen=True)
class Outcome:
    """The record of one file. ``reason``: why it was stored or skipped; ``code`` and
    ``message``: why it failed (or, for a skip, a short note); ``trace``: a bug's traceback."""

    source: str
    destination: str | None
    status: Status
    mode: str | None = None
    reason: str | None = None
    code: str | None = None
    message: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    trace: str | None = field(default=None, repr=False)
    lossy: dict[str, Any] | None = None  # a lossy compress: fraction of lossless, bpp, PSNR
    note: str | None = None  # why a lossy target gave a lossless .jrz

    @classmethod
    def converted(
        cls, source: str, destination: str, result: api.Result, compressing: bool
    ) -> Outcome:
        """A file that went through: stored if compressing fell back to storing it."""
        status = Status.STORED if compressing and result.mode == "stored" else Status.DONE
        return cls(
            source,
            destination,
            status,
            mode=result.mode,
            reason=result.stored_reason,
            bytes_in=result.bytes_in,
            bytes_out=result.bytes_out,
            lossy=result.lossy.summary(result.bytes_out) if compressing and result.lossy else None,
            note=result.note,
        )

    @classmethod
    def failed(
        cls,
        source: str | Path,
        destination: str | Path | None,
        error: BaseException,
        trace: str | None = None,
    ) -> Outcome:
        """A file that failed, with the error's stable code and a one-line message."""
        code, message = describe_error(error, source)
        target = None if destination is None else str(destination)
        return cls(str(source), target, Status.FAILED, code=code, message=message, trace=trace)

    @property
    def internal_error(self) -> bool:
        """Whether a bug in jpegzip met this file: it failed with one (and was left as it
        was), or was stored whole after one (``stored (internal-error: ...)``)."""
        return self.code == INTERNAL_ERROR or (self.reason or "").startswith(INTERNAL_ERROR)

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["status"] = self.status.value
        del record["trace"]
        return record


@dataclass(frozen=True)
class Plan:
    """The tasks to run, and the inputs that failed before any work (missing, collisions)."""

    tasks: list[Task]
    problems: list[Outcome]


@dataclass(frozen=True)
class Settings:
    """How to run a batch. ``jobs`` worker processes (1: in this process); ``remove_source``:
    delete each source once its output is written, synced and verified from disk."""

    compressing: bool
    force: bool = False
    remove_source: bool = False
    jobs: int = 1
    options: Options = DEFAULT

    def __post_init__(self) -> None:
        if self.remove_source and self.compressing and self.options.target is not None:
            raise BadOption(
                "removing sources with a lossy target would delete originals that the "
                ".jrz files cannot give back"
            )


@dataclass
class Report:
    """Every outcome of a batch, in completion order, and the totals derived from them."""

    compressing: bool
    planned: int
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def count(self, status: Status) -> int:
        return sum(outcome.status is status for outcome in self.outcomes)

    def _converted(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in (Status.DONE, Status.STORED)]

    @property
    def bytes_in(self) -> int:
        return sum(outcome.bytes_in for outcome in self._converted())

    @property
    def bytes_out(self) -> int:
        return sum(outcome.bytes_out for outcome in self._converted())

    def summary(self) -> dict[str, Any]:
        """The totals: counts per status, of internal errors (files stored or failed after
        one), bytes in and out, savings against the JPEGs, time."""
        jpeg, jrz = (self.bytes_in, self.bytes_out)[:: 1 if self.compressing else -1]
        return {
            "files": self.planned,
            **{status.value: self.count(status) for status in Status},
            "internal_errors": sum(outcome.internal_error for outcome in self.outcomes),
            "not_started": self.planned - len(self.outcomes),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "savings_percent": savings_percent(jpeg, jrz),
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "command": "compress" if self.compressing else "decompress",
            "summary": self.summary(),
            "files": [outcome.to_json() for outcome in self.outcomes],
        }


def default_jobs() -> int:
    """One worker per core this process may use."""
    return available_cores()


def _share_cores(settings: Settings, workers: int) -> Settings:
    """Workers in parallel and the threads inside each file share the cores: each worker
    gets its share, unless the options name a thread count."""
    if workers <= 1 or settings.options.threads:
        return settings
    threads = max(1, available_cores() // workers)
    return replace(settings, options=replace(settings.options, threads=threads))


# --- planning ------------------------------------------------------------------------------


def plan(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike | None,
    recursive: bool,
    compressing: bool,
) -> Plan:
    """Tasks for every input: files as named, globs expanded, folders walked with ``recursive``.

    With ``output`` a folder (existing, ending in a separator, or needed for several files or
    a folder), outputs go there: flat for named files, mirroring the tree for walked folders.
    A file reached twice is converted once. Compressing, sources that would share an output
    name (a.jpg, a.jpeg) each get their whole name plus .jrz (a.jpg.jrz, a.jpeg.jrz);
    outputs that still coincide are a failure for every source but the first. Raises
    BadOption when ``output`` cannot serve (a file for several inputs).
    """
    found: list[tuple[Path, Path | None]] = []  # (file, the folder it was found in)
    problems: list[Outcome] = []
    for text in _expand_globs(inputs, problems):
        path = Path(text)
        if not path.is_dir():
            found.append((path, None))
        elif recursive:
            found += ((file, path) for file in _walk(path, compressing))
        else:
            error = IsADirectoryError(errno.EISDIR, "is a folder (add -r to convert its files)")
            problems.append(Outcome.failed(path, None, error))
    folder = _output_folder(output, found)
    target = None if output is None else Path(output)
    unique: dict[Path, tuple[Path, Path | None]] = {}
    for source, root in found:
        unique.setdefault(_identity(source), (source, root))
    names = {source: _output_name(source, compressing) for source, _ in unique.values()}
    wanted = [_destination(source, root, target, folder, names[source])
              for source, root in unique.values()]
    if compressing and (folder or target is None):
        shared = {path for path in wanted if wanted.count(path) > 1}
        wanted = [_destination(source, root, target, folder, source.name + JRZ_SUFFIX)
                  if path in shared else path
                  for (source, root), path in zip(unique.values(), wanted, strict=True)]
    tasks: list[Task] = []
    owners: dict[Path, Path] = {}  # destination -> the source that claimed it
    for (source, root), destination in zip(unique.values(), wanted, strict=True):
        owner = owners.setdefault(destination, source)
        if owner is not source:
            error = OutputExists(f"{destination} is also the output of {owner}")
            problems.append(Outcome.failed(source, destination, error))
            continue
        tasks.append(Task(source, destination, _size(source), root is None, folder))
    return Plan(tasks, problems)


def _expand_globs(inputs: Sequence[str | os.PathLike], problems: list[Outcome]) -> Iterator[str]:
    """Inputs as given, patterns expanded (for shells that do not, and for quoted ``**``)."""
    for item in map(str, inputs):
        if os.path.lexists(item) or not _GLOB_CHARACTERS & set(item):
            yield item
            continue
        matches = sorted(glob.glob(item, recursive=True))
        if not matches:
            error = FileNotFoundError(errno.ENOENT, "no file matches this pattern")
            problems.append(Outcome.failed(Path(item), None, error))
        yield from matches


def _walk(root: Path, compressing: bool) -> Iterator[Path]:
    """Files under ``root`` in a stable order. Compressing ignores .jrz files (earlier
    outputs); decompressing takes only .jrz files (originals beside them are not inputs).
    Temporary files a killed jpegzip left (``.<name>.<random>.tmp``) are never inputs."""
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            if name.startswith(".") and name.endswith(".tmp"):
                continue
            if name.lower().endswith(JRZ_SUFFIX) != compressing:
                yield Path(folder, name)


def _output_folder(output: str | os.PathLike | None, found: list[tuple[Path, Path | None]]) -> bool:
    if output is None:
        return False
    if str(output).endswith(("/", os.sep)):
        return True
    output = Path(output)
    if output.is_dir():
        return True
    if any(root is not None for _, root in found) or len(found) > 1:
        if output.exists():
            raise BadOption(f"{output} is a file; it must be a folder for several inputs")
        if len(found) > 1 and all(root is None for _, root in found):
            raise BadOption(
                "must be an existing folder when several files are given "
                "(or end it with / to create it)"
            )
        return True
    return False


def _output_name(source: Path, compressing: bool) -> str:
    """The output's file name beside ``source``: photo.JPEG -> photo.jrz; photo.jrz ->
    photo and the suffix its .jrz recorded (photo.JPEG), or .jpg; a.jpeg.jrz -> a.jpeg."""
    if compressing:
        return source.stem + JRZ_SUFFIX
    suffix = api.original_suffix(source)
    return source.stem if Path(source.stem).suffix == suffix else source.stem + suffix


def _destination(
    source: Path, root: Path | None, output: Path | None, folder: bool, name: str
) -> Path:
    if output is None:
        return source.with_name(name)
    if not folder:
        return output
    relative = source.relative_to(root) if root is not None else Path(source.name)
    return output / relative.with_name(name)


def _identity(path: Path) -> Path:
    """The same file however it was named (relative, absolute, through a link)."""
    try:
        return path.resolve()
    except OSError:
        return path


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the conversion reports the real error


# --- one file ------------------------------------------------------------------------------


def convert_one(task: Task, settings: Settings) -> Outcome:
    """Convert one file and say what happened; only an interrupt (or exit) escapes."""
    started = time.perf_counter()
    try:
        outcome = _convert(task, settings)
    except (JpegzipError, OSError) as error:
        outcome = Outcome.failed(task.source, task.destination, error)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # a bug (or a foreign panic): record it and go on
        outcome = Outcome.failed(task.source, task.destination, error, traceback.format_exc())
    return replace(outcome, seconds=round(time.perf_counter() - started, 4))


def _convert(task: Task, settings: Settings) -> Outcome:
    compressing = settings.compressing
    source, destination = task.source, task.destination
    if compressing and not task.explicit and not _starts_like_jpeg(source):
        return _skipped(task, "not-jpeg", "not a JPEG")
    if not settings.force and destination.exists():
        digest = api.source_digest(source, compressing, settings.options)
        if api.output_matches(destination, digest, compressing, settings.options):
            if settings.remove_source:
                source.unlink()  # its output was just synced and verified from disk
            return _skipped(task, "already-done", "output exists and verifies")
        if compressing and _kept_lossless(source, destination, digest, settings.options):
            return _skipped(task, "already-done", "output exists, verifies, and stays lossless")
    if task.make_folder:
        destination.parent.mkdir(parents=True, exist_ok=True)
    if compressing:
        result = api.compress_file(
            source, destination, force=settings.force, options=settings.options
        )
    else:
        result = api.decompress_file(source, destination, settings.force, settings.options)
    if settings.remove_source:  # only once the output, re-read from disk, gives it back
        api.check_written(destination, result.original_sha256, compressing, settings.options)
        source.unlink()
    return Outcome.converted(str(source), str(destination), result, compressing)


def _kept_lossless(source: Path, destination: Path, digest: bytes, options: Options) -> bool:
    """With a lossy target: ``destination`` is a lossless (or stored) .jrz of ``source``
    and a lossy compress would keep it so (an MPO, no gain: a rerun of the batch that
    wrote it). Costs a compress in memory, only for such files."""
    if options.target is None:
        return False
    lossless = replace(options, rate=LOSSLESS_RATE, bpp=None, psnr=None)
    if not api.output_matches(destination, digest, True, lossless):
        return False
    return api.compress_with_result(api.read_input(source, options), options)[1].mode != "lossy"


def _starts_like_jpeg(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(api.START_OF_IMAGE)) == api.START_OF_IMAGE


def _skipped(task: Task, reason: str, message: str) -> Outcome:
    destination = None if reason == "not-jpeg" else str(task.destination)
    return Outcome(str(task.source), destination, Status.SKIPPED, reason=reason, message=message)


def describe_error(error: BaseException, source: Path | str | None = None) -> tuple[str, str]:
    """The stable code and a one-line message for an error, naming a file only if it is
    not ``source`` itself (the line already names that one)."""
    if isinstance(error, JpegzipError):
        code, message = error.code, str(error)
    elif isinstance(error, OSError):
        code, message = "io-error", error.strerror or str(error)
        if error.filename is not None and str(error.filename) != str(source):
            message = f"{message}: {error.filename}"
    else:
        code, message = INTERNAL_ERROR, f"{type(error).__name__}: {error}"
    return code, " ".join(message.split())


# --- many files ----------------------------------------------------------------------------


def run(
    batch: Plan, settings: Settings, on_outcome: Callable[[Outcome], None] | None = None
) -> Report:
    """Convert every task; ``on_outcome`` sees each outcome as it arrives (for progress)."""
    report = Report(settings.compressing, len(batch.tasks) + len(batch.problems))
    started = time.perf_counter()

    def record(outcome: Outcome) -> None:
        report.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    try:
        for problem in batch.problems:
            record(problem)
        workers = min(settings.jobs, len(batch.tasks))
        if workers <= 1:
            for task in batch.tasks:
                record(convert_one(task, settings))
        else:

            def lost(task: Task) -> None:
                error = WorkerDied("the worker process died (killed, or out of memory?)")
                record(Outcome.failed(task.source, task.destination, error))

            shared = _share_cores(settings, workers)
            run_in_pool(convert_one, batch.tasks, (shared,), workers, record, lost)
    except KeyboardInterrupt:
        report.interrupted = True
    report.seconds = time.perf_counter() - started
    return report
