"""A JPEG <-> named byte sections, through the JPEG layer and the coefficient coder.

Sections of a lossless .jrz (documented in docs/FORMAT.md; a lossy .jrz is the lossless
coding of its requantized JPEG, plus a ``lossy`` section the api writes):
- ``raw-d1``: every byte outside the entropy-coded segments (markers, metadata, tail), zstd
  against the shipped header dictionary (header_dict.py); files written before it hold
  ``raw``, the same bytes in plain zstd, and still decode;
- ``embedded-2`` (only where it pays): the JPEGs embedded in those bytes (EXIF thumbnails,
  an MPO's second image), each as the sections of a lossless .jrz, blanked in ``raw-d1``
  (embedded.py); files of formats 2 to 5 hold ``embedded``, each a nested .jrz;
- ``scans``: the per-scan side information (pad bits, EOB-run resets, trailing ZRLs), in
  the smallest of zstd, sparse or plain (``container.pack_small``);
- ``coefficients``: the quantized DCT coefficients, coded by the context model; where the
  side information has layout 2 (a scan cut, or low bits no scan codes), without the low bits
  that every scan leaves zero (``known_zero_bits``), as the model needs no step it knows.
The frame, tables and scan structure are not stored twice: decoding walks ``raw`` again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import container, embedded, header_dict
from .errors import ContainerError, LimitExceeded, Unsupported
from .jpeg import pack_side_info, read_jpeg, read_layout, split_planes, unpack_side_info
from .jpeg.blocks import component_offsets
from .jpeg.markers import JpegLayout, known_zero_bits
from .jpeg.metadata import read_metadata
from .jpeg.record import JpegRecord, side_info_version
from .jpeg.writer import write_jpeg
from .options import DEFAULT, DEFAULT_LEVEL, Options

if TYPE_CHECKING:
    from .lossy import Target
    from .lossy.encoder import LosslessSizes, LossyJpeg
    from .lossy.ladder import Ladder


def _model(level: int = DEFAULT_LEVEL):
    from .model import level_model

    return level_model(level)


def model_id(level: int = DEFAULT_LEVEL) -> bytes:
    """SHA-256 of the weights that code new files at ``level`` (32 bytes)."""
    from .model import level_ids

    return level_ids()[level]


def model_ids() -> tuple[bytes, ...]:
    """Every model this jpegzip decodes with, the default level's first (none loaded)."""
    from .model import shipped_names

    return tuple(shipped_names())


def encode_lossless(jpeg: bytes, options: Options = DEFAULT, *,
                    embedded_jpegs: bool = True) -> dict[str, bytes]:
    """Split a JPEG into sections that ``decode_lossless`` turns back into the same bytes;
    ``embedded_jpegs``: code the JPEGs embedded in its header with the model too.

    Raises Unsupported(reason) when the file cannot go through the model, including a frame
    of more than ``options.max_coefficients`` coefficients (``image-too-large``).
    """
    from .coding import encode_planes

    record = read_jpeg(jpeg, options.max_coefficients)
    layout = record.layout
    sampling = [(c.h, c.v) for c in layout.frame.components]
    zero_bits = known_zero_bits(layout)
    cut = any(info.cut is not None for info in record.side)
    side_info = pack_side_info(record.side, 2 if cut or zero_bits.any() else 1)
    planes = [plane >> bits if bits.any() else plane
              for plane, bits in zip(record.planes(), zero_bits, strict=True)]
    quant = _model_quant_tables(layout, zero_bits)
    return {
        **_header_sections(record.raw, options, embedded_jpegs),
        "scans": container.pack_small(side_info),
        "coefficients": encode_planes(planes, quant, sampling,
                                      _model(options.level).on_device(options.device),
                                      options.thread_count),
    }


def encode_lossy(jpeg: bytes, target: Target, lossless: LosslessSizes, overhead: int,
                 options: Options = DEFAULT, ladder: Ladder | None = None) -> LossyJpeg:
    """The requantized baseline JPEG that meets ``target`` (see lossy.encoder); the model's
    exact code length sizes each candidate. ``lossless``: the original's lossless .jrz
    sizes; ``overhead``: what a .jrz spends besides its coefficient stream; ``ladder``:
    the table ladder (None: the shipped one; ablations pass another)."""
    from .coding import encode_planes
    from .lossy.encoder import requantize_jpeg
    from .lossy.ladder import shipped_ladder

    record = read_jpeg(jpeg, options.max_coefficients)
    sampling = [(c.h, c.v) for c in record.layout.frame.components]
    model = _model(options.level).on_device(options.device)

    def coded_size(planes: list[np.ndarray], tables: list[np.ndarray]) -> int:
        return len(encode_planes(planes, tables, sampling, model))

    ladder = shipped_ladder() if ladder is None else ladder
    return requantize_jpeg(jpeg, record, target, lossless, overhead, coded_size, ladder)


def decode_lossless(sections: dict[str, bytes], options: Options = DEFAULT,
                    coded_with: bytes | None = None, *, embedded_jpegs: bool = True) -> bytes:
    """Rebuild the JPEG bytes from the sections made by ``encode_lossless`` with the model
    ``coded_with`` (an id from ``model_ids()``; None: the default model).
    ``embedded_jpegs=False`` (a nested .jrz) refuses an ``embedded`` section.

    Damaged or inconsistent sections raise ContainerError (the container's own checksums
    make that rare; this is the second line). A frame over ``options.max_coefficients``
    raises LimitExceeded before anything is allocated for it.
    """
    from .coding import decode_planes

    missing = {"scans", "coefficients"} - sections.keys()
    if missing:
        raise ContainerError(f"missing sections: {', '.join(sorted(missing))}")
    # Neither section can hold more than the original file (raw is a part of it).
    raw = header_dict.header_bytes(sections, options.max_input_bytes)
    if embedded.SECTION in sections or embedded.LEGACY_SECTION in sections:
        if not embedded_jpegs:
            raise ContainerError("embedded section inside an embedded JPEG")
        raw = _restore_embedded(raw, sections, options, coded_with)
    scans = container.unpack_small(sections["scans"], options.max_input_bytes, "scans section")
    side = unpack_side_info(scans)
    without_zero_bits = side_info_version(scans) == 2  # layout 2: see encode_lossless
    try:
        layout = read_layout(raw, options.max_coefficients)
    except Exception as error:  # the header bytes must parse as they did when encoding
        if isinstance(error, Unsupported) and error.reason == "image-too-large":
            limit = options.max_coefficients
            raise LimitExceeded(f"{error.detail}: over the limit of {limit} coefficients") from None
        raise ContainerError(f"raw section does not parse: {error}") from None
    if len(side) != len(layout.scans):
        raise ContainerError("scan count differs between the raw and scans sections")
    total = len(raw) + sum(info.entropy_coded_length for info in side)
    if total > options.max_input_bytes:  # the rebuilt JPEG would be over the limit
        raise ContainerError(f"scans section: claims a JPEG of {total} bytes")
    frame = layout.frame
    shapes = [frame.padded_grid(i) for i in range(len(frame.components))]
    sampling = [(c.h, c.v) for c in frame.components]
    zero_bits = known_zero_bits(layout) * np.int16(without_zero_bits)
    quant = _model_quant_tables(layout, zero_bits)
    from .model import load_model

    model = _model() if coded_with is None else load_model(coded_with)
    coefficients = np.empty((int(component_offsets(frame)[-1]), 64), dtype=np.int16)
    views = split_planes(layout, coefficients)
    decode_planes(sections["coefficients"], shapes, quant, sampling,
                  model.on_device(options.device), options.thread_count, out=views)
    for view, bits in zip(views, zero_bits, strict=True):
        if bits.any():
            view <<= bits
    return write_jpeg(JpegRecord(layout, raw, side, coefficients))


def _header_sections(raw: bytes, options: Options, embedded_jpegs: bool) -> dict[str, bytes]:
    """The header bytes against the dictionary; with ``embedded_jpegs``, the embedded JPEGs
    the model codes smaller than zstd does go to the ``embedded`` section instead (blanked
    in the header bytes), when that makes the two sections smaller than the header alone."""
    plain = {header_dict.RAW_SECTION: header_dict.compress(raw)}
    taken: list[tuple[int, int, bytes]] = []  # start, end, the embedded JPEG's sections
    for start, ends in embedded.candidates(raw, _metadata_regions(raw)) if embedded_jpegs else []:
        if taken and start < taken[-1][1]:
            continue  # inside an embedded JPEG already taken (its own thumbnail)
        for end in ends:  # the first end that makes a JPEG the model codes exactly
            nested = _nested_sections(raw[start:end], options)
            if nested is not None:
                if len(nested) < len(header_dict.compress(raw[start:end])):
                    taken.append((start, end, nested))
                break
    if not taken:
        return plain
    sections = {
        header_dict.RAW_SECTION: header_dict.compress(
            embedded.blank(raw, [(start, end) for start, end, _ in taken])),
        embedded.SECTION: embedded.pack([(start, end - start, nested)
                                          for start, end, nested in taken]),
    }
    smaller = sum(map(len, sections.values())) < len(plain[header_dict.RAW_SECTION])
    return sections if smaller else plain


def _metadata_regions(raw: bytes) -> list[tuple[int, int]]:
    """Where embedded JPEGs may sit in the header bytes: APPn / COM payloads, and the
    bytes after EOI (an MPO's second image)."""
    metadata = read_metadata(raw)
    regions = [segment.payload_span for segment in metadata.segments]
    if metadata.trailing_bytes:
        regions.append((len(raw) - metadata.trailing_bytes, len(raw)))
    return regions


def _nested_sections(jpeg: bytes, options: Options) -> bytes | None:
    """An embedded JPEG's lossless sections, packed, checked by decoding them; None when
    the model cannot code it (it then stays in the header bytes)."""
    try:
        packed = container.pack_sections(encode_lossless(jpeg, options, embedded_jpegs=False))
        decoded = _decode_entry(packed, len(jpeg), options, model_id(options.level))
        return packed if decoded == jpeg else None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # no JPEG after all, or one the model refuses (as in api.py, a
        return None  # foreign panic is a BaseException): it stays where it was


def _decode_entry(packed: bytes, length: int, options: Options, coded_with: bytes | None) -> bytes:
    """The embedded JPEG of an ``embedded-2`` entry, which must be ``length`` bytes. Its
    bytes are checked with the whole original's digest, once written back."""
    try:
        jpeg = decode_lossless(container.unpack_sections(packed), options, coded_with,
                               embedded_jpegs=False)
    except ContainerError as error:
        raise ContainerError(f"embedded section: {error}") from None
    if len(jpeg) != length:
        raise ContainerError("embedded section: an entry does not decode to its length")
    return jpeg


def _decode_nested(packed: bytes, room: int, options: Options) -> bytes:
    """The JPEG of a nested .jrz (formats 2 to 5), at most ``room`` bytes, checked against
    its SHA-256."""
    parsed = container.read(packed)
    if parsed.mode is not container.Mode.LOSSLESS or parsed.model_id not in model_ids():
        raise ContainerError("embedded section: an entry is no lossless .jrz of a known model")
    if parsed.original_length > room:
        raise ContainerError("embedded section: a span outside the header bytes")
    try:
        jpeg = decode_lossless(parsed.sections, options, parsed.model_id, embedded_jpegs=False)
    except ContainerError as error:
        raise ContainerError(f"embedded section: {error}") from None
    if len(jpeg) != parsed.original_length or container.sha256(jpeg) != parsed.original_sha256:
        raise ContainerError("embedded section: an entry does not decode to its checksum")
    return jpeg


def _restore_embedded(raw: bytes, sections: dict[str, bytes], options: Options,
                      coded_with: bytes | None) -> bytes:
    """The header bytes with the embedded JPEGs of the (one) embedded section decoded back
    in."""
    if embedded.SECTION in sections and embedded.LEGACY_SECTION in sections:
        raise ContainerError("two embedded sections")
    if embedded.SECTION in sections:
        entries = embedded.unpack(sections[embedded.SECTION])
        if any(length > len(raw) - offset for offset, length, _ in entries):
            raise ContainerError("embedded section: a span outside the header bytes")
        decoded = [(offset, _decode_entry(packed, length, options, coded_with))
                   for offset, length, packed in entries]
    else:
        decoded = [(offset, _decode_nested(nested, max(len(raw) - offset, 0), options))
                   for offset, nested in embedded.unpack_legacy(sections[embedded.LEGACY_SECTION])]
    return embedded.restore(raw, decoded)


def _model_quant_tables(layout: JpegLayout, zero_bits: np.ndarray) -> list[np.ndarray]:
    """The tables the model sees as context. A DQT entry of 0 (seen in real files, though
    T.81 forbids it) reads as 1: the model only needs a step size, not the exact value. A
    coefficient coded without its ``zero_bits`` low bits has a step 2**bits as large."""
    return [np.minimum(np.maximum(table, 1).astype(np.int64) << bits, 0xFFFF)
            for table, bits in zip(layout.quant_tables, zero_bits, strict=True)]
