"""Backward-adaptive coding of residuals: binary decisions whose probabilities start at the
fitted tables and follow the image as it is coded.

Why: the fitted tables describe the training photos, and a photo's own statistics differ
(phone and camera photos are much softer). Sending table corrections up front (adapt.py,
stream version 2) pays for itself only on the largest tables; here every *fine* context
(the model's context before contexts were clustered into tables, about 423,000 of them)
learns from the decisions it has coded, at no cost in bytes, and its table learns from all
of its contexts. Measured with the same model (learned-v1, coefficient stream only, before
the probability map; docs/MODEL.md): Kodak q75 21.24 -> 21.5 %, six Lepton phone photos
25.2 -> 26.2 %, smooth 12-24 MP photos 25.1 -> 28.0 %.

A residual r (symbols.py) is coded as its class c = |r| (|r| <= K) or K + bit_length(|r| -
K) (an escape), by stop decisions "c == j?" for j = 0, 1, ... (node j), then its sign
(node SIGN) and then an escape's bits below the leading one (probability 1/2). The
probability of a node in fine context f of table t:

    table:  p_t = (hits_t * 2**16 + W_TABLE * prior_t) // (total_t + W_TABLE)
    fine:   p   = (hits_f * 2**16 + W_FINE * p_t) // (total_f + W_FINE)

prior_t is the table's own probability of the decision; counts are halved at their
limits (the fine ones fit a byte). A stop decision's p is then refined by an adaptive
probability map per node (secondary estimation: 33 knots on a logistic grid, the map
interpolated between the two knots around p and averaged with p, the two knots moved
1/64 of the way to the outcome), which corrects what the counts systematically get wrong
for this image. Since stream version 4 an AC coefficient's sign goes one level further:
its p above is smoothed towards by the counts of its *sign context* (the model's
sign_contexts: the signs of the neighbours' same coefficient, vertical and horizontal
apart, and of the block's own lower neighbours; W_SIGN_CONTEXT, halved at SIGN_LIMIT),
which the fine context, keyed by magnitudes, does not see. Integer arithmetic only: both
sides compute the same probabilities on any machine.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .rangecoder import (
    DECODER_POSITION,
    ENCODER_POSITION,
    HALF,
    PROB_BITS,
    decode_bit,
    decoder_registers,
    encode_bit,
    encoder_registers,
    flush,
    new_encoder,
    save_registers,
    start_decoder,
)
from .symbols import ESCAPE_LENGTHS, K
from .tables import integer_frequencies

CLASSES = K + 1 + ESCAPE_LENGTHS  # |r| = 0..K, then escapes of bit length 1..16
SIGN = CLASSES - 1  # the last class needs no stop decision: its node codes the sign
W_TABLE, W_FINE, W_SIGN = 128, 32, 48  # prior weights, in decisions (measured, flat optimum)
FINE_LIMIT, TABLE_LIMIT = 255, 1 << 20  # counts are halved when their total reaches these
W_SIGN_CONTEXT, SIGN_LIMIT = 16, 1024  # the sign context level (stream 4; measured)
P_MIN, P_MAX = 32, (1 << PROB_BITS) - 32
MAX_BYTES_PER_SYMBOL = 64  # room the encoder keeps per symbol of a step (worst case ~50)
# the map's knots: 2**16 / (1 + exp(-(i - 16) / 2)), i = 0..32, rounded (fixed here, so
# that no floating-point library enters the coder)
MAP_KNOTS = np.array([
    22, 36, 60, 98, 162, 267, 439, 720, 1179, 1921, 3108, 4971, 7812, 11955, 17625, 24743,
    32768, 40793, 47911, 53581, 57724, 60565, 62428, 63615, 64357, 64816, 65097, 65269,
    65374, 65438, 65476, 65500, 65514,
], dtype=np.int64)
KNOT_LOOKUP_SHIFT = 4
# the last knot at or below every multiple of 2**KNOT_LOOKUP_SHIFT (p >= P_MIN >= the first)
KNOT_BELOW = np.clip(np.searchsorted(
    MAP_KNOTS, np.arange(0, 1 << PROB_BITS, 1 << KNOT_LOOKUP_SHIFT), side="right") - 1, 0,
    MAP_KNOTS.size - 2)
MAP_FRACTION_BITS = 12  # position between two knots
MAP_RATE_BITS = 6  # knots move 1/64 of the way to each outcome

_priors: dict[bytes, np.ndarray] = {}


def node_priors(probabilities: np.ndarray) -> np.ndarray:
    """(tables, CLASSES) int64: each table's probability (2**16 scale) of every decision
    (stop decisions 0..SIGN-1, then the sign)."""
    freq = integer_frequencies(probabilities)
    tables = freq.shape[0]
    per_class = np.zeros((tables, CLASSES), np.int64)
    negative = np.zeros(tables, np.int64)
    for s in range(freq.shape[1]):
        if s <= 2 * K:
            c, minus = abs(s - K), s < K
        else:
            c, minus = K + 1 + (s - 2 * K - 1) // 2, (s - 2 * K - 1) % 2 == 1
        per_class[:, c] += freq[:, s]
        if minus:
            negative += freq[:, s]
    tail = np.cumsum(per_class[:, ::-1], axis=1)[:, ::-1]  # mass of classes >= j
    priors = np.empty((tables, CLASSES), np.int64)
    priors[:, :SIGN] = (per_class[:, :SIGN] << PROB_BITS) // tail[:, :SIGN]
    nonzero = tail[:, 1]
    priors[:, SIGN] = (negative << PROB_BITS) // nonzero
    return np.clip(priors, P_MIN, P_MAX)


def priors_of(model) -> np.ndarray:
    """node_priors of a model's tables, computed once per model id."""
    key = bytes(model.model_id)
    priors = _priors.get(key)
    if priors is None:
        priors = _priors[key] = node_priors(model.probabilities)
    return priors


@njit(cache=True, inline="always")
def _probability(fine_counts, table_counts, priors, f, t, node):
    th = np.int64(table_counts[t, node, 0])
    tt = np.int64(table_counts[t, node, 1])
    pt = ((th << PROB_BITS) + W_TABLE * priors[t, node]) // (tt + W_TABLE)
    w = W_SIGN if node == SIGN else W_FINE
    fh = np.int64(fine_counts[f, node, 0])
    ft = np.int64(fine_counts[f, node, 1])
    p = ((fh << PROB_BITS) + w * pt) // (ft + w)
    return min(max(p, P_MIN), P_MAX)


@njit(cache=True, inline="always")
def _sign_probability(fine_counts, table_counts, priors, f, t, sign_counts, s):
    """The sign's probability: the fine level's, then its sign context's (s >= 0)."""
    p = _probability(fine_counts, table_counts, priors, f, t, SIGN)
    if s < 0:
        return p
    p = ((np.int64(sign_counts[s, 0]) << PROB_BITS) + W_SIGN_CONTEXT * p) // (
        np.int64(sign_counts[s, 1]) + W_SIGN_CONTEXT)
    return min(max(p, P_MIN), P_MAX)


@njit(cache=True, inline="always")
def _learn_sign(fine_counts, table_counts, f, t, sign_counts, s, bit):
    _learn(fine_counts, table_counts, f, t, SIGN, bit)
    if s >= 0:
        sign_counts[s, 0] += bit
        sign_counts[s, 1] += 1
        if sign_counts[s, 1] >= SIGN_LIMIT:
            sign_counts[s, 0] = (sign_counts[s, 0] + 1) >> 1
            sign_counts[s, 1] = (sign_counts[s, 1] + 1) >> 1


@njit(cache=True, inline="always")
def _refine(prob_map, node, p):
    """The mapped probability of a stop decision, and where on the map it was read."""
    k = KNOT_BELOW[p >> KNOT_LOOKUP_SHIFT]
    while k < MAP_KNOTS.size - 2 and MAP_KNOTS[k + 1] <= p:
        k += 1
    span = MAP_KNOTS[k + 1] - MAP_KNOTS[k]
    fraction = min(((p - MAP_KNOTS[k]) << MAP_FRACTION_BITS) // span, 1 << MAP_FRACTION_BITS)
    mapped = (prob_map[node, k] * ((1 << MAP_FRACTION_BITS) - fraction)
              + prob_map[node, k + 1] * fraction) >> MAP_FRACTION_BITS
    return min(max((p + mapped + 1) >> 1, P_MIN), P_MAX), k, fraction


@njit(cache=True, inline="always")
def _learn_map(prob_map, node, k, fraction, bit):
    target = np.int64(bit) << PROB_BITS
    shift = MAP_FRACTION_BITS + MAP_RATE_BITS
    prob_map[node, k] += ((target - prob_map[node, k])
                          * ((1 << MAP_FRACTION_BITS) - fraction)) >> shift
    prob_map[node, k + 1] += ((target - prob_map[node, k + 1]) * fraction) >> shift


@njit(cache=True, inline="always")
def _learn(fine_counts, table_counts, f, t, node, bit):
    fine_counts[f, node, 0] += bit
    fine_counts[f, node, 1] += 1
    if fine_counts[f, node, 1] >= FINE_LIMIT:
        fine_counts[f, node, 0] = (fine_counts[f, node, 0] + 1) >> 1
        fine_counts[f, node, 1] = (fine_counts[f, node, 1] + 1) >> 1
    table_counts[t, node, 0] += bit
    table_counts[t, node, 1] += 1
    if table_counts[t, node, 1] >= TABLE_LIMIT:
        table_counts[t, node, 0] = (table_counts[t, node, 0] + 1) >> 1
        table_counts[t, node, 1] = (table_counts[t, node, 1] + 1) >> 1


@njit(cache=True)
def _encode(st, out, fine, values, pred, sign_ctx, context_map, priors, fine_counts,
            table_counts, prob_map, sign_counts):
    """Code the residuals values - pred of one step (sign contexts: one per value, or
    none); -1 when a context is unknown or a residual too large."""
    coder = encoder_registers(st)
    for i in range(fine.size):
        f = fine[i]
        s = sign_ctx[i] if sign_ctx.size else -1
        if f < 0 or f >= context_map.size or s >= sign_counts.shape[0]:
            return -1
        t = context_map[f]
        r = np.int64(values[i]) - np.int64(pred[i])
        a = r if r >= 0 else -r
        c = a
        m = 0
        length = 0
        if a > K:
            m = a - K
            while m >> length:
                length += 1
            if length > ESCAPE_LENGTHS:
                return -1
            c = K + length
        for node in range(min(c + 1, SIGN)):
            bit = 1 if node == c else 0
            p, k, fraction = _refine(prob_map, node, _probability(fine_counts, table_counts,
                                                                  priors, f, t, node))
            coder = encode_bit(coder, out, bit, p)
            _learn(fine_counts, table_counts, f, t, node, bit)
            _learn_map(prob_map, node, k, fraction, bit)
        if a:
            bit = 1 if r < 0 else 0
            coder = encode_bit(coder, out, bit, _sign_probability(
                fine_counts, table_counts, priors, f, t, sign_counts, s))
            _learn_sign(fine_counts, table_counts, f, t, sign_counts, s, bit)
        for b in range(length - 2, -1, -1):
            coder = encode_bit(coder, out, (m >> b) & 1, HALF)
    save_registers(st, coder)
    return 0


@njit(cache=True)
def _decode(st, data, fine, pred, sign_ctx, values, context_map, priors, fine_counts,
            table_counts, prob_map, sign_counts):
    """Invert _encode: fill values; -1 when a context is unknown."""
    coder = decoder_registers(st)
    for i in range(fine.size):
        f = fine[i]
        s = sign_ctx[i] if sign_ctx.size else -1
        if f < 0 or f >= context_map.size or s >= sign_counts.shape[0]:
            return -1
        t = context_map[f]
        c = SIGN
        for node in range(SIGN):
            p, k, fraction = _refine(prob_map, node, _probability(fine_counts, table_counts,
                                                                  priors, f, t, node))
            bit, coder = decode_bit(coder, data, p)
            _learn(fine_counts, table_counts, f, t, node, bit)
            _learn_map(prob_map, node, k, fraction, bit)
            if bit:
                c = node
                break
        negative = 0
        if c:
            negative, coder = decode_bit(coder, data, _sign_probability(
                fine_counts, table_counts, priors, f, t, sign_counts, s))
            _learn_sign(fine_counts, table_counts, f, t, sign_counts, s, negative)
        a = np.int64(c)
        if c > K:
            m = np.int64(1)
            for _ in range(c - K - 1):
                bit, coder = decode_bit(coder, data, HALF)
                m = (m << 1) | bit
            a = K + m
        values[i] = pred[i] + (-a if negative else a)
    save_registers(st, coder)
    return 0


class _Counts:
    """The adaptive state of one image: counts per (fine context, node), per (table, node)
    and per sign context (none with sign_contexts=False: stream 3), all starting from zero,
    and the probability map of each stop node, starting as the identity."""

    def __init__(self, model, sign_contexts: bool) -> None:
        self.context_map = np.ascontiguousarray(model.context_map, dtype=np.int32)
        self.priors = priors_of(model)
        # zero pages cost nothing until touched: an image uses a small part of the contexts
        self.fine = np.zeros((self.context_map.size, CLASSES, 2), np.uint8)
        self.table = np.zeros((self.priors.shape[0], CLASSES, 2), np.int32)
        self.map = np.tile(MAP_KNOTS, (SIGN, 1))
        self.sign = np.zeros((model.sign_context_count if sign_contexts else 0, 2), np.int32)


_NO_SIGN_CONTEXTS = np.zeros(0, np.int32)


def _sign_contexts(counts: _Counts, sign_ctx: np.ndarray, size: int) -> np.ndarray:
    """The step's sign contexts as the kernels take them: none in stream 3."""
    if not counts.sign.shape[0] or not sign_ctx.size:
        return _NO_SIGN_CONTEXTS
    if sign_ctx.size != size:
        raise ValueError("need one sign context per value")
    return sign_ctx


class AdaptiveEncoder:
    """Codes the steps of one image, in order, into one byte string; `sign_contexts`: the
    steps come with sign contexts (stream 4) or without (stream 3)."""

    def __init__(self, model, sign_contexts: bool = True) -> None:
        self.counts = _Counts(model, sign_contexts)
        self.state = new_encoder()
        self.out = np.empty(1 << 16, np.uint8)

    def _reserve(self, size: int) -> None:
        written = int(self.state[ENCODER_POSITION])
        if written + size > self.out.size:
            grown = np.empty(max(written + size, 2 * self.out.size), np.uint8)
            grown[:written] = self.out[:written]
            self.out = grown

    def code(self, fine: np.ndarray, values: np.ndarray, pred: np.ndarray,
             sign_ctx: np.ndarray) -> None:
        """Code one step's values with their predictions, fine contexts and sign contexts
        (one per value, or empty where the step has none)."""
        self._reserve(MAX_BYTES_PER_SYMBOL * fine.size + 16)
        counts = self.counts
        sign_ctx = _sign_contexts(counts, sign_ctx, fine.size)
        if _encode(self.state, self.out, fine, values, pred, sign_ctx, counts.context_map,
                   counts.priors, counts.fine, counts.table, counts.map, counts.sign) < 0:
            raise ValueError("model produced a context outside its tables or a residual "
                             "beyond the alphabet")

    def finish(self) -> bytes:
        """The coded bytes (the encoder is done)."""
        self._reserve(16)
        flush(self.state, self.out)
        return self.out[: self.state[ENCODER_POSITION]].tobytes()


class AdaptiveDecoder:
    """Decodes the steps of one image, in the encoder's order (`sign_contexts` as for
    AdaptiveEncoder)."""

    def __init__(self, data: bytes, model, sign_contexts: bool = True) -> None:
        self.counts = _Counts(model, sign_contexts)
        self.data = np.frombuffer(data, dtype=np.uint8)
        self.state = start_decoder(self.data)

    def code(self, fine: np.ndarray, pred: np.ndarray, sign_ctx: np.ndarray,
             values: np.ndarray) -> None:
        """Decode one step into values (same length as fine)."""
        counts = self.counts
        sign_ctx = _sign_contexts(counts, sign_ctx, fine.size)
        if _decode(self.state, self.data, fine, pred, sign_ctx, values, counts.context_map,
                   counts.priors, counts.fine, counts.table, counts.map, counts.sign) < 0:
            raise ValueError("model produced a context index outside its tables")

    def bytes_read(self) -> int:
        """How many bytes the decoder has consumed (past the end: more than it holds)."""
        return int(self.state[DECODER_POSITION])
