"""The classic (hand-built) context model: predictions and context indices per coefficient.

Per component the coding runs in three phases, each split into steps that see only what
earlier steps decoded:

1. the count of nonzero AC coefficients of every block, on a coarse-to-fine lattice,
   predicted by the mean count of the lattice neighbours (Lepton codes this count first);
2. the AC coefficients in zigzag order, one frequency per group, each split into the two
   halves of a checkerboard; a block is coded only while it still has nonzeros to come,
   so the zeros after its last nonzero cost nothing. Context: component class, frequency,
   remaining nonzeros, and the magnitudes around (same frequency in the four neighbours for
   the second half, with the sign of their sum; lower frequencies of the block and of its
   neighbours for both; the first half of (0, 1) has no lower frequency and reads the
   neighbours' nonzero counts instead);
3. DC last, on the lattice, predicted from the decoded neighbour DCs plus the DC step that
   edge continuity reads from the AC of both blocks (Lepton's DC idea), which beats any
   predictor from neighbour DCs alone.

Quantization enters through the coefficients themselves (all contexts are in the
quantized domain), a bucket of the frequency's quantizer on the AC and a quality bucket on
the nonzero counts, so one table set serves every quality. Everything is integer arithmetic.
Components are coded one after the other; the classic contexts of a chroma component do
not look at the luma (the learned model's network does, through the sampling factors:
learned.py). Besides its context, each AC coefficient reports side contexts (its sign's,
and four coarse magnitude contexts) that the adaptive coder mixes in (side_contexts).
This model alone codes compression level 1; level 2 is learned.py's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ContainerError
from . import kernels as kn
from .net import EST_OF_T

ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
])  # zigzag position -> natural (row-major) index
NATURAL_TO_ZIGZAG = np.argsort(ZIGZAG)


def _zz(u: int, v: int) -> int:
    return int(NATURAL_TO_ZIGZAG[u * 8 + v]) if 0 <= u < 8 and 0 <= v < 8 else -1


UP = np.array([_zz(n // 8 - 1, n % 8) for n in ZIGZAG])  # zigzag index of (u-1, v)
LEFT = np.array([_zz(n // 8, n % 8 - 1) for n in ZIGZAG])  # zigzag index of (u, v-1)
LEFT[2] = 1  # (1, 0) has no (u, v-1): its partner is the other first AC, (0, 1)
# per zigzag index, the lower frequencies an AC context reads (kernels.ac_contexts): (u-1,
# v), (u, v-1) as above, then (u-2, v), (u, v-2), (u-1, v-1) for the sign contexts
LOWER = np.column_stack([UP, LEFT, np.array(
    [[_zz(n // 8 - 2, n % 8), _zz(n // 8, n % 8 - 2), _zz(n // 8 - 1, n % 8 - 1)]
     for n in ZIGZAG])]).astype(np.int64)


def _lut(edges: list[int], size: int) -> np.ndarray:
    """Bucket of every integer 0..size-1: how many edges are <= it."""
    return np.searchsorted(np.array(edges), np.arange(size), side="right").astype(np.int64)


AVG_LUT = _lut([1, 2, 3, 4, 6, 8, 11, 15, 20, 26, 33, 42, 52, 64, 80, 100, 130, 170], 253)
REM_LUT = _lut([2, 3, 4, 5, 7, 10, 15, 21], 64)
EST_LUT = _lut([1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 19, 24, 30, 38, 48, 60, 80, 110, 150, 200, 280,
                400, 600, 900, 1400], 1401)
SPREAD_LUT = _lut([1, 2, 3, 4, 6, 8, 11, 15, 20, 28, 40, 60], 61)
ACT_LUT = _lut([1, 4, 11], 64)
QUALITY_EDGES = [2, 3, 5, 8, 12, 18, 27]
STEP_EDGES = [2, 4, 7, 12, 20]  # buckets of the quantizer of one AC frequency
# frequency classes: zigzag 1..20 alone, then wider bands
KPOS = np.array([0] + list(range(20)) + [20] * 3 + [21] * 4 + [22] * 8 + [23] * 9 + [24] * 19)
_KPOS = KPOS.tolist()

COMPONENT_CLASSES = 2  # luma-like, chroma
LEVELS = 5  # lattice level classes, see _level
QUALITIES = len(QUALITY_EDGES) + 1
STEPS = len(STEP_EDGES) + 1
N_AVG, N_REM, N_EST = int(AVG_LUT[-1]) + 1, int(REM_LUT[-1]) + 1, int(EST_LUT[-1]) + 1
_LUTS = (REM_LUT, EST_LUT, EST_OF_T)  # the AC contexts' lookups (kernels.ac_contexts)
N_SPREAD, N_ACT, N_KPOS = int(SPREAD_LUT[-1]) + 1, int(ACT_LUT[-1]) + 1, int(KPOS.max()) + 1

NNZ_BASE = 0
NNZ_COUNT = COMPONENT_CLASSES * LEVELS * QUALITIES * N_AVG
AC_BASE = NNZ_BASE + NNZ_COUNT
AC_PER_POSITION = 2 * N_REM * N_EST * kn.SIGNS
AC_COUNT = COMPONENT_CLASSES * N_KPOS * STEPS * AC_PER_POSITION
DC_BASE = AC_BASE + AC_COUNT
DC_COUNT = COMPONENT_CLASSES * LEVELS * N_SPREAD * N_ACT
CONTEXT_COUNT = DC_BASE + DC_COUNT
# the adaptive coder's side contexts (kernels.ac_contexts): signs per class and AC
# frequency; the magnitudes' own, past and remaining contexts too, the estimate context per
# class only (measured: finer ones learn too slowly)
SIGN_CONTEXT_COUNT = COMPONENT_CLASSES * 64 * kn.SIGN_KEYS
OWN_BASE = 0
PAST_BASE = OWN_BASE + COMPONENT_CLASSES * 64 * kn.OWN_KEYS
ESTIMATE_BASE = PAST_BASE + COMPONENT_CLASSES * 64 * kn.PAST_KEYS
REMAINING_BASE = ESTIMATE_BASE + COMPONENT_CLASSES * kn.ESTIMATE_KEYS
MAGNITUDE_CONTEXT_COUNT = REMAINING_BASE + COMPONENT_CLASSES * 64 * kn.REMAINING_KEYS

_EDGE_WEIGHTS = np.array(
    [0] + [round(np.sqrt(2) * np.cos(v * np.pi / 16) * (1 << kn.FIX)) for v in range(1, 8)],
    dtype=np.int64,
)
FINE_MAP = np.arange(CONTEXT_COUNT, dtype=np.int32)  # sessions that report fine contexts
NNZ, AC, DC = 0, 1, 2
_NO_ESTIMATE = np.zeros(0, np.uint8)


def context_families() -> np.ndarray:
    """Coarser parent of every context (used to smooth sparse tables when fitting)."""
    ctx = np.arange(CONTEXT_COUNT)
    fam = np.empty(CONTEXT_COUNT, np.int64)
    nnz = ctx < AC_BASE
    fam[nnz] = (ctx[nnz] - NNZ_BASE) // N_AVG
    ac = (ctx >= AC_BASE) & (ctx < DC_BASE)
    local = ctx[ac] - AC_BASE
    fam[ac] = 100_000 + (local // AC_PER_POSITION) * N_REM + (local % AC_PER_POSITION) // (
        2 * N_EST * kn.SIGNS)
    dc = ctx >= DC_BASE
    fam[dc] = 200_000 + (ctx[dc] - DC_BASE) // (N_SPREAD * N_ACT)
    return np.unique(fam, return_inverse=True)[1]


def context_groups() -> np.ndarray:
    """Step group of every context: contexts that one coding step can produce."""
    ctx = np.arange(CONTEXT_COUNT)
    group = np.empty(CONTEXT_COUNT, np.int64)
    group[:AC_BASE] = (ctx[:AC_BASE] - NNZ_BASE) // N_AVG
    local = ctx[AC_BASE:DC_BASE] - AC_BASE
    group[AC_BASE:DC_BASE] = 100_000 + (local // AC_PER_POSITION) * 2 + local % 2
    group[DC_BASE:] = 200_000 + (ctx[DC_BASE:] - DC_BASE) // (N_SPREAD * N_ACT)
    return group


def _level(kind: int, h: int) -> int:
    if kind == kn.ROOT or h >= 4:
        return 0
    return (1 if kind == kn.DIAG else 2) + (2 if h == 1 else 0)


def _lattice(height: int, width: int) -> list[tuple[int, int]]:
    top = 1
    while top < max(height, width):
        top *= 2
    steps = [(kn.ROOT, 0)]
    h = top // 2
    while h >= 1:
        steps += [(kn.DIAG, h), (kn.AXIAL, h)]
        h //= 2
    return steps


def _quality(quant: np.ndarray) -> int:
    """Bucket of the mean quantizer of the first 15 AC frequencies."""
    mean = int(quant[ZIGZAG[1:16]].astype(np.int64).sum()) // 15
    return int(np.searchsorted(np.array(QUALITY_EDGES), mean, side="right"))


class _Component:
    """Decoder-visible state of one component. The coefficients are held as zigzag planes
    `z` (64, h, w) int16: a coding step then reads and writes whole planes. The encoder
    fills the AC planes with the truth up front (the DC, coded last, only as it is
    committed); the kernels only read what the decoder has already decoded, so the contexts
    are the same (tests/model checks it)."""

    def __init__(self, c: int, shape: tuple[int, int], quant: np.ndarray,
                 plane: np.ndarray | None) -> None:
        height, width = int(shape[0]), int(shape[1])
        if height * width >= 1 << 29:  # active-list entries are int32 (index << 2 | flags)
            raise ValueError(f"plane {c} has too many blocks")
        self.index = c
        self.cls = 1 if c in (1, 2) else 0
        self.quality = _quality(quant)
        self.step = np.searchsorted(STEP_EDGES, quant[ZIGZAG], side="right").tolist()
        self.q = quant.astype(np.int64)
        self.nnz = np.zeros((height, width), np.int8)
        self.rem = np.zeros((height, width), np.int8)
        self.remaining = 0  # nonzero AC coefficients still to decode in this component
        self.paths: tuple[np.ndarray, np.ndarray] | None = None
        self.active: list[np.ndarray] | None = None  # per half: blocks with nonzeros left
        self.active_count = [0, 0]
        self.learned: np.ndarray | None = None  # network outputs t of the current AC group
        self.learned_group = -1
        self.group_means: list[np.ndarray] = []  # learned model: mean magnitude per AC group
        self.truth = None  # encoder: the plane as given (returned by finish)
        self.count = self.dc = None  # encoder: nonzero AC count and DC of every block
        if plane is None:
            self.z = np.zeros((64, height, width), np.int16)
            return
        if plane.shape != (height, width, 64):
            raise ValueError(f"plane {c} has shape {plane.shape}, expected (h, w, 64)")
        if plane.dtype != np.int16 and plane.size and (
                plane.min() < -32768 or plane.max() > 32767):
            raise ValueError(f"plane {c} holds values outside int16")
        self.truth = np.asarray(plane, dtype=np.int16)
        self.z = np.empty((64, height, width), np.int16)
        self.count = np.empty((height, width), np.int8)
        self.dc = np.empty((height, width), np.int16)
        kn.to_zigzag(self.truth, ZIGZAG, self.z, self.count, self.dc)

    def start_ac(self) -> None:
        """List, per checkerboard half, the blocks that have nonzero AC to decode (int32
        entries, see kernels.split_active)."""
        size = self.nnz.size
        halves = (np.empty((size + 1) // 2, np.int32), np.empty(size // 2, np.int32))
        self.active_count = list(kn.split_active(self.nnz, *halves))
        self.active = list(halves)


class ClassicSession:
    """One image: the step schedule and the state both coder sides rebuild step by step."""

    def __init__(self, cmap, shapes, quant_tables, sampling, planes) -> None:
        self.cmap = cmap
        self.sampling = [tuple(int(x) for x in pair) for pair in sampling]
        if not 1 <= len(shapes) <= 4 or len(quant_tables) != len(shapes):
            raise ValueError("need 1..4 components, one quantization table each")
        if len(sampling) != len(shapes) or (planes is not None and len(planes) != len(shapes)):
            raise ValueError("need one plane and one sampling factor pair per component")
        self.comps = []
        self.steps: list[tuple[int, int, int, int]] = []
        for c, shape in enumerate(shapes):
            quant = np.asarray(quant_tables[c]).reshape(64)
            if quant.min() < 1 or quant.max() > 65535:
                raise ValueError("quantization values must be 1..65535")
            plane = None if planes is None else np.asarray(planes[c])
            self.comps.append(_Component(c, shape, quant, plane))
            if shape[0] < 1 or shape[1] < 1:
                continue
            lattice = _lattice(int(shape[0]), int(shape[1]))
            self.steps += [(c, NNZ, kind, h) for kind, h in lattice]
            self.steps += [(c, AC, k, half) for k in range(1, 64) for half in (0, 1)]
            self.steps += [(c, DC, kind, h) for kind, h in lattice]
        self.step_count = len(self.steps)
        self.bases = [self._base(self.comps[c], phase, a, b) for c, phase, a, b in self.steps]
        size = max(1, max(int(s[0]) * int(s[1]) for s in shapes))
        self.idx = np.empty(size, np.int64)
        self.pred = np.empty(size, np.int32)
        self.ctx = np.empty(size, np.int32)
        self.side = np.empty((size, kn.SIDE_COLUMNS), np.int32)
        self.side_n = 0  # symbols of the last step with side contexts (AC steps only)
        self.values = np.empty(size if planes is not None else 0, np.int32)
        self.n = 0

    @staticmethod
    def _base(comp: _Component, phase: int, a: int, b: int) -> int:
        """First fine context of a step."""
        if phase == AC:
            return AC_BASE + ((comp.cls * N_KPOS + _KPOS[a]) * STEPS
                              + comp.step[a]) * AC_PER_POSITION + b
        if phase == NNZ:
            return NNZ_BASE + ((comp.cls * LEVELS + _level(a, b)) * QUALITIES
                               + comp.quality) * N_AVG
        return DC_BASE + (comp.cls * LEVELS + _level(a, b)) * N_SPREAD * N_ACT

    def contexts(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Prediction and context of each symbol of the step (valid until the next call)."""
        c, phase, a, b = self.steps[step]
        comp = self.comps[c]
        self.side_n = 0
        if phase == AC:
            self._ac(comp, a, b, self.bases[step], False)
        elif phase == NNZ:
            self.n = kn.nnz_contexts(comp.nnz, a, b, self.bases[step], AVG_LUT, self.cmap,
                                     self.idx, self.pred, self.ctx)
        else:
            if comp.paths is None:
                comp.paths = kn.dc_paths(comp.z, NATURAL_TO_ZIGZAG[:8].copy(),
                                         NATURAL_TO_ZIGZAG[::8].copy(), comp.q[:8].copy(),
                                         comp.q[::8].copy(), _EDGE_WEIGHTS)
            cx, cy = comp.paths
            self.n = kn.dc_contexts(comp.z, comp.nnz, cx, cy, int(comp.q[0]), a, b,
                                    self.bases[step], SPREAD_LUT, ACT_LUT, N_ACT, self.cmap,
                                    self.idx, self.pred, self.ctx)
        return self.pred[: self.n], self.ctx[: self.n]

    def _ac(self, comp: _Component, k: int, half: int, base: int, encode: bool) -> None:
        """AC contexts of one step; `encode` also takes the targets and commits them."""
        if comp.remaining <= 0 or (comp.active is not None and comp.active_count[half] == 0):
            self.n = self.side_n = 0
            return
        if comp.active is None:
            comp.start_ac()
        learned, mix = self._estimates(comp, k, half)
        cls_k = comp.cls * 64 + k
        bases = np.array([base, cls_k * kn.SIGN_KEYS, OWN_BASE + cls_k * kn.OWN_KEYS,
                          PAST_BASE + cls_k * kn.PAST_KEYS,
                          ESTIMATE_BASE + comp.cls * kn.ESTIMATE_KEYS,
                          REMAINING_BASE + cls_k * kn.REMAINING_KEYS])
        self.n, comp.active_count[half], nonzero = kn.ac_contexts(
            comp.z, comp.rem, comp.nnz, comp.active[half], comp.active_count[half], k, half,
            LOWER[k], bases, self.cmap, _LUTS, learned, mix, encode,
            (self.idx, self.pred, self.ctx, self.values, self.side))
        self.side_n = self.n
        comp.remaining -= nonzero

    def _estimates(self, comp: _Component, k: int, half: int) -> tuple[np.ndarray, int]:
        """The learned network's output t for AC coefficient k per block (uint8, read
        through net.EST_OF_T) and its weight out of 4 in the context (learned.py); the
        classic model has none."""
        return _NO_ESTIMATE, 0

    def encode_step(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encoder: contexts, targets and commit of one step in one go (prediction, context
        and true value of each symbol; valid until the next call)."""
        c, phase, a, b = self.steps[step]
        comp = self.comps[c]
        if phase != AC or comp.truth is None:
            pred, ctx = self.contexts(step)
            values = self.targets(step)
            self.commit(step, values)
            return pred, ctx, values
        self._ac(comp, a, b, self.bases[step], True)
        n = self.n
        return self.pred[:n], self.ctx[:n], self.values[:n]

    def side_contexts(self) -> np.ndarray:
        """(symbols, 5) int32 side contexts of the last step's symbols for the adaptive
        coder: sign (0..SIGN_CONTEXT_COUNT-1), then own, past, estimate and remaining
        (0..MAGNITUDE_CONTEXT_COUNT-1; kernels.ac_contexts); none for the steps of nonzero
        counts and DC. Valid until the next step."""
        return self.side[: self.side_n]

    def targets(self, step: int) -> np.ndarray:
        """Encoder only: the true values of the symbols of the last `contexts` call (valid
        until the next call)."""
        c, phase, a, _ = self.steps[step]
        comp = self.comps[c]
        if comp.truth is None:
            raise RuntimeError("targets() needs the planes (encoder side)")
        plane = comp.z[a] if phase == AC else (comp.count if phase == NNZ else comp.dc)
        return kn.gather(plane, self.idx[: self.n], self.values[: self.n])

    def commit(self, step: int, values: np.ndarray) -> None:
        """Store the decoded values of the step; impossible values mean a damaged stream."""
        c, phase, a, _ = self.steps[step]
        comp = self.comps[c]
        idx = self.idx[: self.n]
        if phase == AC:
            got = kn.ac_commit(comp.z, comp.rem, a, idx, values)
            comp.remaining -= max(got, 0)
        elif phase == NNZ:
            got = kn.nnz_commit(comp.nnz, comp.rem, idx, values)
            comp.remaining += max(got, 0)
        else:
            got = kn.dc_commit(comp.z, idx, values)
        if got < 0:
            raise ContainerError("coefficient stream: decoded value out of range")

    def finish(self, planes: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
        """The planes in natural order (the decoder writes them into ``planes`` where given:
        per component an int16 (h, w, 64) array, e.g. a band of the whole image's); fails
        if a block's nonzero count was not met."""
        for comp in self.comps:
            if comp.remaining != 0 or (comp.rem.size and comp.rem.max() != 0):
                raise ContainerError("coefficient stream: nonzero counts do not match")
        out = []
        for c, comp in enumerate(self.comps):
            if comp.truth is None:
                shape = (*comp.nnz.shape, 64)
                plane = np.empty(shape, np.int16) if planes is None else planes[c]
                if plane.shape != shape or plane.dtype != np.int16:
                    raise ValueError(f"plane {c} to decode into is not int16 {shape}")
                out.append(kn.to_natural(comp.z, ZIGZAG, plane))
            else:
                out.append(comp.truth)
            comp.z = comp.paths = None  # the session is done: free its planes early
        return out


class ClassicModel:
    """Fixed categorical tables, the map from fine contexts to them, and the weights' id."""

    # the ranges of ClassicSession.side_contexts
    sign_context_count = SIGN_CONTEXT_COUNT
    magnitude_context_count = MAGNITUDE_CONTEXT_COUNT

    def __init__(self, probabilities: np.ndarray, context_map: np.ndarray,
                 model_id: bytes) -> None:
        context_map = np.ascontiguousarray(context_map, dtype=np.int32)
        if context_map.shape != (CONTEXT_COUNT,):
            raise ValueError(f"context map has {context_map.shape}, the model needs "
                             f"({CONTEXT_COUNT},)")
        if context_map.min() < 0 or context_map.max() >= probabilities.shape[0]:
            raise ValueError("context map points outside the tables")
        self.probabilities = probabilities
        self.context_map = context_map
        self.model_id = bytes(model_id)

    def on_device(self, device: str) -> ClassicModel:
        """The model running on `device` ("auto", "cpu", "cuda"); the classic model is
        numba code on the CPU whatever is asked."""
        return self

    def begin(self, shapes: Sequence[tuple[int, int]], quant_tables: Sequence[np.ndarray],
              sampling: Sequence[tuple[int, int]],
              planes: Sequence[np.ndarray] | None = None, fine: bool = False
              ) -> ClassicSession:
        """Start coding one image (planes given: encoder; None: decoder). Its contexts are
        table indices, or with `fine` the contexts before clustering (context_map maps
        them to tables)."""
        return ClassicSession(FINE_MAP if fine else self.context_map, shapes, quant_tables,
                              sampling, planes)
