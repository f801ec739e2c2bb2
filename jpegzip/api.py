"""Bytes and files in, bytes and files out: the pipeline around the codec.

``compress`` tries the model path, decodes the result in memory and compares it with the
input before returning anything; when the model cannot take the file (or fails in any way)
it stores the file whole and records why. ``decompress`` checks the container, the model id,
the length and the SHA-256 of the output, so it never returns wrong bytes. File helpers
write atomically and never overwrite unless asked.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import container
from .container import Container, Mode
from .errors import (
    ContainerError,
    JpegzipError,
    ModelNotAvailable,
    NotJpegError,
    OutputExists,
    Unsupported,
    VerificationFailed,
)

START_OF_IMAGE = b"\xff\xd8"
_STORED_MODEL_ID = bytes(container.MODEL_ID_LENGTH)
_SHORT_ID_HEX = 12


@dataclass(frozen=True)
class Result:
    """What one compress or decompress did, for reports.

    ``mode`` is "lossless" or "stored"; ``stored_reason`` says why a file was stored (known
    only while compressing; None otherwise).
    """

    mode: str
    stored_reason: str | None
    bytes_in: int
    bytes_out: int


def compress(data: bytes) -> bytes:
    """A JPEG's bytes -> a .jrz's bytes. Raises NotJpegError for anything else."""
    return compress_with_result(data)[0]


def decompress(data: bytes) -> bytes:
    """A .jrz's bytes -> the original JPEG's bytes, exactly, or an error."""
    return decompress_with_result(data)[0]


def compress_with_result(data: bytes) -> tuple[bytes, Result]:
    """``compress`` that also says which mode it used and why a file was stored."""
    if not data:
        raise NotJpegError("empty input")
    if not data.startswith(START_OF_IMAGE):
        raise NotJpegError("no JPEG start-of-image marker (FF D8)")
    packed, stored_reason = _try_lossless(data)
    if packed is None:
        packed = _store(data)
    mode = Mode.LOSSLESS if stored_reason is None else Mode.STORED
    return packed, Result(mode.value, stored_reason, len(data), len(packed))


def decompress_with_result(data: bytes) -> tuple[bytes, Result]:
    """``decompress`` that also says which mode the .jrz was coded in."""
    parsed = container.read(data)
    original = _rebuild(parsed)
    if len(original) != parsed.original_length:
        raise ContainerError(
            f"length mismatch: decoded {len(original)} bytes, header says {parsed.original_length}"
        )
    if container.sha256(original) != parsed.original_sha256:
        raise ContainerError("SHA-256 mismatch: the decoded JPEG differs from the original")
    return original, Result(parsed.mode.value, None, len(data), len(original))


def compress_file(
    source: str | os.PathLike, destination: str | os.PathLike, force: bool = False
) -> Result:
    """Compress the JPEG at ``source`` into a .jrz at ``destination`` (atomic write)."""
    return _convert_file(Path(source), Path(destination), force, compress_with_result)


def decompress_file(
    source: str | os.PathLike, destination: str | os.PathLike, force: bool = False
) -> Result:
    """Decompress the .jrz at ``source`` into a JPEG at ``destination`` (atomic write)."""
    return _convert_file(Path(source), Path(destination), force, decompress_with_result)


def _try_lossless(data: bytes) -> tuple[bytes | None, str | None]:
    """The model path, verified by a full decode; (None, reason) whenever it falls short."""
    from . import codec  # heavy (numba, the model): imported only when a file needs it

    try:
        sections = codec.encode_lossless(data)
        packed = container.write(
            Container(Mode.LOSSLESS, codec.model_id(), len(data), container.sha256(data), sections)
        )
        if _rebuild(container.read(packed)) != data:
            raise VerificationFailed("decoding the .jrz did not give the input back")
        return packed, None
    except Unsupported as error:
        return None, error.reason
    except JpegzipError as error:
        return None, error.code
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:
        # A bug in the model path must never lose a file: store it instead. BaseException,
        # because constriction's PanicException (a Rust panic) does not derive from Exception.
        return None, f"internal-error: {type(error).__name__}"


def _store(data: bytes) -> bytes:
    """The whole file, general-purpose compressed, checked like the model path."""
    packed = container.write(
        Container(
            Mode.STORED,
            _STORED_MODEL_ID,
            len(data),
            container.sha256(data),
            container.pack_stored(data),
        )
    )
    if _rebuild(container.read(packed)) != data:
        raise VerificationFailed("the stored .jrz did not decode to the input")
    return packed


def _rebuild(parsed: Container) -> bytes:
    if parsed.mode is Mode.STORED:
        return container.unpack_stored(parsed.sections, parsed.original_length)
    if parsed.mode is Mode.LOSSY:
        raise ContainerError("mode lossy is not supported by this jpegzip")
    from . import codec

    installed = codec.model_id()
    if parsed.model_id != installed:
        raise ModelNotAvailable(
            f"coded with model {parsed.model_id.hex()[:_SHORT_ID_HEX]}, "
            f"this jpegzip has model {installed.hex()[:_SHORT_ID_HEX]}"
        )
    return codec.decode_lossless(parsed.sections)


def _convert_file(
    source: Path,
    destination: Path,
    force: bool,
    convert: Callable[[bytes], tuple[bytes, Result]],
) -> Result:
    _check_destination(source, destination, force)
    data = source.read_bytes()
    output, result = convert(data)
    _write_atomic(destination, output, force, stat.S_IMODE(source.stat().st_mode))
    return result


def _check_destination(source: Path, destination: Path, force: bool) -> None:
    """Fail before any work when the output cannot or must not be written."""
    if not destination.parent.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, "output folder does not exist", str(destination.parent)
        )
    if destination.exists():
        if source.exists() and source.samefile(destination):
            raise OutputExists(f"output {destination} is the input file")
        if not force:
            raise OutputExists(f"{destination} already exists")


def _write_atomic(destination: Path, data: bytes, force: bool, permissions: int) -> None:
    """Temp file beside the target, fsync, rename; the temp file never outlives a failure."""
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, permissions)
        if not force and destination.exists():  # appeared while we worked
            raise OutputExists(f"{destination} already exists")
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_folder(destination.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable; best effort (not every platform can fsync a folder)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
