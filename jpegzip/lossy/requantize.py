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

# Squared error on Y, Cb and Cr -> mean squared error over R, G and B (JFIF, ITU-R BT.601):
# R = Y + 1.402 Cr, G = Y - 0.344 Cb - 0.714 Cr, B = Y + 1.772 Cb, averaged over 3 channels.
_YCC_TO_RGB_WEIGHTS = (1.0, (0.344**2 + 1.772**2) / 3, (1.402**2 + 0.714**2) / 3)
_MAX_MAGNITUDE = 15  # cost-table bins: 0..14, and 15 for anything larger
_NEIGHBOUR_BINS = np.array([0, 1, 2, 3, 4, 4, 5, 5, 5, 6])  # sum of 4 neighbours, 0..9+
_SMOOTHING = 0.4  # added to every bin, so an unseen magnitude has a finite cost
_SHRINK_STEPS = (1, 2)  # besides keeping a coefficient or zeroing it
_CONTEXTS = int(_NEIGHBOUR_BINS[-1] + 1) * 64
_STRIPE_ROWS = 32  # block rows decided at a time


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
    new_planes, new_tables = [], []
    for plane, table in zip(planes, quant_tables, strict=True):
        table = np.asarray(table, np.int64)
        scaled = np.clip(np.rint(table * scale), 1, 255).astype(np.int64)
        scaled = np.maximum(scaled, np.minimum(table, 255))  # never finer than the original
        values = plane.astype(np.int64) * table
        new_planes.append(_round_half_away(values, scaled).astype(np.int16))
        new_tables.append(scaled)
    return new_planes, new_tables


def _decide(
    plane: np.ndarray, table: np.ndarray, new_table: np.ndarray, weight: float, lam: float
) -> np.ndarray:
    """One component, in stripes of block rows (bounded memory at any image size): the
    cost table counted over the whole plane first, then the decisions."""
    decided = np.empty(plane.shape, np.int16)
    if lam <= 0:
        for start, stop in _stripes(plane.shape[0]):
            decided[start:stop] = _rounded(plane[start:stop], table, new_table)
        return decided
    counts = np.full((_CONTEXTS, _MAX_MAGNITUDE + 1), _SMOOTHING)
    for start, stop in _stripes(plane.shape[0]):
        magnitude, context = _magnitude_and_context(plane, start, stop, table, new_table)
        cell = context * (_MAX_MAGNITUDE + 1) + np.minimum(magnitude, _MAX_MAGNITUDE)
        counts += np.bincount(cell.ravel(), minlength=counts.size).reshape(counts.shape)
    log_cost = -np.log2(counts / counts.sum(axis=1, keepdims=True))

    for start, stop in _stripes(plane.shape[0]):
        magnitude, context = _magnitude_and_context(plane, start, stop, table, new_table)

        def bits(m: np.ndarray, context: np.ndarray = context) -> np.ndarray:
            cost = log_cost[context, np.minimum(m, _MAX_MAGNITUDE)] + (m > 0)
            return cost + np.where(m >= _MAX_MAGNITUDE, 2 * np.log2(np.maximum(m, 1)), 0.0)

        values = plane[start:stop].astype(np.int64) * table  # what the original decodes to
        target = np.abs(values).astype(np.float64)
        best = magnitude.copy()
        best_cost = weight * np.square(target - magnitude * new_table) + lam * bits(magnitude)
        zero = np.zeros_like(magnitude)
        for candidate in [np.maximum(magnitude - step, 0) for step in _SHRINK_STEPS] + [zero]:
            cost = weight * np.square(target - candidate * new_table) + lam * bits(candidate)
            better = cost < best_cost
            best = np.where(better, candidate, best)
            best_cost = np.where(better, cost, best_cost)
        best[..., 0] = magnitude[..., 0]  # DC stays: its errors spread over the whole block
        decided[start:stop] = np.sign(values) * best
    return decided


def _stripes(rows: int) -> list[tuple[int, int]]:
    return [(start, min(start + _STRIPE_ROWS, rows)) for start in range(0, rows, _STRIPE_ROWS)]


def _rounded(plane: np.ndarray, table: np.ndarray, new_table: np.ndarray) -> np.ndarray:
    """The original's coefficients re-rounded to the new steps."""
    return _round_half_away(plane.astype(np.int64) * table, new_table)


def _magnitude_and_context(
    plane: np.ndarray, start: int, stop: int, table: np.ndarray, new_table: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rounded magnitudes of block rows start..stop and each one's cost-table row:
    frequency and the summed magnitude of the four neighbouring blocks at it."""
    rows = plane.shape[0]
    low, high = max(start - 1, 0), min(stop + 1, rows)
    magnitude = np.abs(_rounded(plane[low:high], table, new_table))
    padded = np.pad(magnitude, ((int(start == 0), int(stop == rows)), (1, 1), (0, 0)))
    neighbours = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
    bins = len(_NEIGHBOUR_BINS)
    context = _NEIGHBOUR_BINS[np.minimum(neighbours, bins - 1)] * 64 + np.arange(64)
    return padded[1:-1, 1:-1], context


def _round_half_away(values: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """values / steps rounded to the nearest integer, halves away from zero (as libjpeg)."""
    return np.sign(values) * ((np.abs(values) + steps // 2) // steps)
