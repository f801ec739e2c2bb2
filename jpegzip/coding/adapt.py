"""Per-image table adaptation: the encoder may replace some fixed tables for one image.

The fitted tables describe the training photos; some images differ a lot (a requantized
camera file, say, whose coefficients are mostly even, or a smooth upscaled photo). After
computing every context and symbol, the encoder counts the image's symbols per table and,
for each table where it pays, sends counts (each rounded to a 2-bit-mantissa level, coded
relative to the level the fixed table expects) at the start of the stream: either all 63
symbol counts (FULL), or only those of the residuals -3..3 plus the total of the others,
which then keep the fixed table's shape (CENTRAL: a much cheaper header). Both sides build
the adapted table from the levels with integer arithmetic only: frequency = count * scale
+ fixed frequency, so no symbol loses its probability.
Header layout (range coded): adapted table count, then per table its index delta (high
part, 12 low bits), total level and mode, then its level deltas.
"""

from __future__ import annotations

import constriction
import numpy as np
from numba import njit

from .symbols import ALPHABET, K

# level -> count it stands for: 0..3, then 4..7 << e (2-bit mantissa, <= 12.5 % error)
RECON = np.array([0, 1, 2, 3] + [m << e for e in range(0, 29) for m in (4, 5, 6, 7)],
                 dtype=np.int64)
LEVELS = RECON.size
OFFSET = LEVELS - 1  # level deltas -OFFSET..OFFSET are coded as delta + OFFSET
_D = np.arange(-OFFSET, OFFSET + 1)
_D_PROBS = np.exp2(-0.8 * np.abs(_D)) + 1e-9
_D_PROBS /= _D_PROBS.sum()
DELTA_MODEL = constriction.stream.model.Categorical(_D_PROBS, perfect=False)
_D_BITS = -np.log2(_D_PROBS)
UNIFORM = constriction.stream.model.Uniform()
TABLE_BITS = 16  # the adapted table count is coded as a uniform value below 2**16
LOW_BITS, LOW_MASK = 12, (1 << 12) - 1  # table index deltas: high part, then 12 low bits
MIN_COUNT = 32  # tables with fewer symbols in the image are never adapted
PRIOR_SHARE = 15  # the image's counts get ~15/16 of the mass, the fixed table the rest
FULL, CENTRAL = 0, 1  # modes: every symbol's count, or residuals -3..3 plus the rest's total
FIRST_CENTRAL, N_CENTRAL = K - 3, 7
MODE_VALUES = np.array([ALPHABET, N_CENTRAL + 1])  # level deltas sent per mode


@njit(cache=True)
def _nearest(recon, c):
    lo = 0
    hi = recon.size - 1
    while lo < hi:  # first level with recon >= c
        mid = (lo + hi) // 2
        if recon[mid] < c:
            lo = mid + 1
        else:
            hi = mid
    if lo > 0 and c - recon[lo - 1] <= recon[lo] - c:
        return lo - 1
    return lo


@njit(cache=True)
def _floor_level(recon, c):
    lo = 0
    hi = recon.size - 1
    while lo < hi:  # last level with recon <= c
        mid = (lo + hi + 1) // 2
        if recon[mid] <= c:
            lo = mid
        else:
            hi = mid - 1
    return lo


@njit(cache=True, inline="always")
def _sums(fixed):
    """Total of a fixed table, and of its symbols outside the central ones."""
    fsum = 0
    tail = 0
    for s in range(fixed.size):
        fsum += fixed[s]
        if not FIRST_CENTRAL <= s < FIRST_CENTRAL + N_CENTRAL:
            tail += fixed[s]
    return fsum, tail


@njit(cache=True)
def _expected(mode, total_level, fixed, recon, out):
    """The level each sent value is expected at, from the fixed table and the total."""
    total = recon[total_level]
    fsum, tail = _sums(fixed)
    fsum = max(fsum, 1)
    if mode == FULL:
        for s in range(fixed.size):
            out[s] = _floor_level(recon, total * fixed[s] // fsum)
        return fixed.size
    for i in range(N_CENTRAL):
        out[i] = _floor_level(recon, total * fixed[FIRST_CENTRAL + i] // fsum)
    out[N_CENTRAL] = _floor_level(recon, total * tail // fsum)
    return N_CENTRAL + 1


@njit(cache=True)
def _frequencies(mode, levels, fixed, recon, share, out):
    """Integer frequencies of an adapted table (both sides compute exactly this)."""
    fsum, tail = _sums(fixed)
    csum = 0
    for s in range(fixed.size):
        if mode == FULL:
            out[s] = recon[levels[s]]
        elif FIRST_CENTRAL <= s < FIRST_CENTRAL + N_CENTRAL:
            out[s] = recon[levels[s - FIRST_CENTRAL]]
        else:
            out[s] = recon[levels[N_CENTRAL]] * fixed[s] // max(tail, 1)
        csum += out[s]
    scale = max(1, (share * fsum) // max(csum, 1))
    for s in range(fixed.size):
        out[s] = out[s] * scale + fixed[s]
    return out


def adapted_frequencies(mode: int, levels: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Integer frequencies of an adapted table (mode, its levels, the fixed row)."""
    out = np.empty(fixed.size, np.int64)
    return _frequencies(mode, levels.astype(np.int64), fixed.astype(np.int64), RECON,
                        PRIOR_SHARE, out)


@njit(cache=True)
def _gain(histogram, log_fixed, freq):
    """Bits saved on the image's counts by the adapted frequencies over the fixed ones."""
    asum = 0
    for s in range(freq.size):
        asum += freq[s]
    gain = 0.0
    for s in range(freq.size):
        c = histogram[s]
        if c:
            gain += c * (np.log2(freq[s] / asum) - log_fixed[s])
    return gain


@njit(cache=True)
def _choose(histogram, frequencies, log_fixed, log_small, recon, d_bits, offset, share,
            header_bits, levels, totals, modes):
    """Per table: adapt it (levels, total level and mode filled) when that saves bits;
    returns a flag per table. The expected levels are those of _expected."""
    tables, alphabet = histogram.shape
    flags = np.zeros(tables, np.bool_)
    min_header = header_bits + (N_CENTRAL + 1) * d_bits[offset]
    freq = np.empty(alphabet, np.int64)
    full = np.empty(alphabet, np.int64)
    central = np.empty(N_CENTRAL + 1, np.int64)
    for t in range(tables):
        row = histogram[t]
        fixed = frequencies[t]
        n = 0
        for s in range(alphabet):
            n += row[s]
        if n < MIN_COUNT:  # too few symbols to pay for a header
            continue
        fsum, tail_fixed = _sums(fixed)
        kl = 0.0  # n * KL(image || fixed table) bounds the gain: skip hopeless tables
        log_n = np.log2(n)
        for s in range(alphabet):
            c = row[s]
            if c:
                kl += c * ((log_small[c] if c < log_small.size else np.log2(c))
                           - log_n - log_fixed[t, s])
        if kl < min_header:
            continue
        total_level = _nearest(recon, n)
        total = recon[total_level]
        header_full = header_bits
        header_central = header_bits
        tail = n
        for s in range(alphabet):
            full[s] = _nearest(recon, row[s])
            bits = d_bits[full[s] - _floor_level(recon, total * fixed[s] // fsum) + offset]
            header_full += bits
            if FIRST_CENTRAL <= s < FIRST_CENTRAL + N_CENTRAL:
                central[s - FIRST_CENTRAL] = full[s]
                header_central += bits
                tail -= row[s]
        central[N_CENTRAL] = _nearest(recon, tail)
        header_central += d_bits[central[N_CENTRAL] + offset
                                 - _floor_level(recon, total * tail_fixed // fsum)]
        best = 0.0
        for mode in (FULL, CENTRAL):
            trial = full if mode == FULL else central
            _frequencies(mode, trial, fixed, recon, share, freq)
            saved = _gain(row, log_fixed[t], freq) - (
                header_full if mode == FULL else header_central)
            if saved > best:
                best = saved
                flags[t] = True
                modes[t] = mode
                totals[t] = total_level
                levels[t, :trial.size] = trial
    return flags


_LOG_SMALL = np.log2(np.maximum(np.arange(4096), 1))  # log2 of small counts, by lookup


def log_probabilities(frequencies: np.ndarray) -> np.ndarray:
    """log2 of the probabilities of integer tables (the encoder's cost estimates)."""
    return np.log2(frequencies / frequencies.sum(axis=1, keepdims=True))


def choose(histogram: np.ndarray, frequencies: np.ndarray,
           log_fixed: np.ndarray | None = None):
    """Encoder: the tables worth adapting, as arrays (tables, total levels, modes, levels:
    one row of ALPHABET per table, of which the first MODE_VALUES[mode] count);
    log_fixed: log2 of the fixed tables' probabilities, if the caller has them."""
    if log_fixed is None:
        log_fixed = log_probabilities(frequencies)
    levels = np.empty(histogram.shape, np.int64)  # filled for the chosen tables only
    totals = np.empty(histogram.shape[0], np.int64)
    modes = np.empty(histogram.shape[0], np.int64)
    flags = _choose(histogram, frequencies, log_fixed, _LOG_SMALL, RECON, _D_BITS, OFFSET,
                    PRIOR_SHARE, 2.0 * TABLE_BITS + 1.0, levels, totals, modes)
    chosen = np.flatnonzero(flags)[: (1 << TABLE_BITS) - 1]
    return chosen, totals[chosen], modes[chosen], levels[chosen]


@njit(cache=True)
def _deltas(tables, totals, modes, levels, frequencies, recon, offset, out):
    """Encoder: every adapted table's level deltas (+ offset), one after the other."""
    expect = np.empty(frequencies.shape[1], np.int64)
    n = 0
    for i in range(tables.size):
        count = _expected(modes[i], totals[i], frequencies[tables[i]], recon, expect)
        for j in range(count):
            out[n] = levels[i, j] - expect[j] + offset
            n += 1
    return n


@njit(cache=True)
def _rebuild(tables, totals, modes, deltas, frequencies, recon, offset, share, out):
    """Both sides: the adapted tables' integer frequencies from the sent deltas; returns
    False when a level is out of range (a damaged stream)."""
    alphabet = frequencies.shape[1]
    expect = np.empty(alphabet, np.int64)
    levels = np.empty(alphabet, np.int64)
    n = 0
    for i in range(tables.size):
        fixed = frequencies[tables[i]]
        count = _expected(modes[i], totals[i], fixed, recon, expect)
        for j in range(count):
            level = deltas[n] - offset + expect[j]
            n += 1
            if level < 0 or level >= recon.size:
                return False
            levels[j] = level
        _frequencies(modes[i], levels, fixed, recon, share, out[i])
    return True


def encode_header(encoder, chosen, frequencies: np.ndarray) -> np.ndarray:
    """Encoder: the adapted tables' description, first in the stream; returns their
    frequencies (exactly those the decoder rebuilds)."""
    tables, totals, modes, levels = chosen
    encoder.encode(np.array([tables.size], np.int32), UNIFORM,
                   np.full(1, 1 << TABLE_BITS, np.int32))
    out = np.empty((tables.size, frequencies.shape[1]), np.int64)
    if tables.size == 0:
        return out
    gaps = np.diff(tables, prepend=-1) - 1
    fields = np.stack([gaps >> LOW_BITS, gaps & LOW_MASK, totals, modes], axis=1)
    encoder.encode(fields.astype(np.int32).ravel(), UNIFORM,
                   np.tile(_field_sizes(frequencies.shape[0]), tables.size))
    deltas = np.empty(int(MODE_VALUES[modes].sum()), np.int64)
    _deltas(tables, totals, modes, levels, frequencies, RECON, OFFSET, deltas)
    encoder.encode(deltas.astype(np.int32), DELTA_MODEL)
    _rebuild(tables, totals, modes, deltas, frequencies, RECON, OFFSET, PRIOR_SHARE, out)
    return out


def _field_sizes(tables: int) -> np.ndarray:
    # index gap (high part, 12 low bits), total level, mode; constriction needs ranges >= 2
    return np.array([(tables >> LOW_BITS) + 2, 1 << LOW_BITS, LEVELS, 2], np.int32)


def decode_header(decoder, frequencies: np.ndarray):
    """Decoder: (tables, their adapted integer frequencies); raises ValueError if bad."""
    count = int(decoder.decode(UNIFORM, np.full(1, 1 << TABLE_BITS, np.int32))[0])
    out = np.empty((count, frequencies.shape[1]), np.int64)
    if count == 0:
        return np.zeros(0, np.int64), out
    fields = decoder.decode(UNIFORM, np.tile(_field_sizes(frequencies.shape[0]), count))
    fields = fields.astype(np.int64).reshape(count, 4)
    tables = np.cumsum((fields[:, 0] << LOW_BITS) + fields[:, 1] + 1) - 1
    if tables[-1] >= frequencies.shape[0]:
        raise ValueError("adapted table index out of range")
    totals, modes = fields[:, 2], fields[:, 3]
    deltas = decoder.decode(DELTA_MODEL, int(MODE_VALUES[modes].sum())).astype(np.int64)
    if not _rebuild(tables, totals, modes, deltas, frequencies, RECON, OFFSET, PRIOR_SHARE,
                    out):
        raise ValueError("adapted table level out of range")
    return tables, out


def models_for(tables, adapted: np.ndarray, frequencies: np.ndarray) -> list:
    """The coder's per-table models with the adapted ones (indices, frequencies) swapped
    in."""
    models = list(tables.models)
    for t, freq in zip(adapted.tolist(), frequencies, strict=True):
        models[t] = constriction.stream.model.Categorical(freq / freq.sum(), perfect=False)
    return models
