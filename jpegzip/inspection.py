"""What a .jrz holds, without decoding the coefficients: ``jpegzip info`` and ``inspect``.

The image facts come from the JPEG's own header bytes: the ``raw`` section of a lossless
file, or the stored JPEG itself, walked by the same marker reader the codec uses. The
answer is a JSON-ready dict, so the command line and scripts read the same fields.
"""

from __future__ import annotations

from typing import Any

from . import container, header_dict
from .container import Container, Mode
from .errors import ContainerError, JpegzipError
from .options import DEFAULT, Options

# Luma sampling (h, v) -> the usual name, when both chroma components are 1x1.
_SUBSAMPLING_NAMES = {
    (1, 1): "4:4:4",
    (2, 1): "4:2:2",
    (2, 2): "4:2:0",
    (1, 2): "4:4:0",
    (4, 1): "4:1:1",
    (4, 2): "4:1:0",
}
_FRAME_KINDS = {0xC0: "baseline", 0xC1: "extended sequential", 0xC2: "progressive"}


def inspect(data: bytes, options: Options = DEFAULT) -> dict[str, Any]:
    """Describe a .jrz: mode, sizes, checksum, model, image and metadata (see README).

    Raises ContainerError when the container fails a check, LimitExceeded when it claims
    an original over ``options.max_input_bytes``. Image facts that cannot be read
    (a stored file the marker walker refuses) leave ``image`` as None and say why in
    ``image_note``; they never make the whole answer fail.
    """
    from .jpeg.metadata import read_metadata  # the JPEG layer loads numba: only when needed

    options.check_size("input", len(data))
    parsed = container.read(data)
    options.check_size("the original it holds", parsed.original_length)
    header = _header_bytes(parsed)
    facts: dict[str, Any] = {
        "mode": parsed.mode.value,
        "size": len(data),
        "original_size": parsed.original_length,
        "original_sha256": parsed.original_sha256.hex(),  # format 6: its first 8 bytes
        "suffix": parsed.suffix,  # the original file name's; None: none recorded (.jpg)
        "savings_percent": savings_percent(parsed.original_length, len(data)),
        "model_id": None if parsed.mode is Mode.STORED else parsed.model_id.hex(),
        "model_name": None if parsed.mode is Mode.STORED else _model_name(parsed.model_id),
        "level": None if parsed.mode is Mode.STORED else _level(parsed.model_id),
        "sections": {name: len(payload) for name, payload in parsed.sections.items()},
        "image": None,
        "image_note": None,
        "metadata": [],
        "trailing_bytes": 0,
        "lossy": _lossy(parsed, len(data)),
    }
    try:
        facts["image"] = _image(header)
    except JpegzipError as error:
        facts["image_note"] = str(error)
    try:
        metadata = read_metadata(header)
    except JpegzipError as error:
        facts["image_note"] = facts["image_note"] or str(error)
    else:
        facts["metadata"] = _metadata_kinds(metadata.segments)
        facts["trailing_bytes"] = metadata.trailing_bytes
    return facts


def savings_percent(jpeg_bytes: int, jrz_bytes: int) -> float | None:
    """How much smaller the .jrz is than the JPEG, in percent (None for an empty JPEG)."""
    return round(100.0 * (jpeg_bytes - jrz_bytes) / jpeg_bytes, 2) if jpeg_bytes else None


def _header_bytes(parsed: Container) -> bytes:
    """The bytes whose markers describe the image: raw header bytes, or the stored JPEG."""
    if parsed.mode is Mode.STORED:
        return container.unpack_stored(parsed.sections, parsed.original_length)
    # raw is a part of the original (bounded by the caller's limit check)
    return header_dict.header_bytes(parsed.sections, parsed.original_length)


def _image(header: bytes) -> dict[str, Any]:
    from .jpeg import read_layout

    layout = read_layout(header)
    frame = layout.frame
    sampling = [(c.h, c.v) for c in frame.components]
    return {
        "width": frame.width,
        "height": frame.height,
        "components": len(frame.components),
        "sampling": ",".join(f"{h}x{v}" for h, v in sampling),
        "subsampling": _subsampling_name(sampling),
        "coding": _FRAME_KINDS.get(frame.marker, f"SOF{frame.marker - 0xC0}"),
        "progressive": frame.progressive,
        "scans": len(layout.scans),
        "restart_interval": max((scan.restart_interval for scan in layout.scans), default=0),
    }


def _lossy(parsed: Container, size: int) -> dict[str, Any] | None:
    """What a lossy .jrz reached and what it came from; None for other modes."""
    if parsed.mode is not Mode.LOSSY:
        return None
    from .lossy.report import LossyReport

    if "lossy" not in parsed.sections:
        raise ContainerError("missing section: lossy")
    report = LossyReport.from_bytes(parsed.sections["lossy"])
    source = {"source_size": report.source_length, "source_sha256": report.source_sha256}
    return {**report.summary(size), **source}


def _subsampling_name(sampling: list[tuple[int, int]]) -> str | None:
    if len(sampling) == 1:
        return "grayscale"
    if len(sampling) == 3 and sampling[1] == sampling[2] == (1, 1):
        return _SUBSAMPLING_NAMES.get(sampling[0])
    return None


def _metadata_kinds(segments) -> list[dict[str, Any]]:
    """Segments grouped by kind, in order of first appearance, with counts and bytes."""
    kinds: dict[str, dict[str, Any]] = {}
    for segment in segments:
        entry = kinds.setdefault(
            segment.kind, {"kind": segment.kind, "marker": segment.marker, "count": 0, "bytes": 0}
        )
        entry["count"] += 1
        entry["bytes"] += segment.length
    return list(kinds.values())


def _level(model_id: bytes) -> int | None:
    """The compression level whose model coded the file (None: no level of this jpegzip)."""
    from .model import level_of

    return level_of(model_id)


def _model_name(model_id: bytes) -> str | None:
    """The shipped model's name, or None when this jpegzip does not have that model."""
    from .model import shipped_names

    return shipped_names().get(model_id)
