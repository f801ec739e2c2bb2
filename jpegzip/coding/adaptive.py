"""Backward-adaptive coding of residuals: binary decisions whose probabilities start at the
fitted tables and follow the image as it is coded.

Why: the fitted tables describe the training photos, and a photo's own statistics differ
(phone and camera photos are much softer). Sending table corrections up front (the
retired stream version 2) paid for itself only on the largest tables; here every *fine* context
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
for this image.

Each AC coefficient also has *side contexts* (the session's
side_contexts) that the fine context does not resolve:
- its sign's p goes one level further, smoothed towards the counts of its sign context
  (the signs of the neighbours' same coefficient, vertical and horizontal apart, and of
  the block's own lower neighbours; W_SIGN_CONTEXT, halved at SIGN_LIMIT);
- the first MIX_NODES stop decisions are mixed: a logistic mix (weights per node,
  learned online, as in PAQ-style coders) of the mapped p, the fine and table levels'
  p, and the adaptive probabilities of four coarse magnitude contexts that learn fast:
  *own* (the block's (u-1, v), (u, v-1) magnitudes), *past* (its nonzeros so far, the
  previous coefficient), *estimate* (the network's t, per component class only) and
  *remaining* (the block's nonzeros still to come).
Measured (learned-v2, coefficient stream, stream 3 -> 4): Kodak q75 21.96 -> 22.76 %,
nine Lepton phone and camera photos 25.02 -> 25.78 % (docs/MODEL.md).

Integer arithmetic only (the logistic function and its inverse are tables built from the
map's fixed knots): both sides compute the same probabilities on any machine.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..jit import kernel
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

RESIDUAL_CLASSES = K + 1 + ESCAPE_LENGTHS  # |r| = 0..K, then escapes of bit length 1..16
SIGN = RESIDUAL_CLASSES - 1  # the last class needs no stop decision: its node codes the sign
W_TABLE, W_FINE, W_SIGN = 128, 32, 48  # prior weights, in decisions (measured, flat optimum)
FINE_LIMIT, TABLE_LIMIT = 255, 1 << 20  # counts are halved when their total reaches these
W_SIGN_CONTEXT, SIGN_LIMIT = 16, 1024  # the sign context level (stream 4; measured)
MIX_NODES, MIX_INPUTS = 4, 8  # stream 4 mixes the first stop decisions (the rest: rare)
MIX_WEIGHT_BITS, MIX_RATE_SHIFT, MIX_BIAS = 16, 17, 64  # weight 1.0; rate ~1/500; 0.25
NO_INPUTS = (0, 0, 0, 0, 0, 0, 0, 0)  # the mixer's inputs where a decision is not mixed
NO_KEYS = (-1, -1, -1, -1)  # the magnitude side contexts of a step without them
SIDE_AT = MIX_NODES * MIX_INPUTS  # side_state: the mixer's weights, then the side contexts
SIDE_LIMIT = 250  # side probabilities move 1 / (n + 1.5) of the way, n up to this
SIDE_RATES = (2 << PROB_BITS) // (2 * np.arange(SIDE_LIMIT + 1, dtype=np.int64) + 3)
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
# the logistic function and its inverse for the mixer, in 1/256 units of the log-odds
# (-8..8): squash interpolates the map's knots (one per 128 units), stretch inverts it
SQUASH_RANGE = 2047
_SQUASH_AT = np.arange(2 * SQUASH_RANGE + 1) + 1  # d + SQUASH_RANGE + 1 = 128 * knot + rest
SQUASH = (MAP_KNOTS[_SQUASH_AT >> 7] * (128 - (_SQUASH_AT & 127))
          + MAP_KNOTS[(_SQUASH_AT >> 7) + 1] * (_SQUASH_AT & 127)) >> 7
STRETCH_SHIFT = 4
STRETCH = np.clip(np.searchsorted(SQUASH, (np.arange(1 << (PROB_BITS - STRETCH_SHIFT))
                                           << STRETCH_SHIFT) + (1 << (STRETCH_SHIFT - 1)))
                  - SQUASH_RANGE, -SQUASH_RANGE, SQUASH_RANGE).astype(np.int64)
MAP_RATE_BITS = 6  # knots move 1/64 of the way to each outcome

_priors: dict[bytes, np.ndarray] = {}


def node_priors(probabilities: np.ndarray) -> np.ndarray:
    """(tables, RESIDUAL_CLASSES) int64: each table's probability (2**16 scale) of every decision
    (stop decisions 0..SIGN-1, then the sign)."""
    freq = integer_frequencies(probabilities)
    tables = freq.shape[0]
    per_class = np.zeros((tables, RESIDUAL_CLASSES), np.int64)
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
    priors = np.empty((tables, RESIDUAL_CLASSES), np.int64)
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
def _levels(fine_counts, table_counts, priors, f, t, node):
    """The table level's (0..2**16-1) and the fine level's probability of a decision."""
    th = np.int64(table_counts[t, node, 0])
    tt = np.int64(table_counts[t, node, 1])
    pt = ((th << PROB_BITS) + W_TABLE * priors[t, node]) // (tt + W_TABLE)
    w = W_SIGN if node == SIGN else W_FINE
    fh = np.int64(fine_counts[f, node, 0])
    ft = np.int64(fine_counts[f, node, 1])
    p = ((fh << PROB_BITS) + w * pt) // (ft + w)
    return pt, min(max(p, P_MIN), P_MAX)


@njit(cache=True, inline="always")
def _sign_probability(fine_counts, table_counts, priors, side_state, sign_at, f, t, s):
    """The sign's probability: the fine level's, then its sign context's (s >= 0)."""
    p = _levels(fine_counts, table_counts, priors, f, t, SIGN)[1]
    if s < 0:
        return p
    at = sign_at + 2 * s
    p = ((np.int64(side_state[at]) << PROB_BITS) + W_SIGN_CONTEXT * p) // (
        np.int64(side_state[at + 1]) + W_SIGN_CONTEXT)
    return min(max(p, P_MIN), P_MAX)


@njit(cache=True, inline="always")
def _learn_sign(fine_counts, table_counts, side_state, sign_at, f, t, s, bit):
    _learn(fine_counts, table_counts, f, t, SIGN, bit)
    if s >= 0:
        at = sign_at + 2 * s
        side_state[at] += bit
        side_state[at + 1] += 1
        if side_state[at + 1] >= SIGN_LIMIT:
            side_state[at] = (side_state[at] + 1) >> 1
            side_state[at + 1] = (side_state[at + 1] + 1) >> 1


@njit(cache=True, inline="always")
def _stop_probability(fine_counts, table_counts, priors, prob_map, side_state, f, t, keys,
                      node):
    """The probability a stop decision is coded with, where the map read it and the
    mixer's inputs (mixed: side contexts given and one of the first MIX_NODES nodes; else
    zeros)."""
    pt, pf = _levels(fine_counts, table_counts, priors, f, t, node)
    p, k, fraction = _refine(prob_map, node, pf)
    if keys[0] >= 0 and node < MIX_NODES:
        p, x = _mix(side_state, keys, node, p, pf, pt)
        return p, k, fraction, x
    return p, k, fraction, NO_INPUTS


@njit(cache=True, inline="always")
def _side_at(key, node):
    """Where side_state holds a side context's probability (its count follows)."""
    return SIDE_AT + 2 * (key * MIX_NODES + node)


@njit(cache=True, inline="always")
def _side_stretch(side_state, key, node):
    """The mixer's input from a side context: its probability (stored as its distance
    from 1/2, so that untouched zero pages are 1/2), stretched."""
    return STRETCH[(side_state[_side_at(key, node)] + HALF) >> STRETCH_SHIFT]


@njit(cache=True, inline="always")
def _mix(side_state, keys, node, p, pf, pt):
    """The mixer's probability of a stop decision from the counts' (p after the map, pf
    before it, pt of the table level) and the four magnitude side contexts', and its
    inputs."""
    x = (STRETCH[p >> STRETCH_SHIFT], np.int64(MIX_BIAS), STRETCH[pf >> STRETCH_SHIFT],
         STRETCH[pt >> STRETCH_SHIFT], _side_stretch(side_state, keys[0], node),
         _side_stretch(side_state, keys[1], node), _side_stretch(side_state, keys[2], node),
         _side_stretch(side_state, keys[3], node))
    w = node * MIX_INPUTS
    dot = (np.int64(side_state[w]) * x[0] + np.int64(side_state[w + 1]) * x[1]
           + np.int64(side_state[w + 2]) * x[2] + np.int64(side_state[w + 3]) * x[3]
           + np.int64(side_state[w + 4]) * x[4] + np.int64(side_state[w + 5]) * x[5]
           + np.int64(side_state[w + 6]) * x[6] + np.int64(side_state[w + 7]) * x[7])
    d = min(max(dot >> MIX_WEIGHT_BITS, -SQUASH_RANGE), SQUASH_RANGE)
    return min(max(SQUASH[d + SQUASH_RANGE], P_MIN), P_MAX), x


@njit(cache=True, inline="always")
def _learn_mix(side_state, keys, node, x, p, bit):
    error = (np.int64(bit) << PROB_BITS) - p
    w = node * MIX_INPUTS
    # rounded to nearest: a floor would drift every weight down by half a unit
    half = 1 << (MIX_RATE_SHIFT - 1)
    side_state[w] += (x[0] * error + half) >> MIX_RATE_SHIFT
    side_state[w + 1] += (x[1] * error + half) >> MIX_RATE_SHIFT
    side_state[w + 2] += (x[2] * error + half) >> MIX_RATE_SHIFT
    side_state[w + 3] += (x[3] * error + half) >> MIX_RATE_SHIFT
    side_state[w + 4] += (x[4] * error + half) >> MIX_RATE_SHIFT
    side_state[w + 5] += (x[5] * error + half) >> MIX_RATE_SHIFT
    side_state[w + 6] += (x[6] * error + half) >> MIX_RATE_SHIFT
    side_state[w + 7] += (x[7] * error + half) >> MIX_RATE_SHIFT
    for key in keys:
        _learn_side(side_state, _side_at(key, node), bit)


@njit(cache=True, inline="always")
def _learn_side(side_state, at, bit):
    """A side probability at side_state[at] (minus 1/2) and its count in the next word."""
    n = side_state[at + 1]
    q = np.int64(side_state[at]) + HALF
    side_state[at] += ((((np.int64(bit) << PROB_BITS) - q) * SIDE_RATES[n]) >> PROB_BITS)
    if n < SIDE_LIMIT:
        side_state[at + 1] = n + 1


@njit(cache=True, inline="always")
def _learn_stop(fine_counts, table_counts, prob_map, side_state, f, t, keys, node, x, p, k,
                fraction, bit):
    _learn(fine_counts, table_counts, f, t, node, bit)
    _learn_map(prob_map, node, k, fraction, bit)
    if keys[0] >= 0 and node < MIX_NODES:
        _learn_mix(side_state, keys, node, x, p, bit)


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


@njit(cache=True, inline="always")
def _side_counts(side_state, sign_at):
    """How many sign and magnitude side contexts the side state holds."""
    return (side_state.size - sign_at) // 2, (sign_at - SIDE_AT) // (2 * MIX_NODES)


@njit(cache=True, inline="always")
def _contexts_of(fine, side, i, context_map, sign_count, magnitude_count):
    """Symbol i's fine context, table, sign context and magnitude side contexts (own,
    past, estimate, remaining; -1 and NO_KEYS without side contexts); table -1 when a
    context is out of range."""
    f = fine[i]
    if f < 0 or f >= context_map.size:
        return f, -1, -1, NO_KEYS
    if not side.shape[0]:
        return f, context_map[f], -1, NO_KEYS
    keys = (side[i, 1], side[i, 2], side[i, 3], side[i, 4])
    if not 0 <= side[i, 0] < sign_count:
        return f, -1, -1, NO_KEYS
    for key in keys:
        if not 0 <= key < magnitude_count:
            return f, -1, -1, NO_KEYS
    return f, context_map[f], side[i, 0], keys


@kernel
def _encode(st, out, fine, values, pred, side, context_map, fine_counts, table_counts, priors,
            prob_map, side_state, sign_at):
    """Code the residuals values - pred of one step (side contexts: one row per value, or
    none); -1 when a context is unknown or a residual too large."""
    coder = encoder_registers(st)
    sign_count, magnitude_count = _side_counts(side_state, sign_at)
    for i in range(fine.size):
        f, t, s, keys = _contexts_of(fine, side, i, context_map, sign_count, magnitude_count)
        if t < 0:
            return -1
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
            p, k, fraction, x = _stop_probability(fine_counts, table_counts, priors,
                                                 prob_map, side_state, f, t, keys, node)
            coder = encode_bit(coder, out, bit, p)
            _learn_stop(fine_counts, table_counts, prob_map, side_state, f, t, keys, node, x, p,
                        k, fraction, bit)
        if a:
            bit = 1 if r < 0 else 0
            p = _sign_probability(fine_counts, table_counts, priors, side_state, sign_at, f, t, s)
            coder = encode_bit(coder, out, bit, p)
            _learn_sign(fine_counts, table_counts, side_state, sign_at, f, t, s, bit)
        for b in range(length - 2, -1, -1):
            coder = encode_bit(coder, out, (m >> b) & 1, HALF)
    save_registers(st, coder)
    return 0


@kernel
def _decode(st, data, fine, pred, side, values, context_map, fine_counts, table_counts, priors,
            prob_map, side_state, sign_at):
    """Invert _encode: fill values; -1 when a context is unknown."""
    coder = decoder_registers(st)
    sign_count, magnitude_count = _side_counts(side_state, sign_at)
    for i in range(fine.size):
        f, t, s, keys = _contexts_of(fine, side, i, context_map, sign_count, magnitude_count)
        if t < 0:
            return -1
        c = SIGN
        for node in range(SIGN):
            p, k, fraction, x = _stop_probability(fine_counts, table_counts, priors,
                                                 prob_map, side_state, f, t, keys, node)
            bit, coder = decode_bit(coder, data, p)
            _learn_stop(fine_counts, table_counts, prob_map, side_state, f, t, keys, node, x, p,
                        k, fraction, bit)
            if bit:
                c = node
                break
        negative = 0
        if c:
            p = _sign_probability(fine_counts, table_counts, priors, side_state, sign_at, f, t, s)
            negative, coder = decode_bit(coder, data, p)
            _learn_sign(fine_counts, table_counts, side_state, sign_at, f, t, s,
                        negative)
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


class AdaptiveState:
    """The adaptive state of one image: counts per (fine context, node) and per (table,
    node), from zero; the probability map of each stop node, from the identity; and the
    side state: the mixer's weights per mixed node
    (starting as the counts' probability alone), the magnitude side contexts'
    probabilities (from 1/2) and the sign contexts' counts (from zero)."""

    def __init__(self, model) -> None:
        self.context_map = np.ascontiguousarray(model.context_map, dtype=np.int32)
        priors = priors_of(model)
        signs = model.sign_context_count
        magnitudes = model.magnitude_context_count
        # one array (fewer arrays, faster kernels): the mixer's weights per node, then per
        # (magnitude side context, node) a probability and its count, then per sign context
        # its counts (from sign_at); zero is a fresh context's state
        self.sign_at = SIDE_AT + 2 * magnitudes * MIX_NODES
        side_state = np.zeros(self.sign_at + 2 * signs, np.int32)
        side_state[:SIDE_AT:MIX_INPUTS] = 1 << MIX_WEIGHT_BITS
        # the counts' zero pages cost nothing until touched, like the side state's: an
        # image uses a small part of the contexts
        self.arrays = (
            np.zeros((self.context_map.size, RESIDUAL_CLASSES, 2), np.uint8),  # fine counts
            np.zeros((priors.shape[0], RESIDUAL_CLASSES, 2), np.int32),  # table counts
            priors,
            np.tile(MAP_KNOTS, (SIGN, 1)),  # probability map
            side_state,
        )

    def copy(self) -> AdaptiveState:
        """An independent copy (what a later part of an image starts from)."""
        twin = object.__new__(AdaptiveState)
        twin.context_map, twin.sign_at = self.context_map, self.sign_at
        fine, table, priors, prob_map, side_state = self.arrays
        twin.arrays = (fine.copy(), table.copy(), priors, prob_map.copy(), side_state.copy())
        return twin


SIDE_COLUMNS = 5  # sign, own, past, estimate, remaining
_NO_SIDE_CONTEXTS = np.zeros((0, SIDE_COLUMNS), np.int32)


def _side_contexts(side: np.ndarray, size: int) -> np.ndarray:
    """The step's side contexts as the kernels take them (none: a step without them)."""
    if not side.size:
        return _NO_SIDE_CONTEXTS
    if side.shape != (size, SIDE_COLUMNS):
        raise ValueError(f"need {SIDE_COLUMNS} side contexts per value")
    return side


class AdaptiveEncoder:
    """Codes the steps of one image, in order, into one byte string; from a fresh state,
    or from a copy of ``start``."""

    def __init__(self, model, start: AdaptiveState | None = None) -> None:
        self.adaptive = AdaptiveState(model) if start is None else start.copy()
        self.state = new_encoder()
        self.out = np.empty(1 << 16, np.uint8)

    def _reserve(self, size: int) -> None:
        written = int(self.state[ENCODER_POSITION])
        if written + size > self.out.size:
            grown = np.empty(max(written + size, 2 * self.out.size), np.uint8)
            grown[:written] = self.out[:written]
            self.out = grown

    def code(self, fine: np.ndarray, values: np.ndarray, pred: np.ndarray,
             side: np.ndarray) -> None:
        """Code one step's values with their predictions, fine contexts and side contexts
        (a row per value, or empty where the step has none)."""
        self._reserve(MAX_BYTES_PER_SYMBOL * fine.size + 16)
        adaptive = self.adaptive
        side = _side_contexts(side, fine.size)
        if _encode(self.state, self.out, fine, values, pred, side, adaptive.context_map,
                   *adaptive.arrays, adaptive.sign_at) < 0:
            raise ValueError("model produced a context outside its tables or a residual "
                             "beyond the alphabet")

    def finish(self) -> bytes:
        """The coded bytes (the encoder is done)."""
        self._reserve(16)
        flush(self.state, self.out)
        return self.out[: self.state[ENCODER_POSITION]].tobytes()


class AdaptiveDecoder:
    """Decodes the steps of one image, in the encoder's order (``start`` as for the
    encoder)."""

    def __init__(self, data: bytes, model, start: AdaptiveState | None = None) -> None:
        self.adaptive = AdaptiveState(model) if start is None else start.copy()
        self.data = np.frombuffer(data, dtype=np.uint8)
        self.state = start_decoder(self.data)

    def code(self, fine: np.ndarray, pred: np.ndarray, side: np.ndarray,
             values: np.ndarray) -> None:
        """Decode one step into values (same length as fine)."""
        adaptive = self.adaptive
        side = _side_contexts(side, fine.size)
        if _decode(self.state, self.data, fine, pred, side, values, adaptive.context_map,
                   *adaptive.arrays, adaptive.sign_at) < 0:
            raise ValueError("model produced a context index outside its tables")

    def bytes_read(self) -> int:
        """How many bytes the decoder has consumed (past the end: more than it holds)."""
        return int(self.state[DECODER_POSITION])
