"""Coefficient planes <-> one range-coded byte stream, driven by a context model.

The model splits the coding into steps (frequency groups, lattice subsets). For each step
it returns an integer prediction and an integer context index per symbol, computed only
from what the decoder already has; the decoder asks the model for the same contexts, so
it decodes the same symbols in the same order. Three stream versions, the first byte:

- 4 (written since 2026-11-27): version 3 with side contexts for the AC coefficients
  (the session's side_contexts): signs adapt per sign context, and the first stop
  decisions mix the counts with four coarse magnitude contexts (adaptive.py).
- 3 (still read; written only on request): each step's residuals in the model's order,
  as binary decisions whose probabilities start at the fitted tables and adapt to the
  image per fine context (adaptive.py, rangecoder.py); then the coder's bytes.
- 2 (still read; written only on request, for comparisons): the residuals of a step
  sorted by context, each context's run coded in one constriction call with its fixed
  table, escaped residuals then their raw bits; the range coder's 32-bit words,
  little-endian, starting with the per-image table adaptations (adapt.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import constriction
import numpy as np
from numba import njit

from ..errors import ContainerError
from . import adapt
from .adaptive import AdaptiveDecoder, AdaptiveEncoder
from .symbols import ALPHABET, raw_parts, raw_sizes_of, residuals_to_symbols, symbols_to_values
from .tables import CoderTables, coder_tables

STREAM_VERSION = 4  # what encode_planes writes
SIDELESS_VERSION = 3  # adaptive, without side contexts
FIXED_TABLES_VERSION = 2


class ContextSession(Protocol):
    """One image being coded; see ClassicModel.begin for the reference implementation."""

    step_count: int

    def contexts(self, step: int) -> tuple[np.ndarray, np.ndarray]: ...

    def targets(self, step: int) -> np.ndarray: ...

    def encode_step(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def commit(self, step: int, values: np.ndarray) -> None: ...

    def side_contexts(self) -> np.ndarray: ...

    def finish(self) -> list[np.ndarray]: ...


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


@njit(cache=True)
def _group(ctx, table_count, order, run_ctx, run_end, run_len):
    """Counting sort of symbol positions by context; returns the number of runs (-1: bad)."""
    n = ctx.size
    lo = ctx[0]
    hi = ctx[0]
    for t in range(n):
        c = ctx[t]
        lo = min(lo, c)
        hi = max(hi, c)
    if lo < 0 or hi >= table_count:
        return -1
    span = hi - lo + 1
    start = np.zeros(span, np.int64)
    for t in range(n):
        start[ctx[t] - lo] += 1
    runs = 0
    total = 0
    for v in range(span):
        count = start[v]
        start[v] = total
        if count > 0:
            total += count
            run_ctx[runs] = v + lo
            run_end[runs] = total
            run_len[runs] = count
            runs += 1
    for t in range(n):
        v = ctx[t] - lo
        order[start[v]] = t
        start[v] += 1
    return runs


@njit(cache=True)
def _prepare(values, pred, ctx, histogram, order, runs_out, scratch, sym_sorted):
    """Encoder pass 1 of one step: residual symbols sorted by context, the runs (rows of
    runs_out: context, end, length), the raw bits of escapes (rows 2 and 3 of scratch: value,
    size) and the per-table symbol histogram. Returns (runs, raw count); runs is -1 when a
    context is outside the tables."""
    n = values.size
    res, sym = scratch[0], scratch[1]
    for t in range(n):
        res[t] = values[t] - pred[t]
    raw_count = residuals_to_symbols(res[:n], sym)
    runs = _group(ctx, histogram.shape[0], order, runs_out[0], runs_out[1], runs_out[2])
    if runs < 0:
        return -1, 0
    for t in range(n):
        sym_sorted[t] = sym[order[t]]
    start = 0
    for r in range(runs):  # one table row at a time: the histogram stays in cache
        row = histogram[runs_out[0, r]]
        end = runs_out[1, r]
        for t in range(start, end):
            row[sym_sorted[t]] += 1
        start = end
    if raw_count:
        raw_parts(res[:n], sym, order[:n], scratch[2], scratch[3])
    return runs, raw_count


class _Buffers:
    """Scratch arrays sized for the largest step of an image (runs: one per table)."""

    def __init__(self, size: int, tables: int, encoder: bool = False) -> None:
        size = max(size, 1)
        self.order = np.empty(size, np.int64)
        self.run_ctx = np.empty(tables, np.int64)
        self.run_end = np.empty(tables, np.int64)
        self.run_len = np.empty(tables, np.int64)
        self.res = np.empty(size, np.int32)
        self.raw_sizes = np.empty(size, np.int32)
        if encoder:
            self.runs = np.empty((3, tables), np.int64)  # context, end, length per run
            self.scratch = np.empty((4, size), np.int32)  # residual, symbol, raw value, size


def _step_capacity(planes_or_shapes) -> int:
    return max(int(s[0]) * int(s[1]) for s in planes_or_shapes)


def encode_planes(
    planes: list[np.ndarray],
    quant_tables: list[np.ndarray],
    sampling: list[tuple[int, int]],
    model: ContextModel,
    version: int = STREAM_VERSION,
) -> bytes:
    """Code quantized DCT planes (natural order, int16 (bh, bw, 64)) into bytes, as stream
    `version` (4; 3 or 2 for comparisons)."""
    if version == FIXED_TABLES_VERSION:
        return _encode_fixed(planes, quant_tables, sampling, model)
    if version not in (STREAM_VERSION, SIDELESS_VERSION):
        raise ValueError(f"unknown coefficient stream version {version}")
    shapes = [tuple(p.shape[:2]) for p in planes]
    session = model.begin(shapes, quant_tables, sampling, planes, fine=True)
    encoder = AdaptiveEncoder(model, side_contexts=version == STREAM_VERSION)
    for step in range(session.step_count):
        pred, fine, values = session.encode_step(step)
        if pred.size:
            encoder.code(fine, values, pred, session.side_contexts())
    session.finish()
    return bytes([version]) + encoder.finish()


def _encode_fixed(
    planes: list[np.ndarray],
    quant_tables: list[np.ndarray],
    sampling: list[tuple[int, int]],
    model: ContextModel,
) -> bytes:
    """Stream version 2. Two passes: every step's contexts and symbols first (the model's
    state needs no coder), then the tables worth adapting to this image (adapt.py), then
    the coding."""
    shapes = [tuple(p.shape[:2]) for p in planes]
    session = model.begin(shapes, quant_tables, sampling, planes)
    tables = coder_tables(model)
    buf = _Buffers(_step_capacity(shapes), tables.count, encoder=True)
    histogram = np.zeros((tables.count, ALPHABET), np.int32)
    coded = []
    for step in range(session.step_count):
        pred, ctx, values = session.encode_step(step)
        n = pred.size
        if n == 0:
            continue
        sym_sorted = np.empty(n, np.int32)
        runs, raw_count = _prepare(values, pred, ctx, histogram, buf.order, buf.runs,
                                   buf.scratch, sym_sorted)
        if runs < 0:
            raise ValueError("model produced a context index outside its tables")
        raw = buf.scratch[2:, :raw_count].copy() if raw_count else None
        coded.append((sym_sorted, buf.runs[:2, :runs].tolist(), raw))
    session.finish()
    encoder = constriction.stream.queue.RangeEncoder()
    chosen = adapt.choose(histogram, tables.frequencies, tables.log_frequencies)
    adapted = adapt.encode_header(encoder, chosen, tables.frequencies)
    models = adapt.models_for(tables, chosen[0], adapted)
    for sym_sorted, (run_ctx, run_end), raw in coded:
        start = 0
        for c, end in zip(run_ctx, run_end, strict=True):
            encoder.encode(sym_sorted[start:end], models[c])
            start = end
        if raw is not None:
            encoder.encode(raw[0], tables.raw, raw[1])
    words = encoder.get_compressed().astype("<u4", copy=False)
    return bytes([FIXED_TABLES_VERSION]) + words.tobytes()


def decode_planes(
    data: bytes,
    shapes: list[tuple[int, int]],
    quant_tables: list[np.ndarray],
    sampling: list[tuple[int, int]],
    model: ContextModel,
) -> list[np.ndarray]:
    """Invert encode_planes (either version). A damaged stream raises ContainerError,
    never a panic."""
    if len(data) >= 1 and data[0] in (STREAM_VERSION, SIDELESS_VERSION):
        return _decode_adaptive(data, shapes, quant_tables, sampling, model)
    if len(data) < 1 or (len(data) - 1) % 4 or data[0] != FIXED_TABLES_VERSION:
        raise ContainerError("coefficient stream: bad length or version")
    words = np.frombuffer(data, dtype="<u4", offset=1).astype(np.uint32)
    session = model.begin(shapes, quant_tables, sampling, None)
    tables = coder_tables(model)
    try:
        decoder = constriction.stream.queue.RangeDecoder(words)
        models = adapt.models_for(tables, *adapt.decode_header(decoder, tables.frequencies))
        _decode_steps(decoder, session, tables, models,
                      _Buffers(_step_capacity(shapes), tables.count))
        exhausted = decoder.maybe_exhausted()
    except ContainerError:
        raise
    except BaseException as exc:  # constriction's PanicException derives from BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit | MemoryError):
            raise
        raise ContainerError(f"coefficient stream: undecodable ({exc})") from None
    if not exhausted:
        raise ContainerError("coefficient stream: data left after the last coefficient")
    return session.finish()


def _decode_adaptive(data: bytes, shapes, quant_tables, sampling,
                     model: ContextModel) -> list[np.ndarray]:
    """Stream versions 3 and 4: garbage decodes to values that the session's commits
    reject, or to a byte count that does not match."""
    session = model.begin(shapes, quant_tables, sampling, None, fine=True)
    decoder = AdaptiveDecoder(data[1:], model, side_contexts=data[0] == STREAM_VERSION)
    values = np.empty(_step_capacity(shapes), np.int32)
    for step in range(session.step_count):
        pred, fine = session.contexts(step)
        n = pred.size
        if n == 0:
            continue
        if decoder.bytes_read() > len(data):
            raise ContainerError("coefficient stream: truncated")
        decoder.code(fine, pred, session.side_contexts(), values[:n])
        session.commit(step, values[:n])
    read = decoder.bytes_read()
    if read != len(data) - 1:
        raise ContainerError("coefficient stream: " + (
            "truncated" if read > len(data) - 1 else "data left after the last coefficient"))
    return session.finish()


def _decode_steps(decoder, session: ContextSession, tables: CoderTables, models: list,
                  buf: _Buffers) -> None:
    for step in range(session.step_count):
        pred, ctx = session.contexts(step)
        n = pred.size
        if n == 0:
            continue
        runs = _group(ctx, tables.count, buf.order, buf.run_ctx, buf.run_end, buf.run_len)
        if runs < 0:
            raise ValueError("model produced a context index outside its tables")
        decode = decoder.decode
        parts = [decode(models[c], m)
                 for c, m in zip(buf.run_ctx[:runs].tolist(), buf.run_len[:runs].tolist(),
                                 strict=True)]
        sym_sorted = parts[0] if runs == 1 else np.concatenate(parts)
        raw_count = raw_sizes_of(sym_sorted, buf.raw_sizes)
        if raw_count:
            raw_values = decoder.decode(tables.raw, buf.raw_sizes[:raw_count]).astype(np.int32)
        else:
            raw_values = buf.raw_sizes[:0]
        values = buf.res[:n]
        symbols_to_values(sym_sorted, buf.order[:n], raw_values, pred, values)
        session.commit(step, values)


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
