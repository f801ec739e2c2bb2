"""Quantized coefficients plus recorded side information -> the same entropy-coded bytes.

Mirror of scan_decode: the encoder behaves as libjpeg does (greedy EOB runs capped at
0x7FFF, ZRLs only before a nonzero coefficient, pad bits 1) except where the scan's side
information records that the original encoder chose otherwise. The bit writer's state is a
tuple threaded through the helpers, so numba keeps it in registers. Each kind of scan has
its own kernel (see scan_decode.kernels_by_mode), so that a file compiles only the kinds it
holds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .scan_decode import (
    MODE_AC_FIRST,
    MODE_AC_REFINE,
    MODE_DC_FIRST,
    MODE_DC_REFINE,
    MODE_SEQUENTIAL,
    ZIGZAG,
    kernels_by_mode,
)

ENCODE_OK, ENCODE_OVERFLOW, ENCODE_MISSING_CODE = 0, 1, 2
# Most bytes one block can add (64 symbols of 16 + 16 bits, every byte stuffed).
BLOCK_BYTES_BOUND = 64 * 4 * 2 + 16
BIT_LENGTH = np.array([int(v).bit_length() for v in range(1 << 16)], dtype=np.int64)
# Integers that reach the helpers start as numpy integers: numba would type a Python int as
# a literal and compile the helper once more for it.
_ZERO, _ONE = np.int64(0), np.int64(1)
_EOB, _ZRL = np.int64(0x00), np.int64(0xF0)
_NEW_WRITER = (_ZERO,) * 4  # output position, accumulator, bits held, missing-code flag


def encode_scan(out, order, block_comp, blocks_per_mcu, restart_interval,
                dc_codes, dc_lengths, ac_codes, ac_lengths, coef, mode, ss, se, al,
                pads, resets, zero_runs, cut=None):  # fmt: skip
    """Encode one scan into ``out``; returns (status, bytes written).

    ``out`` must hold the expected length plus BLOCK_BYTES_BOUND; writing past the
    expected length is reported as ENCODE_OVERFLOW. ``cut``: encode only the blocks before
    it (see scan_decode.decode_scan), ending with the pending EOB run and the whole bytes
    written so far: no pad bits in the interval it cuts, no restart marker before it.
    """
    coded = order.shape[0] if cut is None else cut
    return _ENCODERS[mode](out, order, block_comp, blocks_per_mcu, restart_interval,
                           dc_codes, dc_lengths, ac_codes, ac_lengths, coef, ss, se, al,
                           pads, resets, zero_runs, coded)  # fmt: skip


# The innermost helper is inlined by numba: LLVM leaves it a call, which makes writing over
# twice as slow. Inlining the other helpers as well makes compiling slower, writing no faster.
@njit(cache=True, inline="always")
def _put(out, w, value, count):
    """Append ``count`` low bits of ``value``, stuffing a zero after every 0xFF byte.

    Never writes past ``out``: damaged side information or coefficients (a hostile .jrz)
    can make a scan outgrow its buffer; such bytes all land on its last byte, and the
    position, which still counts them, makes the caller report ENCODE_OVERFLOW.
    """
    pos, acc, nbits, missing = w
    acc = (acc << count) | (value & ((1 << count) - 1))
    nbits += count
    while nbits >= 8:
        nbits -= 8
        byte = (acc >> nbits) & 0xFF
        last = out.shape[0] - 1  # bytes past it all land on it
        out[min(pos, last)] = byte
        pos += 1
        if byte == 0xFF:
            out[min(pos, last)] = 0
            pos += 1
    return pos, acc & ((1 << nbits) - 1), nbits, missing


@njit(cache=True)
def _code(out, w, codes, lengths, t, symbol, bits, count):
    """Append the Huffman code of ``symbol`` and then ``count`` low bits of ``bits``, in one
    _put; flags the writer when the table has no code for the symbol."""
    length = np.int64(lengths[t, symbol])
    value = (np.int64(codes[t, symbol]) << count) | (bits & ((1 << count) - 1))
    pos, acc, nbits, missing = _put(out, w, value, length + count)
    return pos, acc, nbits, 1 if length == 0 else missing


@njit(cache=True)
def _value(out, w, codes, lengths, t, run, value):
    """Huffman symbol (run, size) then the value's bits (negative values as value-1)."""
    size = BIT_LENGTH[abs(value) & 0xFFFF] if abs(value) < 0x10000 else 17
    bits = value - 1 if value < 0 else value
    return _code(out, w, codes, lengths, t, (run << 4) | size, bits, size)


@njit(cache=True)
def _put_bit_list(out, w, bits, count):
    """Append ``bits[:count]`` (one bit per entry), 16 at a time."""
    for start in range(0, count, 16):
        stop = min(start + 16, count)
        value = _ZERO
        for j in range(start, stop):
            value = (value << 1) | np.int64(bits[j])
        w = _put(out, w, value, stop - start)
    return w


@njit(cache=True)
def _eob_run(out, w, codes, lengths, t, run):
    """Write a pending EOB run (nothing if ``run`` is 0)."""
    if run == 0:
        return w
    size = BIT_LENGTH[run] - 1
    return _code(out, w, codes, lengths, t, size << 4, run, size)


@njit(cache=True)
def _refinement_eob_run(out, w, codes, lengths, t, run, pending, n_pending):
    """Write a pending EOB run and the correction bits that wait for it."""
    return _put_bit_list(out, _eob_run(out, w, codes, lengths, t, run), pending, n_pending)


def _scan_encoder(mode):
    """The encoder of scans of kind ``mode`` (see kernels_by_mode)."""

    @njit(cache=True)
    def encode(out, order, block_comp, blocks_per_mcu, restart_interval,
               dc_codes, dc_lengths, ac_codes, ac_lengths, coef, ss, se, al,
               pads, resets, zero_runs, coded):  # fmt: skip
        limit = out.shape[0] - BLOCK_BYTES_BOUND
        w = _NEW_WRITER
        blocks = order.shape[0]
        per_segment = restart_interval * blocks_per_mcu if restart_interval > 0 else blocks
        segments = (blocks + per_segment - 1) // per_segment
        pred = np.zeros(4, dtype=np.int64)
        values = np.zeros(64, dtype=np.int64)
        if mode == MODE_AC_REFINE:
            corrections = np.zeros(64, dtype=np.uint8)  # this block's correction bits (BR)
            pending = np.empty(64 * min(blocks, 0x8000), np.uint8)  # its run's (BE)
        reset_next = 0
        zero_next = 0
        for segment in range(segments):
            first = segment * per_segment
            last_block = min(first + per_segment, blocks)
            if first >= coded:
                break
            if segment > 0:  # the restart marker that closes the interval before
                pos, acc, nbits, missing = w
                if pos + 1 < out.shape[0]:
                    out[pos] = 0xFF
                    out[pos + 1] = 0xD0 + ((segment - 1) % 8)
                w = (pos + 2, acc, nbits, missing)
            pred[:] = 0
            eob_run = _ZERO
            n_pending = _ZERO
            for i in range(first, min(last_block, coded)):
                b = order[i]
                t = block_comp[i]
                reset = reset_next < resets.shape[0] and resets[reset_next] == i
                if reset:
                    reset_next += 1
                extra_zero_runs = 0
                if zero_next < zero_runs.shape[0] and zero_runs[zero_next, 0] == i:
                    extra_zero_runs = zero_runs[zero_next, 1]
                    zero_next += 1
                if mode == MODE_SEQUENTIAL or mode == MODE_DC_FIRST:
                    dc = np.int64(coef[b, 0]) >> al
                    w = _value(out, w, dc_codes, dc_lengths, t, _ZERO, dc - pred[t])
                    pred[t] = dc
                elif mode == MODE_DC_REFINE:
                    w = _put(out, w, (np.int64(coef[b, 0]) >> al) & 1, _ONE)
                if mode == MODE_SEQUENTIAL or mode == MODE_AC_FIRST:
                    start = 1 if mode == MODE_SEQUENTIAL else ss
                    end = 63 if mode == MODE_SEQUENTIAL else se
                    last = start - 1
                    for k in range(start, end + 1):
                        v = np.int64(coef[b, ZIGZAG[k]])
                        if al > 0:
                            v = (abs(v) >> al) * (1 if v > 0 else -1)
                        values[k] = v
                        if v != 0:
                            last = k
                    if mode == MODE_AC_FIRST and (reset or last >= start or extra_zero_runs):
                        w = _eob_run(out, w, ac_codes, ac_lengths, t, eob_run)
                        eob_run = 0
                    run = 0
                    for k in range(start, last + 1):
                        if values[k] == 0:
                            run += 1
                            continue
                        while run > 15:
                            w = _code(out, w, ac_codes, ac_lengths, t, _ZRL, _ZERO, _ZERO)
                            run -= 16
                        w = _value(out, w, ac_codes, ac_lengths, t, run, values[k])
                        run = 0
                    for _ in range(extra_zero_runs):
                        w = _code(out, w, ac_codes, ac_lengths, t, _ZRL, _ZERO, _ZERO)
                    if last + 1 + 16 * extra_zero_runs <= end:
                        if mode == MODE_SEQUENTIAL:
                            w = _code(out, w, ac_codes, ac_lengths, t, _EOB, _ZERO, _ZERO)
                        else:
                            eob_run += 1
                            if eob_run == 0x7FFF:
                                w = _eob_run(out, w, ac_codes, ac_lengths, t, eob_run)
                                eob_run = 0
                elif mode == MODE_AC_REFINE:
                    last_new = -1
                    for k in range(ss, se + 1):
                        v = abs(np.int64(coef[b, ZIGZAG[k]])) >> al
                        values[k] = v
                        if v == 1:
                            last_new = k
                    if reset or last_new >= 0:  # the run ends; this block codes a symbol
                        w = _refinement_eob_run(out, w, ac_codes, ac_lengths, t, eob_run,
                                                pending, n_pending)  # fmt: skip
                        eob_run = 0
                        n_pending = 0
                    run = 0
                    n_corrections = _ZERO
                    for k in range(ss, se + 1):
                        v = values[k]
                        if v == 0:
                            run += 1
                            continue
                        while run > 15 and k <= last_new:
                            w = _code(out, w, ac_codes, ac_lengths, t, _ZRL, _ZERO, _ZERO)
                            run -= 16
                            w = _put_bit_list(out, w, corrections, n_corrections)
                            n_corrections = 0
                        if v > 1:
                            corrections[n_corrections] = v & 1
                            n_corrections += 1
                            continue
                        sign = 0 if coef[b, ZIGZAG[k]] < 0 else 1
                        w = _code(out, w, ac_codes, ac_lengths, t, (run << 4) | 1, sign, _ONE)
                        w = _put_bit_list(out, w, corrections, n_corrections)
                        n_corrections = 0
                        run = 0
                    if run > 0 or n_corrections > 0:
                        eob_run += 1
                        for j in range(n_corrections):
                            pending[n_pending + j] = corrections[j]
                        n_pending += n_corrections
                        if eob_run == 0x7FFF:
                            w = _refinement_eob_run(out, w, ac_codes, ac_lengths, t, eob_run,
                                                    pending, n_pending)  # fmt: skip
                            eob_run = 0
                            n_pending = 0
                if w[0] > limit:
                    return ENCODE_OVERFLOW, 0
            if mode == MODE_AC_FIRST:
                w = _eob_run(out, w, ac_codes, ac_lengths, block_comp[0], eob_run)
            elif mode == MODE_AC_REFINE:
                w = _refinement_eob_run(out, w, ac_codes, ac_lengths, block_comp[0], eob_run,
                                        pending, n_pending)  # fmt: skip
            if last_block <= coded:  # a cut interval keeps only its whole bytes
                pad = np.int64(pads[segment])  # on a byte boundary, nonzero: a whole byte
                w = _put(out, w, pad, (8 - w[2]) % 8 if w[2] or pad == 0 else 8)
            if w[0] > limit:
                return ENCODE_OVERFLOW, 0
        if w[3]:
            return ENCODE_MISSING_CODE, 0
        return ENCODE_OK, w[0]

    return encode


_ENCODERS = kernels_by_mode(_scan_encoder)
