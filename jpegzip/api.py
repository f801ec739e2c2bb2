"""Bytes and files in, bytes and files out: the pipeline around the codec.

``compress`` tries the model path, decodes the result in memory and compares it with the
input before returning anything; when the model cannot take the file (or fails in any way)
it stores the file whole and records why. ``decompress`` checks the container, the model id,
the length and the SHA-256 of the output, so it never returns wrong bytes. File helpers
write atomically and never overwrite unless asked (two writers of one path: the first
wins, the other fails); ``check_written`` re-reads an output from disk, so a caller may
delete the source. Inputs over the limits in ``Options`` are refused before they are read
or decoded. ``Codec`` keeps options and the model for services and worker processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

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
from .lossy.report import LossyReport
from .options import DEFAULT, DEFAULT_LEVEL, Options

if TYPE_CHECKING:
    from .lossy import Target
    from .lossy.encoder import LossyJpeg

START_OF_IMAGE = b"\xff\xd8"
JPEG_SUFFIX = ".jpg"  # a decompressed file's suffix where its .jrz recorded none
_STORED_MODEL_ID = bytes(container.MODEL_ID_LENGTH)
_LOSSY_SECTION_BYTES = 320  # the ``lossy`` section and its framing, about
_OVERHEAD_SLACK = 0.01  # search again when the first lossy .jrz misses its estimate by more
_SHORT_ID_HEX = 12
# link() errors that mean "this file system has no hard links" (FAT, some network mounts).
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})


@dataclasses.dataclass(frozen=True)
class Result:
    """What one compress or decompress did, for reports.

    ``mode`` is "lossless", "lossy" or "stored"; ``stored_reason`` says why a file was
    stored (known only while compressing; None otherwise). ``original_sha256`` is the
    checksum of the JPEG the .jrz gives back (for lossy: the new JPEG), in both directions,
    for checking a written output later. ``lossy`` is what a lossy compress reached;
    ``note`` says why a lossy target gave a lossless .jrz (``lossy-skipped``,
    ``lossy-no-gain`` or ``lossy-failed``, then details).
    """

    mode: str
    stored_reason: str | None
    bytes_in: int
    bytes_out: int
    original_sha256: bytes = dataclasses.field(default=b"", compare=False, repr=False)
    lossy: LossyReport | None = dataclasses.field(default=None, compare=False, repr=False)
    note: str | None = None  # why a lossy target gave a lossless .jrz


def compress(data: bytes, rate: float = 1.0, device: str = "auto",
             level: int | str = DEFAULT_LEVEL) -> bytes:
    """A JPEG's bytes -> a .jrz's bytes. Raises NotJpegError for anything else.

    ``rate`` below 1.0 is lossy: a .jrz of about that fraction of the lossless size that
    decompresses to a new, smaller JPEG (``Options`` also takes ``bpp`` or ``psnr``
    targets); ``device`` is "auto", "cpu" or "cuda"; ``level`` 1 (fastest) to 2 (the
    default), or "max" (BadOption otherwise).
    """
    return compress_with_result(data, Options(rate, device, level=level))[0]


def decompress(data: bytes) -> bytes:
    """A .jrz's bytes -> the original JPEG's bytes, exactly, or an error."""
    return decompress_with_result(data)[0]


def compress_with_result(data: bytes, options: Options = DEFAULT, *,
                         suffix: str | None = None) -> tuple[bytes, Result]:
    """``compress`` that also says which mode it used and why a file was stored.
    ``suffix``: the original file name's suffix (".JPEG", or "" for none), kept in the
    .jrz so that decompressing a file restores it.

    With a lossy target, a file the model cannot take or does not shrink is stored whole,
    as without one, and a file lossy mode cannot improve on keeps its lossless .jrz
    (``Result.note`` says why); every .jrz is decoded in memory and checked before it is
    returned.
    """
    options.check_size("input", len(data))
    if not data:
        raise NotJpegError("empty input")
    if not data.startswith(START_OF_IMAGE):
        raise NotJpegError("no JPEG start-of-image marker (FF D8)")
    packed, stored_reason = _try_lossless(data, options, suffix)
    if packed is None:
        packed = _store(data, options, suffix)
    elif len(packed) >= len(data):
        # Tiny or unusual files: the model's overhead can outweigh its gain.
        stored = _store(data, options, suffix)
        if len(stored) < len(packed):
            packed, stored_reason = stored, "no-gain"
    mode = Mode.LOSSLESS if stored_reason is None else Mode.STORED
    digest = container.sha256(data)
    target, note = options.target, None
    if target is not None and mode is Mode.LOSSLESS:
        lossy, note = _try_lossy(data, target, packed, options, suffix)
        if lossy is not None:
            return lossy
    return packed, Result(mode.value, stored_reason, len(data), len(packed), digest, note=note)


def decompress_with_result(data: bytes, options: Options = DEFAULT) -> tuple[bytes, Result]:
    """``decompress`` that also says which mode the .jrz was coded in."""
    options.check_size("input", len(data))
    parsed = container.read(data)
    options.check_size("the original it holds", parsed.original_length)
    try:
        original = _rebuild(parsed, options)
    except (Unsupported, VerificationFailed) as error:  # from a file not just made: damage
        raise ContainerError(f"the sections do not rebuild a JPEG: {error}") from None
    if len(original) != parsed.original_length:
        raise ContainerError(
            f"length mismatch: decoded {len(original)} bytes, header says {parsed.original_length}"
        )
    if not container.digest_matches(parsed.original_sha256, original):
        raise ContainerError("SHA-256 mismatch: the decoded JPEG differs from the original")
    digest = container.sha256(original)
    return original, Result(parsed.mode.value, None, len(data), len(original), digest)


def verify(data: bytes, original: bytes | None = None) -> Result:
    """Decode a .jrz and check every checksum; with ``original``, also compare the bytes."""
    decoded, result = decompress_with_result(data)
    if original is not None and decoded != original:
        raise VerificationFailed(
            f"decodes to other bytes than the original: {_where(decoded, original)}"
        )
    return result


def compress_file(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    force: bool = False,
    options: Options = DEFAULT,
) -> Result:
    """Compress the JPEG at ``source`` into a .jrz at ``destination`` (atomic write); the
    .jrz keeps the suffix of ``source``'s name."""

    def convert(data: bytes) -> tuple[bytes, Result]:
        return compress_with_result(data, options, suffix=_kept_suffix(Path(source)))

    return _convert_file(Path(source), Path(destination), force, convert, options)


def decompress_file(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    force: bool = False,
    options: Options = DEFAULT,
) -> Result:
    """Decompress the .jrz at ``source`` into a JPEG at ``destination`` (atomic write)."""

    def convert(data: bytes) -> tuple[bytes, Result]:
        return decompress_with_result(data, options)

    return _convert_file(Path(source), Path(destination), force, convert, options)


def original_suffix(source: str | os.PathLike) -> str:
    """The suffix the JPEG decompressed from the .jrz at ``source`` gets: the one its
    original had, as the .jrz recorded it, else JPEG_SUFFIX. Reads the first bytes only
    (for naming outputs before the work): decompressing checks everything."""
    try:
        with open(source, "rb") as handle:
            recorded = container.read_suffix(handle.read(container.SUFFIX_HEAD))
    except OSError:  # the conversion reports it
        recorded = None
    return JPEG_SUFFIX if recorded is None else recorded


def read_input(source: str | os.PathLike | BinaryIO, options: Options = DEFAULT) -> bytes:
    """The bytes of a file (a path, or an open binary file such as stdin); LimitExceeded,
    before reading, when it holds more than ``options.max_input_bytes``. Never reads more
    than one byte past the limit, even from a pipe."""
    if hasattr(source, "read"):
        return _read_limited(source, options)
    with open(source, "rb") as handle:
        return _read_limited(handle, options)


def save(destination: str | os.PathLike, data: bytes, force: bool = False) -> None:
    """Write bytes made elsewhere (e.g. from stdin) with the same atomic, no-clobber write."""
    path = Path(destination)
    _check_destination(None, path, force)
    _write_atomic(path, data, force, 0o666 & ~_umask())


def check_written(
    path: str | os.PathLike, original_sha256: bytes, is_jrz: bool, options: Options = DEFAULT
) -> None:
    """Sync an output to disk, re-read it and prove it gives the original JPEG back.

    The check before a source may be deleted, and before a finished output is trusted on a
    rerun: a .jrz (``is_jrz``) must decode, with all its checks, to the original's checksum;
    a JPEG must have that checksum itself. Raises VerificationFailed (or the decode's error).
    """
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
        data = _read_limited(handle, options)
    if is_jrz:
        data = decompress_with_result(data, options)[0]
    if not container.digest_matches(original_sha256, data):
        raise VerificationFailed(f"{path} does not give the original back")


def source_digest(
    source: str | os.PathLike, compressing: bool, options: Options = DEFAULT
) -> bytes:
    """The SHA-256 that a conversion of ``source`` must give back: the JPEG's own when
    compressing, the one in the .jrz header when decompressing (there, perhaps the first
    ``container.DIGEST_LENGTH`` bytes only)."""
    data = read_input(source, options)
    return container.sha256(data) if compressing else container.read(data).original_sha256


def output_matches(
    destination: str | os.PathLike, original_sha256: bytes, is_jrz: bool, options: Options = DEFAULT
) -> bool:
    """Whether ``destination`` already holds a verified conversion (to resume a batch).

    With a lossy target only a lossy .jrz made from this source for the same target
    counts (not a lossless one, nor one made for another target)."""
    try:
        target = options.target
        if is_jrz and target is not None:
            packed = read_input(destination, options)
            if not lossy_made_for(packed, original_sha256, target):
                return False
            original_sha256 = container.read(packed).original_sha256
        check_written(destination, original_sha256, is_jrz, options)
    except (JpegzipError, OSError):
        return False
    return True


def lossy_made_for(packed: bytes, source_sha256: bytes, target: Target) -> bool:
    """Whether a .jrz is a lossy one made for ``target`` from the JPEG of that SHA-256,
    by its header and ``lossy`` section (whether it decodes is for the caller to check)."""
    parsed = container.read(packed)
    if parsed.mode is not Mode.LOSSY or "lossy" not in parsed.sections:
        return False
    report = LossyReport.from_bytes(parsed.sections["lossy"])
    made_for = (report.source_sha256, report.target, report.target_value)
    return made_for == (source_sha256.hex(), target.kind, target.value)


def kernels_cold() -> bool:
    """Whether this process will compile the codec's kernels before its first file: the
    first run after install (or after numba changed), when numba's cache holds no
    compiled coder yet. False when that cannot be told."""
    try:
        from .coding.adaptive import _decode  # numba's own cache names the file

        return not os.path.exists(_decode._cache._cache_file._index_path)
    except Exception:  # numba's cache layout is not an API: never fail over a notice
        return False


def warm_up() -> None:
    """Load the codec, the model and the compiled kernels now, so the first file does not
    pay for them: compress a tiny built-in JPEG once per process.

    A model that fails to load is not an error here: each file then reports it (and is
    stored), exactly as without warming up.
    """
    global _warm
    if _warm:
        return
    with contextlib.suppress(Exception):
        # On the CPU: a process that forks workers must not have touched CUDA.
        compress(_WARM_UP_JPEG, device="cpu")
    _warm = True


_warm = False
# An 8x8 grayscale baseline JPEG (libjpeg q50, standard tables): enough to load every kernel.
_WARM_UP_JPEG = bytes.fromhex(
    "ffd8ffdb004300100b0c0e0c0a100e0d0e1211101318281a181616183123251d283a333d3c3933383740485c"
    "4e404457453738506d51575f626768673e4d71797064785c656763ffc0000b080008000801011100ffc4001f"
    "0000010501010101010100000000000000000102030405060708090a0bffc400b51000020103030204030505"
    "04040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f0243362728209"
    "0a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a73"
    "7475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3"
    "c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda000801010000"
    "3f00ac6f2f6fd89bc55f3d63272afba27403e7fbb90b952c0b73cf03680457ffd9"
)


class Codec:
    """A reusable compressor for services and distributed engines.

    It validates its options once and loads the model on first use, once per process.
    Calls are safe from several threads. It pickles by its options alone, so a copy sent to
    a worker process reloads the model there, lazily. ``rate`` below 1.0, ``bpp`` or
    ``psnr`` is a lossy target, as in ``compress`` and ``Options``; ``limits`` are the
    limit fields of ``Options`` (``max_input_bytes``, ``max_coefficients``), and
    ``threads`` how many threads one large file may use.
    """

    def __init__(self, rate: float = 1.0, device: str = "auto",
                 level: int | str = DEFAULT_LEVEL, *, bpp: float | None = None,
                 psnr: float | None = None, **limits: int) -> None:
        self.options = Options(rate, device, level=level, bpp=bpp, psnr=psnr, **limits)
        self._lock = threading.Lock()
        self._loaded = False

    def __reduce__(self):
        return (functools.partial(type(self), **dataclasses.asdict(self.options)), ())

    def __repr__(self) -> str:
        shown = [
            f"{item.name}={getattr(self.options, item.name)!r}"
            for item in dataclasses.fields(Options)
            if item.name in ("rate", "device", "level")
            or getattr(self.options, item.name) != item.default
        ]
        return f"Codec({', '.join(shown)})"

    def load(self) -> Codec:
        """Load the model now rather than on the first call; returns self."""
        with self._lock:
            if not self._loaded:
                warm_up()
                self._loaded = True
        return self

    def compress(self, data: bytes) -> bytes:
        """A JPEG's bytes -> a .jrz's bytes (see ``jpegzip.compress``)."""
        return self.compress_with_result(data)[0]

    def compress_with_result(self, data: bytes) -> tuple[bytes, Result]:
        """``compress`` that also says which mode it used and why a file was stored."""
        self.load()
        return compress_with_result(data, self.options)

    def decompress(self, data: bytes) -> bytes:
        """A .jrz's bytes -> the original JPEG's bytes, exactly, or an error."""
        self.load()
        return decompress_with_result(data, self.options)[0]

    def compress_file(
        self, source: str | os.PathLike, destination: str | os.PathLike, force: bool = False
    ) -> Result:
        """Compress one file atomically (see ``compress_file``)."""
        self.load()
        return compress_file(source, destination, force, self.options)

    def decompress_file(
        self, source: str | os.PathLike, destination: str | os.PathLike, force: bool = False
    ) -> Result:
        """Decompress one file atomically (see ``decompress_file``)."""
        self.load()
        return decompress_file(source, destination, force, self.options)


def _where(decoded: bytes, original: bytes) -> str:
    if len(decoded) != len(original):
        return f"{len(decoded)} bytes, the original has {len(original)}"
    first = next(i for i, (a, b) in enumerate(zip(decoded, original, strict=True)) if a != b)
    return f"first difference at byte {first}"


def _kept_suffix(source: Path) -> str | None:
    """The suffix a .jrz of ``source`` records: None for JPEG_SUFFIX (what a .jrz without
    one gives back, so the common case costs no bytes) and for one it cannot record."""
    suffix = source.suffix
    return None if suffix == JPEG_SUFFIX or not container.valid_suffix(suffix) else suffix


def _umask() -> int:
    """The process umask (reading it means setting it; only ``save`` needs it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _read_limited(handle: BinaryIO, options: Options) -> bytes:
    """Everything left in an open file, refused (LimitExceeded) before it is read if over
    the limit; reads at most one byte past the limit whatever the file is."""
    try:
        size = os.fstat(handle.fileno()).st_size  # 0 for pipes and devices: the read bounds them
    except (OSError, ValueError):  # no file descriptor (an in-memory stream)
        size = 0
    options.check_size("input", size)
    data = handle.read(options.max_input_bytes + 1)
    options.check_size("input", len(data))
    return data


def _try_lossless(data: bytes, options: Options,
                  suffix: str | None) -> tuple[bytes | None, str | None]:
    """The model path, verified by a full decode; (None, reason) whenever it falls short."""
    from . import codec  # heavy (numba, the model): imported only when a file needs it

    try:
        sections = codec.encode_lossless(data, options)
        model_id = codec.model_id(options.level)
        packed = container.write(
            Container(Mode.LOSSLESS, model_id, len(data), container.sha256(data), sections, suffix)
        )
        if _rebuild(container.read(packed), options) != data:
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
        # because an extension's panic (e.g. a Rust PanicException) may not derive from
        # Exception.
        return None, f"internal-error: {type(error).__name__}"


def _try_lossy(
    data: bytes, target: Target, lossless: bytes, options: Options, suffix: str | None
) -> tuple[tuple[bytes, Result] | None, str | None]:
    """The lossy .jrz and its result, or (None, why the lossless .jrz is kept instead).

    Kept lossless: a file with data after its end (an MPO's second image: a rewritten first
    image would break its offsets), a lossy .jrz no smaller than the lossless one, and any
    failure of the lossy path (nothing is lost: the lossless .jrz stands).
    """
    from . import codec
    from .jpeg.metadata import read_metadata
    from .lossy.encoder import LosslessSizes

    if read_metadata(data).trailing_bytes:
        return None, "lossy-skipped: data after the end of the image"
    try:
        sections = container.read(lossless).sections
        sizes = LosslessSizes(len(lossless), len(sections["coefficients"]))
        overhead = sizes.total - sizes.coefficients + _LOSSY_SECTION_BYTES
        lossy = codec.encode_lossy(data, target, sizes, overhead, options)
        packed, report = _pack_lossy(data, target, lossy, sizes.total, options, suffix)
        missed = len(packed) - (lossy.estimated_size or len(packed))
        if abs(missed) > _OVERHEAD_SLACK * len(packed):  # the new JPEG's headers differ
            lossy = codec.encode_lossy(data, target, sizes, overhead + missed, options)
            packed, report = _pack_lossy(data, target, lossy, sizes.total, options, suffix)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # as in _try_lossless: a failure never loses the file
        reason = error.code if isinstance(error, JpegzipError) else type(error).__name__
        return None, f"lossy-failed: {reason}: {error}"
    if len(packed) >= len(lossless):
        return None, "lossy-no-gain: the lossless .jrz is as small"
    digest = container.sha256(lossy.jpeg)
    return (packed, Result(Mode.LOSSY.value, None, len(data), len(packed), digest, report)), None


def _pack_lossy(
    data: bytes, target: Target, lossy: LossyJpeg, lossless_size: int, options: Options,
    suffix: str | None
) -> tuple[bytes, LossyReport]:
    """The lossy .jrz (the requantized JPEG coded losslessly, with a ``lossy`` section,
    decoded again and compared before it is returned) and its report."""
    from . import codec
    from .lossy.report import psnr_field

    sections = codec.encode_lossless(lossy.jpeg, options)
    report = LossyReport(target.kind, target.value, lossless_size, psnr_field(lossy.psnr_db),
                         lossy.pixels, len(data), container.sha256(data).hex())  # fmt: skip
    sections["lossy"] = report.to_bytes()
    digest = container.sha256(lossy.jpeg)
    packed = container.write(
        Container(Mode.LOSSY, codec.model_id(options.level), len(lossy.jpeg), digest, sections,
                  suffix)
    )
    if _rebuild(container.read(packed), options) != lossy.jpeg:
        raise VerificationFailed("decoding the lossy .jrz did not give its JPEG back")
    return packed, report


def _store(data: bytes, options: Options, suffix: str | None) -> bytes:
    """The whole file, general-purpose compressed, checked like the model path."""
    packed = container.write(
        Container(
            Mode.STORED,
            _STORED_MODEL_ID,
            len(data),
            container.sha256(data),
            container.pack_stored(data),
            suffix,
        )
    )
    if _rebuild(container.read(packed), options) != data:
        raise VerificationFailed("the stored .jrz did not decode to the input")
    return packed


def _rebuild(parsed: Container, options: Options) -> bytes:
    if parsed.mode is Mode.STORED:
        return container.unpack_stored(parsed.sections, parsed.original_length)
    from . import codec

    installed = codec.model_ids()
    if parsed.model_id not in installed:
        names = ", ".join(model.hex()[:_SHORT_ID_HEX] for model in installed)
        raise ModelNotAvailable(
            f"coded with model {parsed.model_id.hex()[:_SHORT_ID_HEX]}, "
            f"this jpegzip has model{'s' if len(installed) > 1 else ''} {names}"
        )
    try:
        return codec.decode_lossless(parsed.sections, options, parsed.model_id)
    except BaseException as error:
        if isinstance(error, Exception | KeyboardInterrupt | SystemExit):
            raise  # our errors, bugs (reported as such) and interrupts pass through
        # A foreign panic (a Rust PanicException is a BaseException) must never escape.
        raise ContainerError(f"coefficient stream: undecodable ({type(error).__name__})") from None


def _convert_file(
    source: Path,
    destination: Path,
    force: bool,
    convert: Callable[[bytes], tuple[bytes, Result]],
    options: Options,
) -> Result:
    _check_destination(source, destination, force)
    data = read_input(source, options)
    output, result = convert(data)
    _write_atomic(destination, output, force, stat.S_IMODE(source.stat().st_mode))
    return result


def _check_destination(source: Path | None, destination: Path, force: bool) -> None:
    """Fail before any work when the output cannot or must not be written."""
    if not destination.parent.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, "output folder does not exist", str(destination.parent)
        )
    if destination.exists():
        if source is not None and source.exists() and source.samefile(destination):
            raise OutputExists(f"output {destination} is the input file")
        if not force:
            raise OutputExists(f"{destination} already exists")


def _write_atomic(destination: Path, data: bytes, force: bool, permissions: int) -> None:
    """Temp file beside the target (``.<name>.<random>.tmp``, never taken for an output),
    fsync, then its final name; the temp file never outlives a failure."""
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, permissions)
        if force:
            os.replace(temporary, destination)
        else:
            _rename_no_clobber(temporary, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_folder(destination.parent)


def _rename_no_clobber(temporary: str, destination: Path) -> None:
    """Give the temp file its final name unless that name is taken, atomically.

    A rename would silently replace a file that another process wrote since we checked;
    a hard link fails instead, so of two writers the first wins and the other gets
    OutputExists. Where the file system has no hard links: check, then rename.
    """
    try:
        os.link(temporary, destination)
    except FileExistsError:
        raise OutputExists(f"{destination} already exists") from None
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        if destination.exists():
            raise OutputExists(f"{destination} already exists") from None
        os.replace(temporary, destination)
        return
    os.unlink(temporary)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable; best effort (not every platform can fsync a folder)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
