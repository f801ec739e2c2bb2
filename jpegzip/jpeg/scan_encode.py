"""Quantized coefficients plus recorded side information -> the same entropy-coded bytes.

Mirror of scan_decode: the encoder behaves as libjpeg does (greedy EOB runs capped at
0x7FFF, ZRLs only before a nonzero coefficient, pad bits 1) except where the scan's side
information records that the original encoder chose otherwise. The bit writer's state
(output position, bit accumulator, bit count) lives in local variables threaded through
inlined helpers, so numba keeps it in registers.
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
)

ENCODE_OK, ENCODE_OVERFLOW, ENCODE_MISSING_CODE = 0, 1, 2
# Most bytes one block can add (64 symbols of 16 + 16 bits, every byte stuffed).
BLOCK_BYTES_BOUND = 64 * 4 * 2 + 16
_BIT_LENGTH = np.array([int(v).bit_length() for v in range(1 << 16)], dtype=np.int64)


@njit(cache=True, inline="always")
def _put(out, pos, acc, nbits, value, count):
    """Append ``count`` low bits of ``value``, stuffing a zero after every 0xFF byte."""
    acc = (acc << count) | (value & ((1 << count) - 1))
    nbits += count
    while nbits >= 8:
        nbits -= 8
        byte = (acc >> nbits) & 0xFF
        out[pos] = byte
        pos += 1
        if byte == 0xFF:
            out[pos] = 0
            pos += 1
    return pos, acc & ((1 << nbits) - 1), nbits


@njit(cache=True, inline="always")
def _code(out, pos, acc, nbits, codes, lengths, t, symbol):
    """Append a Huffman code; the last value is 1 when the table has no code for it."""
    length = np.int64(lengths[t, symbol])
    pos, acc, nbits = _put(out, pos, acc, nbits, np.int64(codes[t, symbol]), length)
    return pos, acc, nbits, 1 if length == 0 else 0


@njit(cache=True, inline="always")
def _value(out, pos, acc, nbits, codes, lengths, t, run, value):
    """Huffman symbol (run, size) then the value's bits (negative values as value-1)."""
    size = _BIT_LENGTH[abs(value) & 0xFFFF] if abs(value) < 0x10000 else 17
    pos, acc, nbits, missing = _code(out, pos, acc, nbits, codes, lengths, t, (run << 4) | size)
    pos, acc, nbits = _put(out, pos, acc, nbits, value - 1 if value < 0 else value, size)
    return pos, acc, nbits, missing


@njit(cache=True)
def _eob_run(out, pos, acc, nbits, codes, lengths, t, run, corrections, n_corrections):
    """Write a pending EOB run and the correction bits that wait for it."""
    missing = 0
    if run > 0:
        size = _BIT_LENGTH[run] - 1
        pos, acc, nbits, missing = _code(out, pos, acc, nbits, codes, lengths, t, size << 4)
        pos, acc, nbits = _put(out, pos, acc, nbits, run, size)
    for j in range(n_corrections):
        pos, acc, nbits = _put(out, pos, acc, nbits, np.int64(corrections[j]), 1)
    return pos, acc, nbits, missing


@njit(cache=True)
def encode_scan(out, order, block_comp, blocks_per_mcu, restart_interval,
                dc_codes, dc_lengths, ac_codes, ac_lengths, coef, mode, ss, se, al,
                pads, resets, zero_runs):  # fmt: skip
    """Encode one scan into ``out``; returns (status, bytes written).

    ``out`` must hold the expected length plus BLOCK_BYTES_BOUND; writing past the
    expected length is reported as ENCODE_OVERFLOW.
    """
    limit = out.shape[0] - BLOCK_BYTES_BOUND
    pos, acc, nbits, missing = 0, 0, 0, 0
    blocks = order.shape[0]
    per_segment = restart_interval * blocks_per_mcu if restart_interval > 0 else blocks
    segments = (blocks + per_segment - 1) // per_segment
    pred = np.zeros(4, dtype=np.int64)
    values = np.zeros(64, dtype=np.int64)
    corrections = np.zeros(64, dtype=np.uint8)  # this block's correction bits (BR)
    pending = np.empty(64 * min(blocks, 0x8000) if mode == MODE_AC_REFINE else 1, np.uint8)  # BE
    reset_next = 0
    zero_next = 0
    for segment in range(segments):
        pred[:] = 0
        eob_run = 0
        n_pending = 0
        for i in range(segment * per_segment, min((segment + 1) * per_segment, blocks)):
            b = order[i]
            t = block_comp[i]
            m = 0
            if reset_next < resets.shape[0] and resets[reset_next] == i:
                reset_next += 1
                pos, acc, nbits, m = _eob_run(
                    out, pos, acc, nbits, ac_codes, ac_lengths, t, eob_run, pending, n_pending)
                missing |= m
                eob_run = 0
                n_pending = 0
            extra_zero_runs = 0
            if zero_next < zero_runs.shape[0] and zero_runs[zero_next, 0] == i:
                extra_zero_runs = zero_runs[zero_next, 1]
                zero_next += 1
            if mode == MODE_SEQUENTIAL or mode == MODE_DC_FIRST:
                dc = np.int64(coef[b, 0]) >> al
                pos, acc, nbits, m = _value(
                    out, pos, acc, nbits, dc_codes, dc_lengths, t, 0, dc - pred[t])
                missing |= m
                pred[t] = dc
            elif mode == MODE_DC_REFINE:
                pos, acc, nbits = _put(out, pos, acc, nbits, (np.int64(coef[b, 0]) >> al) & 1, 1)
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
                if mode == MODE_AC_FIRST and eob_run > 0 and (last >= start or extra_zero_runs):
                    pos, acc, nbits, m = _eob_run(
                        out, pos, acc, nbits, ac_codes, ac_lengths, t, eob_run, pending, 0)
                    missing |= m
                    eob_run = 0
                run = 0
                for k in range(start, last + 1):
                    if values[k] == 0:
                        run += 1
                        continue
                    while run > 15:
                        pos, acc, nbits, m = _code(
                            out, pos, acc, nbits, ac_codes, ac_lengths, t, 0xF0)
                        missing |= m
                        run -= 16
                    pos, acc, nbits, m = _value(
                        out, pos, acc, nbits, ac_codes, ac_lengths, t, run, values[k])
                    missing |= m
                    run = 0
                for _ in range(extra_zero_runs):
                    pos, acc, nbits, m = _code(out, pos, acc, nbits, ac_codes, ac_lengths, t, 0xF0)
                    missing |= m
                if last + 1 + 16 * extra_zero_runs <= end:
                    if mode == MODE_SEQUENTIAL:
                        pos, acc, nbits, m = _code(out, pos, acc, nbits, ac_codes, ac_lengths, t, 0)
                        missing |= m
                    else:
                        eob_run += 1
                        if eob_run == 0x7FFF:
                            pos, acc, nbits, m = _eob_run(
                                out, pos, acc, nbits, ac_codes, ac_lengths, t, eob_run, pending, 0)
                            missing |= m
                            eob_run = 0
            elif mode == MODE_AC_REFINE:
                last_new = -1
                for k in range(ss, se + 1):
                    v = abs(np.int64(coef[b, ZIGZAG[k]])) >> al
                    values[k] = v
                    if v == 1:
                        last_new = k
                run = 0
                n_corrections = 0
                for k in range(ss, se + 1):
                    v = values[k]
                    if v == 0:
                        run += 1
                        continue
                    while run > 15 and k <= last_new:
                        if eob_run > 0:
                            pos, acc, nbits, m = _eob_run(
                                out, pos, acc, nbits, ac_codes, ac_lengths, t, eob_run, pending,
                                n_pending)  # fmt: skip
                            missing |= m
                            eob_run = 0
                            n_pending = 0
                        pos, acc, nbits, m = _code(
                            out, pos, acc, nbits, ac_codes, ac_lengths, t, 0xF0)
                        missing |= m
                        run -= 16
                        for j in range(n_corrections):
                            pos, acc, nbits = _put(
                                out, pos, acc, nbits, np.int64(corrections[j]), 1)
                        n_corrections = 0
                    if v > 1:
                        corrections[n_corrections] = v & 1
                        n_corrections += 1
                        continue
                    if eob_run > 0:
                        pos, acc, nbits, m = _eob_run(
                            out, pos, acc, nbits, ac_codes, ac_lengths, t, eob_run, pending,
                            n_pending)  # fmt: skip
                        missing |= m
                        eob_run = 0
                        n_pending = 0
                    pos, acc, nbits, m = _code(
                        out, pos, acc, nbits, ac_codes, ac_lengths, t, (run << 4) | 1)
                    missing |= m
                    sign = 0 if coef[b, ZIGZAG[k]] < 0 else 1
                    pos, acc, nbits = _put(out, pos, acc, nbits, sign, 1)
                    for j in range(n_corrections):
                        pos, acc, nbits = _put(out, pos, acc, nbits, np.int64(corrections[j]), 1)
                    n_corrections = 0
                    run = 0
                if run > 0 or n_corrections > 0:
                    eob_run += 1
                    pending[n_pending : n_pending + n_corrections] = corrections[:n_corrections]
                    n_pending += n_corrections
                    if eob_run == 0x7FFF:
                        pos, acc, nbits, m = _eob_run(
                            out, pos, acc, nbits, ac_codes, ac_lengths, t, eob_run, pending,
                            n_pending)  # fmt: skip
                        missing |= m
                        eob_run = 0
                        n_pending = 0
            if pos > limit:
                return ENCODE_OVERFLOW, 0
        if mode == MODE_AC_FIRST or mode == MODE_AC_REFINE:
            pos, acc, nbits, m = _eob_run(out, pos, acc, nbits, ac_codes, ac_lengths, block_comp[0],
                                          eob_run, pending, n_pending)  # fmt: skip
            missing |= m
        pos, acc, nbits = _put(out, pos, acc, nbits, np.int64(pads[segment]), (8 - nbits) % 8)
        if segment < segments - 1:
            out[pos] = 0xFF
            out[pos + 1] = 0xD0 + (segment % 8)
            pos += 2
        if pos > limit:
            return ENCODE_OVERFLOW, 0
    if missing:
        return ENCODE_MISSING_CODE, 0
    return ENCODE_OK, pos
