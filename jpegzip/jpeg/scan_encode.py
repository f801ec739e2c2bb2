"""Quantized coefficients plus recorded side information -> the same entropy-coded bytes.

Mirror of scan_decode: the encoder behaves as libjpeg does (greedy EOB runs capped at
0x7FFF, ZRLs only before a nonzero coefficient, pad bits 1) except where the scan's side
information records that the original encoder chose otherwise.
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
_POS, _ACC, _NBITS, _ERROR = 0, 1, 2, 3


@njit(cache=True, inline="always")
def _put(out, state, value, count):
    """Append ``count`` low bits of ``value``, stuffing a zero after every 0xFF byte."""
    if count == 0:
        return
    acc = (state[_ACC] << count) | (value & ((1 << count) - 1))
    nbits = state[_NBITS] + count
    pos = state[_POS]
    while nbits >= 8:
        nbits -= 8
        byte = (acc >> nbits) & 0xFF
        if pos + 2 > out.shape[0]:
            state[_ERROR] = ENCODE_OVERFLOW
            return
        out[pos] = byte
        pos += 1
        if byte == 0xFF:
            out[pos] = 0
            pos += 1
    state[_POS] = pos
    state[_ACC] = acc & ((1 << nbits) - 1)
    state[_NBITS] = nbits


@njit(cache=True, inline="always")
def _symbol(out, state, codes, lengths, t, symbol):
    length = lengths[t, symbol]
    if length == 0:
        state[_ERROR] = ENCODE_MISSING_CODE
        return
    _put(out, state, np.int64(codes[t, symbol]), np.int64(length))


@njit(cache=True, inline="always")
def _bit_length(value):
    value = abs(value)
    length = 0
    while value:
        length += 1
        value >>= 1
    return length


@njit(cache=True, inline="always")
def _value(out, state, codes, lengths, t, run, value):
    """Huffman symbol (run, size) then the value's bits (negative values as value-1)."""
    size = _bit_length(value)
    _symbol(out, state, codes, lengths, t, (run << 4) | size)
    _put(out, state, value - 1 if value < 0 else value, size)


@njit(cache=True)
def _flush_eob_run(out, state, codes, lengths, t, run, corrections, n_corrections):
    """Write a pending EOB run and the correction bits that wait for it."""
    if run > 0:
        size = _bit_length(run) - 1
        _symbol(out, state, codes, lengths, t, size << 4)
        _put(out, state, run, size)
    for j in range(n_corrections):
        _put(out, state, np.int64(corrections[j]), 1)


@njit(cache=True)
def encode_scan(out, order, block_comp, blocks_per_mcu, restart_interval,
                dc_codes, dc_lengths, ac_codes, ac_lengths, coef, mode, ss, se, al,
                pads, resets, zero_runs):  # fmt: skip
    """Encode one scan into ``out``; returns (status, bytes written)."""
    state = np.zeros(4, dtype=np.int64)
    blocks = order.shape[0]
    per_segment = restart_interval * blocks_per_mcu if restart_interval > 0 else blocks
    segments = (blocks + per_segment - 1) // per_segment
    pred = np.zeros(4, dtype=np.int64)
    values = np.zeros(64, dtype=np.int64)
    corrections = np.zeros(64, dtype=np.uint8)  # this block's correction bits (BR)
    pending = np.zeros(64 * 0x8000, dtype=np.uint8) if mode == MODE_AC_REFINE else corrections
    reset_next = 0
    zero_next = 0
    for segment in range(segments):
        pred[:] = 0
        eob_run = 0
        n_pending = 0  # correction bits waiting for the EOB run (BE)
        for i in range(segment * per_segment, min((segment + 1) * per_segment, blocks)):
            b = order[i]
            t = block_comp[i]
            if reset_next < resets.shape[0] and resets[reset_next] == i:
                reset_next += 1
                _flush_eob_run(out, state, ac_codes, ac_lengths, t, eob_run, pending, n_pending)
                eob_run = 0
                n_pending = 0
            extra_zero_runs = 0
            if zero_next < zero_runs.shape[0] and zero_runs[zero_next, 0] == i:
                extra_zero_runs = zero_runs[zero_next, 1]
                zero_next += 1
            if mode == MODE_SEQUENTIAL or mode == MODE_DC_FIRST:
                dc = np.int64(coef[b, 0]) >> al
                diff = dc - pred[t]
                pred[t] = dc
                _value(out, state, dc_codes, dc_lengths, t, 0, diff)
            elif mode == MODE_DC_REFINE:
                _put(out, state, (np.int64(coef[b, 0]) >> al) & 1, 1)
            if mode == MODE_SEQUENTIAL or mode == MODE_AC_FIRST:
                start = 1 if mode == MODE_SEQUENTIAL else ss
                end = 63 if mode == MODE_SEQUENTIAL else se
                last = start - 1
                for k in range(start, end + 1):
                    v = np.int64(coef[b, ZIGZAG[k]])
                    v = (abs(v) >> al) * (1 if v > 0 else -1)
                    values[k] = v
                    if v != 0:
                        last = k
                if mode == MODE_AC_FIRST and eob_run > 0 and (last >= start or extra_zero_runs):
                    _flush_eob_run(out, state, ac_codes, ac_lengths, t, eob_run, pending, 0)
                    eob_run = 0
                run = 0
                for k in range(start, last + 1):
                    if values[k] == 0:
                        run += 1
                        continue
                    while run > 15:
                        _symbol(out, state, ac_codes, ac_lengths, t, 0xF0)
                        run -= 16
                    _value(out, state, ac_codes, ac_lengths, t, run, values[k])
                    run = 0
                for _ in range(extra_zero_runs):
                    _symbol(out, state, ac_codes, ac_lengths, t, 0xF0)
                if last + 1 + 16 * extra_zero_runs <= end:
                    if mode == MODE_SEQUENTIAL:
                        _symbol(out, state, ac_codes, ac_lengths, t, 0x00)
                    else:
                        eob_run += 1
                        if eob_run == 0x7FFF:
                            _flush_eob_run(out, state, ac_codes, ac_lengths, t, eob_run, pending, 0)
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
                        _flush_eob_run(
                            out, state, ac_codes, ac_lengths, t, eob_run, pending, n_pending)
                        eob_run = 0
                        n_pending = 0
                        _symbol(out, state, ac_codes, ac_lengths, t, 0xF0)
                        run -= 16
                        for j in range(n_corrections):
                            _put(out, state, np.int64(corrections[j]), 1)
                        n_corrections = 0
                    if v > 1:
                        corrections[n_corrections] = v & 1
                        n_corrections += 1
                        continue
                    _flush_eob_run(out, state, ac_codes, ac_lengths, t, eob_run, pending, n_pending)
                    eob_run = 0
                    n_pending = 0
                    _symbol(out, state, ac_codes, ac_lengths, t, (run << 4) | 1)
                    _put(out, state, 0 if coef[b, ZIGZAG[k]] < 0 else 1, 1)
                    for j in range(n_corrections):
                        _put(out, state, np.int64(corrections[j]), 1)
                    n_corrections = 0
                    run = 0
                if run > 0 or n_corrections > 0:
                    eob_run += 1
                    pending[n_pending : n_pending + n_corrections] = corrections[:n_corrections]
                    n_pending += n_corrections
                    if eob_run == 0x7FFF:
                        _flush_eob_run(
                            out, state, ac_codes, ac_lengths, t, eob_run, pending, n_pending)
                        eob_run = 0
                        n_pending = 0
            if state[_ERROR] != 0:
                return state[_ERROR], 0
        if mode == MODE_AC_FIRST or mode == MODE_AC_REFINE:
            _flush_eob_run(out, state, ac_codes, ac_lengths, block_comp[0], eob_run, pending,
                           n_pending if mode == MODE_AC_REFINE else 0)  # fmt: skip
        _put(out, state, np.int64(pads[segment]), (8 - state[_NBITS]) % 8)
        if segment < segments - 1:
            if state[_POS] + 2 > out.shape[0]:
                return ENCODE_OVERFLOW, 0
            out[state[_POS]] = 0xFF
            out[state[_POS] + 1] = 0xD0 + (segment % 8)
            state[_POS] += 2
        if state[_ERROR] != 0:
            return state[_ERROR], 0
    return ENCODE_OK, state[_POS]
