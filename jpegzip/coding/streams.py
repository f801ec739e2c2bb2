"""Coefficient planes <-> one range-coded byte stream, driven by a context model.

The model splits the coding into steps (frequency groups, lattice subsets). For each step
it returns an integer prediction and an integer context index per symbol, computed only
from what the decoder already has; the decoder asks the model for the same contexts, so
it decodes the same symbols in the same order. Each residual is coded as binary decisions
that adapt to the image, with side contexts for the AC coefficients (adaptive.py).

A large image is cut into parts (parts.py: bands of whole MCU rows, chosen from the image
size alone). The first part is coded alone; every later part starts from the adaptive
state the first one ended with (so it need not learn the photo from scratch) and is
coded independently of the others, so they encode and decode on parallel threads, and
the bytes never depend on the thread count. The first byte says which layout follows:

- 4: one part, the adaptive coder's bytes;
- 5: several parts: their count and the byte length of each but the last (LEB128
  varints), then each part as the body of a version-4 stream.

Versions 2 and 3 (fixed tables with sent corrections; adaptive without side contexts) were
written before 2026-12-07, before anything was released, and are retired: they are refused
with a clear error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from .. import varint
from ..errors import ContainerError
from .adaptive import AdaptiveDecoder, AdaptiveEncoder, AdaptiveState
from .parts import bands, split_planes
from .symbols import residuals_to_symbols

STREAM_VERSION = 4  # one part
PARTS_VERSION = 5  # several parts
RETIRED_VERSIONS = (2, 3)


class ContextSession(Protocol):
    """One image being coded; see ClassicModel.begin for the reference implementation."""

    step_count: int

    def contexts(self, step: int) -> tuple[np.ndarray, np.ndarray]: ...

    def targets(self, step: int) -> np.ndarray: ...

    def encode_step(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def commit(self, step: int, values: np.ndarray) -> None: ...

    def side_contexts(self) -> np.ndarray: ...

    def finish(self, planes: Sequence[np.ndarray] | None = None) -> list[np.ndarray]: ...


class ContextModel(Protocol):
    """What the coder needs from a model: its id, its tables, the map of its fine contexts
    to them and a per-image session (reporting table or fine contexts)."""

    model_id: bytes
    probabilities: np.ndarray
    context_map: np.ndarray
    sign_context_count: int
    magnitude_context_count: int

    def begin(
        self,
        shapes: Sequence[tuple[int, int]],
        quant_tables: Sequence[np.ndarray],
        sampling: Sequence[tuple[int, int]],
        planes: Sequence[np.ndarray] | None = None,
        fine: bool = False,
    ) -> ContextSession: ...


def encode_planes(
    planes: list[np.ndarray],
    quant_tables: list[np.ndarray],
    sampling: list[tuple[int, int]],
    model: ContextModel,
    threads: int = 1,
) -> bytes:
    """Code quantized DCT planes (natural order, int16 (bh, bw, 64)) into bytes; a large
    image's parts on up to ``threads`` threads (the bytes are the same for any count)."""
    parts = bands([tuple(p.shape[:2]) for p in planes], sampling)
    first, state = _encode_part(split_planes(planes, parts[0]), quant_tables, sampling, model)
    if len(parts) == 1:
        return bytes([STREAM_VERSION]) + first
    rest = _map(lambda spans: _encode_part(split_planes(planes, spans), quant_tables,
                                           sampling, model, state)[0], parts[1:], threads)
    coded = [first, *rest]
    lengths = b"".join(varint.encode(len(part)) for part in coded[:-1])
    return bytes([PARTS_VERSION]) + varint.encode(len(coded)) + lengths + b"".join(coded)


def decode_planes(
    data: bytes,
    shapes: list[tuple[int, int]],
    quant_tables: list[np.ndarray],
    sampling: list[tuple[int, int]],
    model: ContextModel,
    threads: int = 1,
    out: list[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """Invert encode_planes, into ``out`` where given (per component an int16 (h, w, 64)
    array: each part decodes straight into its band, no copies). A damaged stream raises
    ContainerError, never a panic."""
    if not data:
        raise ContainerError("coefficient stream: empty")
    version = data[0]
    if version in RETIRED_VERSIONS:
        raise ContainerError(f"coefficient stream version {version} was retired before the "
                             "first release; decode this file with the jpegzip that made it")
    parts = bands(shapes, sampling)
    if version != (STREAM_VERSION if len(parts) == 1 else PARTS_VERSION):
        raise ContainerError(f"coefficient stream: version {version} is unknown here or "
                             "does not fit the image")
    coded = [data[1:]] if len(parts) == 1 else _split_parts(data, len(parts))
    wanted = [(int(h), int(w), 64) for h, w in shapes]
    if out is None:
        out = [np.empty(shape, np.int16) for shape in wanted]
    elif [p.shape for p in out] != wanted or any(p.dtype != np.int16 for p in out):
        raise ValueError(f"the planes to decode into must be int16 {wanted}")
    state = _decode_part(coded[0], split_planes(out, parts[0]), quant_tables, sampling,
                         model)
    _map(lambda item: _decode_part(item[0], split_planes(out, item[1]), quant_tables,
                                   sampling, model, state),
         list(zip(coded[1:], parts[1:], strict=True)), threads)
    return out


def _encode_part(planes, quant_tables, sampling, model: ContextModel,
                 start: AdaptiveState | None = None) -> tuple[bytes, AdaptiveState]:
    """The adaptive coder's bytes for one image or part, from a fresh adaptive state or a
    copy of ``start``, and the state it ends with."""
    shapes = [tuple(p.shape[:2]) for p in planes]
    session = model.begin(shapes, quant_tables, sampling, planes, fine=True)
    encoder = AdaptiveEncoder(model, start)
    for step in range(session.step_count):
        pred, fine, values = session.encode_step(step)
        if pred.size:
            encoder.code(fine, values, pred, session.side_contexts())
    session.finish()
    return encoder.finish(), encoder.adaptive


def _decode_part(data: bytes, planes: list[np.ndarray], quant_tables, sampling,
                 model: ContextModel, start: AdaptiveState | None = None) -> AdaptiveState:
    """Invert _encode_part into ``planes`` (the part's band of each component) and return
    the adaptive state it ends with: garbage decodes to values that the session's commits
    reject, or to a byte count that does not match."""
    shapes = [tuple(p.shape[:2]) for p in planes]
    session = model.begin(shapes, quant_tables, sampling, None, fine=True)
    decoder = AdaptiveDecoder(data, model, start)
    values = np.empty(max([1] + [int(s[0]) * int(s[1]) for s in shapes]), np.int32)
    for step in range(session.step_count):
        pred, fine = session.contexts(step)
        n = pred.size
        if n == 0:
            continue
        if decoder.bytes_read() > len(data) + 1:
            raise ContainerError("coefficient stream: truncated")
        decoder.code(fine, pred, session.side_contexts(), values[:n])
        session.commit(step, values[:n])
    read = decoder.bytes_read()
    if read != len(data):
        raise ContainerError("coefficient stream: " + (
            "truncated" if read > len(data) else "data left after the last coefficient"))
    session.finish(planes)
    return decoder.adaptive


def _map(function, items: list, threads: int) -> list:
    """function over items, in order, on up to ``threads`` threads."""
    if threads <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(min(threads, len(items)), thread_name_prefix="jpegzip") as pool:
        return list(pool.map(function, items))


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    try:
        return varint.decode(data, at)
    except IndexError:
        raise ContainerError("coefficient stream: truncated part table") from None
    except ValueError:
        raise ContainerError("coefficient stream: a part length is too long") from None


def _split_parts(data: bytes, expected: int) -> list[bytes]:
    """The parts of a version-5 stream; their count must be the one the image implies."""
    count, at = _read_varint(data, 1)
    if count != expected:
        raise ContainerError(f"coefficient stream: {count} parts, the image has {expected}")
    lengths = []
    for _ in range(count - 1):
        length, at = _read_varint(data, at)
        lengths.append(length)
    if sum(lengths) > len(data) - at:
        raise ContainerError("coefficient stream: parts run past its end")
    parts = []
    for length in lengths:
        parts.append(data[at:at + length])
        at += length
    parts.append(data[at:])
    return parts


def iter_symbols(
    planes: list[np.ndarray],
    quant_tables: list[np.ndarray],
    sampling: list[tuple[int, int]],
    model: ContextModel,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(context, symbol) pairs of every step, as the encoder would code them (for fitting)."""
    shapes = [tuple(p.shape[:2]) for p in planes]
    session = model.begin(shapes, quant_tables, sampling, planes)
    for step in range(session.step_count):
        pred, ctx, values = session.encode_step(step)
        if pred.size == 0:
            continue
        sym = np.empty(pred.size, np.int32)
        residuals_to_symbols((values - pred).astype(np.int32), sym)
        yield ctx.copy(), sym
    session.finish()
