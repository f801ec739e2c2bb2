"""Entropy-coded segments -> quantized coefficients plus the facts a bit-exact rebuild needs.

Numba kernels, one per kind of scan (see kernels_by_mode) so that a file compiles only the
kinds it holds; one call decodes a whole scan. Beyond the coefficients a scan records:
- the pad bits that close each restart interval (T.81 pads with 1s; some encoders with 0s;
  some Motion-JPEG encoders write a whole byte of them where an interval ends on a byte
  boundary: recorded as that byte, never 0, where T.81's 0 bits record 0);
- "reset points": blocks before which the encoder wrote out a pending EOB run although a
  greedy encoder would have extended it (libjpeg's 937-bit flush, short EOBn tables);
- "extra zero runs": ZRL symbols written after a block's last nonzero coefficient.
A scan that stops early (a truncated file, damaged data, a choice the encoder cannot repeat)
is cut: the kernel reports a status code, the first block not decoded and where its bits
begin, so the blocks before it are coded and the bytes from there on are kept as they are.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .markers import ZIGZAG_TO_NATURAL as ZIGZAG

# Kernel status codes -> reasons shown to users as "stored (<reason>)".
OK = 0
STATUS_REASONS = {
    1: "corrupt-scan: invalid Huffman code",
    2: "corrupt-scan: coefficient out of range",
    3: "truncated-scan",
    4: "corrupt-scan: data between a restart interval and its marker",
    5: "corrupt-scan: EOB run crosses a restart or the scan end",
    6: "corrupt-scan: invalid symbol",
    7: "unusual-encoder: zero run after the last refinement coefficient",
}
_BAD_CODE, _RANGE, _TRUNCATED, _JUNK, _EOB_RUN, _SYMBOL, _REFINE_ZRL = 1, 2, 3, 4, 5, 6, 7

MODE_SEQUENTIAL, MODE_DC_FIRST, MODE_DC_REFINE, MODE_AC_FIRST, MODE_AC_REFINE = 0, 1, 2, 3, 4
# Zero bytes after the stream so a kernel may read past the end while it detects truncation.
STREAM_TAIL = 512


@njit(cache=True)
def destuff(data, start, max_segments, out, segment_starts, raw_starts, restart_codes):
    """Copy entropy-coded bytes from ``start`` without stuffed zeros, split at RST markers.

    Stops at the first marker that is not RSTn, or at the RST that would open one segment
    more than ``max_segments``. Returns (bytes written, segments found, raw end offset).
    """
    n = data.shape[0]
    i = start
    written = 0
    segments = 1
    segment_starts[0] = 0
    raw_starts[0] = start
    while i < n:
        byte = data[i]
        if byte != 0xFF:
            out[written] = byte
            written += 1
            i += 1
            continue
        if i + 1 >= n:
            break
        following = data[i + 1]
        if following == 0:
            out[written] = 0xFF
            written += 1
            i += 2
            continue
        if 0xD0 <= following <= 0xD7 and segments < max_segments:
            restart_codes[segments - 1] = following - 0xD0
            segment_starts[segments] = written
            raw_starts[segments] = i + 2
            segments += 1
            i += 2
            continue
        break
    segment_starts[segments] = written
    return written, segments, i


def bit_windows(stream: np.ndarray, length: int) -> np.ndarray:
    """Bytes i..i+3 of the destuffed stream as one big-endian uint32 per i, so the kernels
    read any 16-bit window with one load. Covers ``length`` bytes plus STREAM_TAIL."""
    wide = stream[: length + STREAM_TAIL + 3].astype(np.uint32)
    return (wide[:-3] << 24) | (wide[1:-2] << 16) | (wide[2:-1] << 8) | wide[3:]


# The reader's helpers are inlined by numba: as calls they slow decoding down, and compiled
# apart they make compiling no faster.
@njit(cache=True, inline="always")
def _peek16(stream, bitpos):
    return (np.int64(stream[bitpos >> 3]) >> (16 - (bitpos & 7))) & 0xFFFF


@njit(cache=True, inline="always")
def _bits(stream, bitpos, count):
    if count == 0:
        return 0
    return _peek16(stream, bitpos) >> (16 - count)


@njit(cache=True, inline="always")
def _extend(value, size):
    if size == 0:
        return 0
    if value < (1 << (size - 1)):
        return value - (1 << size) + 1
    return value


@njit(cache=True, inline="always")
def _block_sequential(stream, bitpos, dc_len, dc_sym, ac_len, ac_sym, t, coef, b, pred):
    """Returns (status, bitpos, new DC predictor, trailing ZRL count)."""
    window = _peek16(stream, bitpos)
    length = dc_len[t, window]
    if length == 0:
        return _BAD_CODE, bitpos, pred, 0
    size = np.int64(dc_sym[t, window])
    bitpos += length
    if size > 15:
        return _SYMBOL, bitpos, pred, 0
    diff = _extend(_bits(stream, bitpos, size), size)
    bitpos += size
    pred = pred + diff
    if pred < -32768 or pred > 32767:
        return _RANGE, bitpos, pred, 0
    coef[b, 0] = pred
    k = 1
    zero_runs = 0
    while k < 64:
        window = _peek16(stream, bitpos)
        length = ac_len[t, window]
        if length == 0:
            return _BAD_CODE, bitpos, pred, 0
        symbol = np.int64(ac_sym[t, window])
        bitpos += length
        run = symbol >> 4
        size = symbol & 15
        if size == 0:
            if run == 0:
                break
            if run != 15 or k + 16 > 64:
                return _SYMBOL, bitpos, pred, 0
            k += 16
            zero_runs += 1
            continue
        k += run
        if k > 63:
            return _SYMBOL, bitpos, pred, 0
        coef[b, ZIGZAG[k]] = _extend(_bits(stream, bitpos, size), size)
        bitpos += size
        k += 1
        zero_runs = 0
    return 0, bitpos, pred, zero_runs


@njit(cache=True, inline="always")
def _block_ac_first(stream, bitpos, ac_len, ac_sym, t, coef, b, ss, se, al):
    """Returns (status, bitpos, EOB run started here (0 if none), trailing ZRLs, began with EOB)."""
    k = ss
    zero_runs = 0
    first = True
    while k <= se:
        window = _peek16(stream, bitpos)
        length = ac_len[t, window]
        if length == 0:
            return _BAD_CODE, bitpos, 0, 0, False
        symbol = np.int64(ac_sym[t, window])
        bitpos += length
        run = symbol >> 4
        size = symbol & 15
        if size == 0:
            if run == 15:
                if k + 16 > se + 1:
                    return _SYMBOL, bitpos, 0, 0, False
                k += 16
                zero_runs += 1
                first = False
                continue
            eob_run = (1 << run) + _bits(stream, bitpos, run)
            bitpos += run
            return 0, bitpos, eob_run, zero_runs, first
        k += run
        if k > se:
            return _SYMBOL, bitpos, 0, 0, False
        value = _extend(_bits(stream, bitpos, size), size) << al
        bitpos += size
        if value < -32768 or value > 32767:
            return _RANGE, bitpos, 0, 0, False
        coef[b, ZIGZAG[k]] = value
        k += 1
        zero_runs = 0
        first = False
    return 0, bitpos, 0, zero_runs, False


@njit(cache=True, inline="always")
def _refine_corrections(stream, bitpos, coef, b, k, se, al, zeros):
    """Read correction bits of already-nonzero coefficients from k on, passing ``zeros``
    zero-history coefficients; stop at the next one (or after se). Returns (bitpos, k)."""
    p1 = 1 << al
    while k <= se:
        position = ZIGZAG[k]
        value = coef[b, position]
        if value != 0:
            if _bits(stream, bitpos, 1) and (abs(np.int64(value)) & p1) == 0:
                coef[b, position] = value + p1 if value > 0 else value - p1
            bitpos += 1
        else:
            if zeros == 0:
                break
            zeros -= 1
        k += 1
    return bitpos, k


@njit(cache=True, inline="always")
def _block_ac_refine(stream, bitpos, ac_len, ac_sym, t, coef, b, ss, se, al):
    """Returns (status, bitpos, EOB run started here (0 if none), began with EOB)."""
    p1 = 1 << al
    k = ss
    first = True
    pending_zrl = False
    while k <= se:
        window = _peek16(stream, bitpos)
        length = ac_len[t, window]
        if length == 0:
            return _BAD_CODE, bitpos, 0, False
        symbol = np.int64(ac_sym[t, window])
        bitpos += length
        run = symbol >> 4
        size = symbol & 15
        new_value = 0
        if size != 0:
            if size != 1:
                return _SYMBOL, bitpos, 0, False
            new_value = p1 if _bits(stream, bitpos, 1) else -p1
            bitpos += 1
            pending_zrl = False
        elif run != 15:
            if pending_zrl:
                return _REFINE_ZRL, bitpos, 0, False
            eob_run = (1 << run) + _bits(stream, bitpos, run)
            bitpos += run
            bitpos, k = _refine_corrections(stream, bitpos, coef, b, k, se, al, 64)
            return 0, bitpos, eob_run, first
        else:
            pending_zrl = True
        first = False
        bitpos, k = _refine_corrections(stream, bitpos, coef, b, k, se, al, run)
        if k > se:
            return _SYMBOL, bitpos, 0, False
        if new_value != 0:
            coef[b, ZIGZAG[k]] = new_value
        k += 1
    if pending_zrl:
        return _REFINE_ZRL, bitpos, 0, False
    return 0, bitpos, 0, False


def decode_scan(stream, segment_ends, order, block_comp, blocks_per_mcu, restart_interval,
                dc_len, dc_sym, ac_len, ac_sym, coef, mode, ss, se, al,
                pads, resets, zero_runs):  # fmt: skip
    """Decode one scan. ``stream`` holds ``bit_windows`` of the destuffed bytes;
    ``segment_ends[s]`` is where restart interval s ends in it (an interval that is not there
    ends where it starts).

    Returns (status, reset points found, zero runs found, bytes used by the last interval,
    cut, cut byte). ``resets`` receives scan-order block indices; ``zero_runs`` (index, count)
    pairs. With status OK, cut is the block count. Otherwise the scan is cut before block
    ``cut``: the first block whose bits are missing or do not decode as a re-encode would
    write them, moved back to the start of an EOB run that block was part of, or the first
    block after an interval with data left over; its bits begin in the destuffed byte ``cut
    byte`` (an interval's padded end when ``cut`` starts one). Blocks from ``cut`` on that a
    first scan of a band touched hold zeros there, except ``order[cut]`` (the caller clears
    it); a refinement scan may have refined some of them.
    """
    return _DECODERS[mode](stream, segment_ends, order, block_comp, blocks_per_mcu,
                           restart_interval, dc_len, dc_sym, ac_len, ac_sym, coef, ss, se, al,
                           pads, resets, zero_runs)  # fmt: skip


def kernels_by_mode(make_kernel):
    """One numba kernel per kind of scan, keyed by MODE_*. ``make_kernel(mode)`` defines it
    with ``mode`` in its closure: numba takes ``mode`` for a constant and drops the other
    kinds' branches, and the helpers they call, before compiling. A file thus compiles only
    the kinds of scans it holds."""
    kinds = MODE_SEQUENTIAL, MODE_DC_FIRST, MODE_DC_REFINE, MODE_AC_FIRST, MODE_AC_REFINE
    return {mode: make_kernel(mode) for mode in kinds}


def _scan_decoder(mode):
    """The decoder of scans of kind ``mode`` (see kernels_by_mode)."""

    @njit(cache=True)
    def decode(stream, segment_ends, order, block_comp, blocks_per_mcu, restart_interval,
               dc_len, dc_sym, ac_len, ac_sym, coef, ss, se, al,
               pads, resets, zero_runs):  # fmt: skip
        blocks = order.shape[0]
        per_segment = restart_interval * blocks_per_mcu if restart_interval > 0 else blocks
        segments = (blocks + per_segment - 1) // per_segment
        n_resets = 0
        n_zero_runs = 0
        pred = np.zeros(4, dtype=np.int64)
        used_bytes = 0
        segment_start = 0
        for segment in range(segments):
            bitpos = segment_start * 8
            end_bits = segment_ends[segment] * 8
            pred[:] = 0
            eob_run = 0
            previous_in_run = False
            run_start = 0  # the block whose EOB symbol began the current run, and its bits
            run_bitpos = 0
            for i in range(segment * per_segment, min((segment + 1) * per_segment, blocks)):
                b = order[i]
                t = block_comp[i]
                block_bitpos = bitpos
                in_run = eob_run > 0
                status = 0
                if mode == MODE_SEQUENTIAL:
                    status, bitpos, pred[t], zeros = _block_sequential(
                        stream, bitpos, dc_len, dc_sym, ac_len, ac_sym, t, coef, b, pred[t])
                    if status == 0 and zeros > 0:
                        zero_runs[n_zero_runs, 0] = i
                        zero_runs[n_zero_runs, 1] = zeros
                        n_zero_runs += 1
                elif mode == MODE_DC_FIRST:
                    window = _peek16(stream, bitpos)
                    length = dc_len[t, window]
                    size = np.int64(dc_sym[t, window])
                    if length == 0 or size > 15:
                        status = _BAD_CODE
                    else:
                        bitpos += length
                        pred[t] += _extend(_bits(stream, bitpos, size), size)
                        bitpos += size
                        value = pred[t] << al
                        if value < -32768 or value > 32767:
                            status = _RANGE
                        else:
                            coef[b, 0] = value
                elif mode == MODE_DC_REFINE:
                    if _bits(stream, bitpos, 1):
                        coef[b, 0] = coef[b, 0] | (1 << al)
                    bitpos += 1
                elif eob_run > 0:
                    if mode == MODE_AC_REFINE:
                        bitpos, _ = _refine_corrections(stream, bitpos, coef, b, ss, se, al, 64)
                    eob_run -= 1
                    previous_in_run = True
                else:
                    if mode == MODE_AC_FIRST:
                        status, bitpos, run, zeros, began_with_eob = _block_ac_first(
                            stream, bitpos, ac_len, ac_sym, t, coef, b, ss, se, al)
                        if status == 0 and zeros > 0:
                            zero_runs[n_zero_runs, 0] = i
                            zero_runs[n_zero_runs, 1] = zeros
                            n_zero_runs += 1
                    else:
                        status, bitpos, run, began_with_eob = _block_ac_refine(
                            stream, bitpos, ac_len, ac_sym, t, coef, b, ss, se, al)
                    if status == 0:
                        if began_with_eob and previous_in_run:
                            resets[n_resets] = i
                            n_resets += 1
                        eob_run = run - 1 if run > 0 else 0
                        previous_in_run = run > 0
                        if run > 0:
                            run_start = i
                            run_bitpos = block_bitpos
                if status == 0 and bitpos > end_bits:
                    status = _TRUNCATED
                if status != 0:
                    if in_run:
                        return status, n_resets, n_zero_runs, 0, run_start, run_bitpos >> 3
                    return status, n_resets, n_zero_runs, 0, i, block_bitpos >> 3
            if eob_run > 0:
                return _EOB_RUN, n_resets, n_zero_runs, 0, run_start, run_bitpos >> 3
            used = bitpos - segment_start * 8
            used_bytes = (used + 7) >> 3
            pads[segment] = _bits(stream, bitpos, used_bytes * 8 - used)
            end = segment_ends[segment]
            if used & 7 == 0 and segment_start + used_bytes + 1 == end and _bits(stream, bitpos, 8):
                pads[segment] = _bits(stream, bitpos, 8)  # a whole byte of padding
                used_bytes += 1
            if segment < segments - 1 and segment_start + used_bytes != segment_ends[segment]:
                next_block = (segment + 1) * per_segment
                return _JUNK, n_resets, n_zero_runs, 0, next_block, segment_start + used_bytes
            segment_start = segment_ends[segment]
        return OK, n_resets, n_zero_runs, used_bytes, blocks, 0

    return decode


_DECODERS = kernels_by_mode(_scan_decoder)
