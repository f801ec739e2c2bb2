"""The job's record in the destination: one JSON line per source file.

``jpegzip-manifest.jsonl`` holds, per source (named relative to SRC), its size and SHA-256,
its output (relative to DST) and that output's size, the mode and the status (with the
reason, or the error's code and message), and the lossy target it was made for. Each task
also writes its own records as a small part in ``.jpegzip-manifest.d/`` as soon as its
files are done, so they outlive a killed client; a run that finishes folds the parts and
its own records into the manifest (latest record per source wins, but a rerun's "already
done" never hides the record of the conversion) and removes the parts. A rerun trusts a
record of a conversion for the same lossy target (or none) when the source still has the
recorded size and the output is there with the recorded size: that is the proof of a
verified output that lets a killed job of millions of files resume without decoding
everything again (``--recheck`` decodes anyway).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..batch import Outcome, Status, describe_error
from .storage import Location

MANIFEST_NAME = "jpegzip-manifest.jsonl"
PARTS_FOLDER = ".jpegzip-manifest.d"
ALREADY_DONE = "already-done"
_CONVERTED = (Status.DONE.value, Status.STORED.value)


@dataclass(frozen=True)
class FileRecord:
    """One source file's line. ``status`` is the file's state: done or stored (its output
    is written and verified), skipped (not a JPEG) or failed. ``sha256`` is of the source's
    bytes (hex); ``output_size`` and ``mode`` describe the output; ``lossy_target`` is the
    target it was made for ("rate 0.9"; None: lossless), ``lossy`` what it reached and
    ``note`` why the target kept a lossless .jrz, as in the local batch. Reason
    "already-done": this run found the output verified and skipped the file."""

    source: str
    size: int
    status: str
    destination: str | None = None
    sha256: str | None = None
    output_size: int | None = None
    mode: str | None = None
    reason: str | None = None
    code: str | None = None
    message: str | None = None
    seconds: float = 0.0
    trace: str | None = field(default=None, repr=False, compare=False)
    lossy_target: str | None = None
    lossy: dict[str, Any] | None = None
    note: str | None = None

    @classmethod
    def failed(
        cls,
        source: str,
        size: int,
        destination: str | None,
        error: BaseException,
        shown: str,
        trace: str | None = None,
    ) -> FileRecord:
        """A file that failed, with the error's stable code (``shown``: its name in messages)."""
        code, message = describe_error(error, shown)
        return cls(
            source, size, Status.FAILED.value, destination, code=code, message=message, trace=trace
        )

    @classmethod
    def from_json(cls, line: str) -> FileRecord:
        known = {item.name for item in dataclasses.fields(cls)} - {"trace"}
        return cls(**{key: value for key, value in json.loads(line).items() if key in known})

    def to_json(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        del record["trace"]
        return record

    def converted(self) -> bool:
        """Whether this records an output that was written and verified."""
        return self.status in _CONVERTED

    def trusted(self, size: int, outputs: dict[str, int], lossy_target: str | None) -> bool:
        """Whether a rerun for ``lossy_target`` may skip this source without looking at it
        again."""
        return (
            self.converted()
            and self.lossy_target == lossy_target
            and self.size == size
            and self.destination is not None
            and outputs.get(self.destination) == self.output_size
        )

    def to_outcome(self, source: Location, destination: Location) -> Outcome:
        """The batch's record of this file, for the progress display and the summary."""
        skipped = self.reason == ALREADY_DONE or self.status == Status.SKIPPED.value
        status = Status.SKIPPED if skipped else Status(self.status)
        return Outcome(
            source.show(self.source),
            None if self.destination is None else destination.show(self.destination),
            status,
            mode=None if skipped else self.mode,  # a skip shows as "already done"
            reason=self.reason,
            code=self.code,
            message=self.message,
            bytes_in=0 if skipped else self.size,
            bytes_out=0 if skipped else self.output_size or 0,
            seconds=self.seconds,
            trace=self.trace,
            lossy=None if skipped else self.lossy,
            note=None if skipped else self.note,
        )


def merge(state: dict[str, FileRecord], records: Iterable[FileRecord]) -> None:
    """Fold newer records into ``state``; "already done" keeps the conversion's record."""
    for record in records:
        earlier = state.get(record.source)
        if record.reason == ALREADY_DONE and earlier is not None and earlier.converted():
            continue
        state[record.source] = record


def load(location: Location) -> dict[str, FileRecord]:
    """Every source's latest record: the manifest, then any parts a killed run left."""
    return _read(location)[0]


def write_part(location: Location, name: str, records: list[FileRecord]) -> None:
    """One task's records, written atomically under a name no other task uses."""
    location.write(f"{PARTS_FOLDER}/{name}.jsonl", _lines(records), force=False)


def finish(location: Location, records: Iterable[FileRecord]) -> None:
    """Fold the parts and this run's records into the manifest, then remove the parts."""
    state, parts = _read(location)
    merge(state, records)
    location.write(MANIFEST_NAME, _lines(state[name] for name in sorted(state)), force=True)
    for part in parts:
        location.remove(part)
    if parts:
        location.remove_folder(PARTS_FOLDER)


def _read(location: Location) -> tuple[dict[str, FileRecord], list[str]]:
    files = location.files()
    parts = sorted(name for name in files if name.startswith(f"{PARTS_FOLDER}/"))
    state: dict[str, FileRecord] = {}
    for name in ([MANIFEST_NAME] if MANIFEST_NAME in files else []) + parts:
        text = location.fs.cat_file(location.path(name)).decode()
        merge(state, _parse(text))
    return state, parts


def _parse(text: str) -> Iterable[FileRecord]:
    """The records of a manifest or part. A line that does not parse (edited by hand?) is
    left out: its file is then looked at again, which is always safe."""
    for line in text.splitlines():
        try:
            yield FileRecord.from_json(line)
        except (ValueError, TypeError, AttributeError):
            continue


def _lines(records: Iterable[FileRecord]) -> bytes:
    return "".join(json.dumps(record.to_json()) + "\n" for record in records).encode()
