"""Coefficient planes <-> one range-coded byte stream, driven by a context model.

The model splits the coding into steps (frequency groups, lattice subsets). For each step
it returns an integer prediction and an integer context index per symbol, computed only
from what the decoder already has. Here the residuals of one step are sorted by context
and each context's run is coded in a single constriction call with that context's fixed
table; escaped residuals then add their raw bits. The decoder asks the model for the same
contexts, so it decodes the same runs in the same order.

Stream layout: one version byte, then the range coder's 32-bit words, little-endian.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import constriction
import numpy as np
from numba import njit

from ..errors import ContainerError
from .symbols import raw_parts, raw_sizes_of, residuals_to_symbols, symbols_to_values
from .tables import CoderTables, coder_tables

STREAM_VERSION = 1


class ContextSession(Protocol):
    """One image being coded; see ClassicModel.begin for the reference implementation."""

    step_count: int

    def contexts(self, step: int) -> tuple[np.ndarray, np.ndarray]: ...

    def targets(self, step: int) -> np.ndarray: ...

    def encode_step(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def commit(self, step: int, values: np.ndarray) -> None: ...

    def finish(self) -> list[np.ndarray]: ...


class ContextModel(Protocol):
    """What the coder needs from a model: its id, its tables and a per-image session."""

    model_id: bytes
    probabilities: np.ndarray

    def begin(
        self,
        shapes: Sequence[tuple[int, int]],
        quant_tables: Sequence[np.ndarray],
        sampling: Sequence[tuple[int, int]],
        planes: Sequence[np.ndarray] | None = None,
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
def _prepare(values, pred, ctx, table_count, order, run_ctx, run_end, run_len, res, sym,
             sym_sorted):
    """Encoder side of one step: residual symbols sorted by context, plus run bounds."""
    n = values.size
    for t in range(n):
        res[t] = values[t] - pred[t]
    raw_count = residuals_to_symbols(res[:n], sym)
    runs = _group(ctx, table_count, order, run_ctx, run_end, run_len)
    for t in range(n):
        sym_sorted[t] = sym[order[t]]
    return runs, raw_count


class _Buffers:
    """Scratch arrays sized for the largest step of an image (runs: one per table)."""

    def __init__(self, size: int, tables: int) -> None:
        size = max(size, 1)
        self.order = np.empty(size, np.int64)
        self.run_ctx = np.empty(tables, np.int64)
        self.run_end = np.empty(tables, np.int64)
        self.run_len = np.empty(tables, np.int64)
        self.res = np.empty(size, np.int32)
        self.sym = np.empty(size, np.int32)
        self.sym_sorted = np.empty(size, np.int32)
        self.raw_sizes = np.empty(size, np.int32)


def _step_capacity(planes_or_shapes) -> int:
    return max(int(s[0]) * int(s[1]) for s in planes_or_shapes)


def encode_planes(
    planes: list[np.ndarray],
    quant_tables: list[np.ndarray],
    sampling: list[tuple[int, int]],
    model: ContextModel,
) -> bytes:
    """Code quantized DCT planes (natural order, int16 (bh, bw, 64)) into bytes."""
    shapes = [tuple(p.shape[:2]) for p in planes]
    session = model.begin(shapes, quant_tables, sampling, planes)
    tables = coder_tables(model)
    buf = _Buffers(_step_capacity(shapes), tables.count)
    encoder = constriction.stream.queue.RangeEncoder()
    models = tables.models
    for step in range(session.step_count):
        pred, ctx, values = session.encode_step(step)
        n = pred.size
        if n == 0:
            continue
        runs, raw_count = _prepare(
            values, pred, ctx, tables.count, buf.order, buf.run_ctx, buf.run_end, buf.run_len,
            buf.res, buf.sym, buf.sym_sorted,
        )
        if runs < 0:
            raise ValueError("model produced a context index outside its tables")
        sym_sorted = buf.sym_sorted
        start = 0
        for c, end in zip(buf.run_ctx[:runs].tolist(), buf.run_end[:runs].tolist(), strict=True):
            encoder.encode(sym_sorted[start:end], models[c])
            start = end
        if raw_count:
            raw_values = np.empty(raw_count, np.int32)
            raw_parts(buf.res[:n], buf.sym[:n], buf.order[:n], raw_values, buf.raw_sizes)
            encoder.encode(raw_values, tables.raw, buf.raw_sizes[:raw_count])
    session.finish()
    words = encoder.get_compressed().astype("<u4", copy=False)
    return bytes([STREAM_VERSION]) + words.tobytes()


def decode_planes(
    data: bytes,
    shapes: list[tuple[int, int]],
    quant_tables: list[np.ndarray],
    sampling: list[tuple[int, int]],
    model: ContextModel,
) -> list[np.ndarray]:
    """Invert encode_planes. A damaged stream raises ContainerError, never a panic."""
    if len(data) < 1 or (len(data) - 1) % 4 or data[0] != STREAM_VERSION:
        raise ContainerError("coefficient stream: bad length or version")
    words = np.frombuffer(data, dtype="<u4", offset=1).astype(np.uint32)
    session = model.begin(shapes, quant_tables, sampling, None)
    tables = coder_tables(model)
    try:
        decoder = constriction.stream.queue.RangeDecoder(words)
        _decode_steps(decoder, session, tables, _Buffers(_step_capacity(shapes), tables.count))
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


def _decode_steps(decoder, session: ContextSession, tables: CoderTables, buf: _Buffers) -> None:
    models = tables.models
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
