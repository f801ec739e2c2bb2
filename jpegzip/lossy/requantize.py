"""Requantization: the coefficients (and tables) of a smaller JPEG that looks like the original.

Every choice is made against the original's reconstruction (coefficient x table entry),
so distortion is measured from what the original JPEG decodes to. The JPEG DCT is
orthonormal: squared error on the coefficients is squared error on the component's pixels
(before rounding, upsampling and colour conversion), and ``component_weights`` turns it
into RGB squared error per image pixel.

Two ways to spend fewer bits, both driven by one knob ``lam`` (squared error per bit):
- ``rd_decisions``: per coefficient, keep it or move it toward zero (to |x|-1, |x|-2 or 0)
  where the bits it saves are worth the error it adds. The bits come from a cost table
  counted on this image's own coefficients: magnitude given frequency and the magnitudes
  of the four neighbouring blocks at that frequency. For given tables the cost table is
  fixed, so each coefficient's error can only grow with ``lam``; the ladder (ladder.py)
  also coarsens the tables as ``lam`` grows, so over the whole range the image's error
  grows in practice, which benchmarks/lossy_rd.py checks, not by construction.
- ``scale_tables``: the file's table times a factor, coefficients re-rounded (the ablation
  and what "requantize" means elsewhere).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from .ladder import coarser_table

# Squared error on Y, Cb and Cr -> mean squared error over R, G and B (JFIF, ITU-R BT.601):
# R = Y + 1.402 Cr, G = Y - 0.344 Cb - 0.714 Cr, B = Y + 1.772 Cb, averaged over 3 channels.
_YCC_TO_RGB_WEIGHTS = (1.0, (0.344**2 + 1.772**2) / 3, (1.402**2 + 0.714**2) / 3)
_MAX_MAGNITUDE = 15  # cost-table bins: 0..14, and 15 for anything larger
_NEIGHBOUR_BINS = np.array([0, 1, 2, 3, 4, 4, 5, 5, 5, 6])  # sum of 4 neighbours, 0..9+
_SMOOTHING = 0.4  # added to every bin, so an unseen magnitude has a finite cost
_CONTEXTS = int(_NEIGHBOUR_BINS[-1] + 1) * 64


def component_weights(sampling: Sequence[tuple[int, int]]) -> list[float]:
    """Per component: RGB squared error per unit of coefficient squared error, counting
    the pixels each chroma sample covers. Components beyond Y, Cb, Cr weigh 1."""
    h_max = max(h for h, _ in sampling)
    v_max = max(v for _, v in sampling)
    colour = _YCC_TO_RGB_WEIGHTS if len(sampling) == 3 else (1.0,) * len(sampling)
    return [
        colour[i] * (h_max * v_max) / (h * v) for i, (h, v) in enumerate(sampling)
    ]


def rd_decisions(
    planes: Sequence[np.ndarray],
    quant_tables: Sequence[np.ndarray],
    sampling: Sequence[tuple[int, int]],
    lam: float,
    new_tables: Sequence[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """New planes for ``new_tables`` (default: the same tables) where each AC coefficient,
    re-rounded to its new step, then minimizes error + lam * bits."""
    new_tables = quant_tables if new_tables is None else new_tables
    weights = component_weights(sampling)
    return [
        _decide(np.asarray(plane), np.asarray(table, np.int64), np.asarray(new, np.int64),
                weight, lam)
        for plane, table, new, weight in zip(planes, quant_tables, new_tables, weights,
                                             strict=True)
    ]  # fmt: skip


def scale_tables(
    planes: Sequence[np.ndarray], quant_tables: Sequence[np.ndarray], scale: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(planes, tables) with every table entry times ``scale`` (rounded, 1..255) and the
    coefficients re-rounded to the new steps."""
    new_tables = [coarser_table(table, scale) for table in quant_tables]
    new_planes = [_decide(np.asarray(plane), np.asarray(table, np.int64), new, 1.0, 0.0)
                  for plane, table, new in zip(planes, quant_tables, new_tables, strict=True)]
    return new_planes, new_tables


def _decide(
    plane: np.ndarray, table: np.ndarray, new_table: np.ndarray, weight: float, lam: float
) -> np.ndarray:
    """One component: re-rounded to the new steps, then (lam > 0) the decisions, with the
    cost table counted over the whole plane first."""
    magnitudes = np.empty(plane.shape, np.int32)
    _magnitudes(plane, table, new_table, magnitudes)
    if lam <= 0:
        return (np.sign(plane) * magnitudes).astype(np.int16)
    counts = np.full((_CONTEXTS, _MAX_MAGNITUDE + 1), _SMOOTHING)
    _count_contexts(magnitudes, _NEIGHBOUR_BINS, counts)
    log_cost = -np.log2(counts / counts.sum(axis=1, keepdims=True))
    decided = np.empty(plane.shape, np.int16)
    _decide_plane(plane, magnitudes, table, new_table, _NEIGHBOUR_BINS, log_cost,
                  float(weight), float(lam), decided)  # fmt: skip
    return decided


@njit(cache=True)
def _magnitudes(plane, table, new_table, out):
    """|the original's coefficients re-rounded to the new steps| (halves away from zero)."""
    for r in range(plane.shape[0]):
        for c in range(plane.shape[1]):
            for k in range(64):
                value = abs(np.int64(plane[r, c, k]) * table[k])
                out[r, c, k] = (value + new_table[k] // 2) // new_table[k]


@njit(cache=True, inline="always")
def _context(magnitudes, bins, r, c, k):
    """Cost-table row: the frequency and the summed magnitude of the four neighbouring
    blocks at it (outside the plane counts as 0)."""
    rows, cols = magnitudes.shape[0], magnitudes.shape[1]
    total = 0
    if r > 0:
        total += magnitudes[r - 1, c, k]
    if r + 1 < rows:
        total += magnitudes[r + 1, c, k]
    if c > 0:
        total += magnitudes[r, c - 1, k]
    if c + 1 < cols:
        total += magnitudes[r, c + 1, k]
    return bins[min(total, bins.shape[0] - 1)] * 64 + k


@njit(cache=True)
def _count_contexts(magnitudes, bins, counts):
    top = counts.shape[1] - 1
    for r in range(magnitudes.shape[0]):
        for c in range(magnitudes.shape[1]):
            for k in range(64):
                m = magnitudes[r, c, k]
                counts[_context(magnitudes, bins, r, c, k), min(m, top)] += 1


@njit(cache=True, inline="always")
def _bits(log_cost, row, m):
    top = log_cost.shape[1] - 1
    cost = log_cost[row, min(m, top)] + (1.0 if m > 0 else 0.0)
    return cost + (2 * np.log2(max(m, 1)) if m >= top else 0.0)


@njit(cache=True)
def _decide_plane(plane, magnitudes, table, new_table, bins, log_cost, weight, lam, out):
    """Per AC coefficient: keep its re-rounded magnitude m or take m-1, m-2 or 0, whichever
    costs least error + lam * bits (the first such in that order); DC is only re-rounded."""
    for r in range(plane.shape[0]):
        for c in range(plane.shape[1]):
            for k in range(64):
                m = magnitudes[r, c, k]
                best = m
                if k > 0 and m > 0:
                    row = _context(magnitudes, bins, r, c, k)
                    target = float(abs(np.int64(plane[r, c, k]) * table[k]))
                    step = float(new_table[k])
                    best_cost = weight * (target - m * step) ** 2 + lam * _bits(log_cost, row, m)
                    for candidate in (max(m - 1, 0), max(m - 2, 0), 0):
                        cost = (weight * (target - candidate * step) ** 2
                                + lam * _bits(log_cost, row, candidate))
                        if cost < best_cost:
                            best, best_cost = candidate, cost
                out[r, c, k] = -best if plane[r, c, k] < 0 else best
