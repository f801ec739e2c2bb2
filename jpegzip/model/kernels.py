"""Compiled context computation of the classic model (integer arithmetic only).

Every `*_contexts` kernel fills, for one coding step of one component, the flat block
indices it codes (`idx`), an integer prediction and a context index per block (the fine
context, computed here, mapped through `cmap` to the table that codes it),
reading only state the decoder has already rebuilt: `z` (coefficients in zigzag order,
zero where not decoded yet) and `nnz` / `rem` (nonzero AC count per block, and how many
of them are still to come). The `*_commit` kernels store decoded values and return -1 for
values no valid stream can produce.

Lattice steps (nonzero counts and DC) visit a coarse-to-fine grid: ROOT is block (0, 0);
DIAG at stride h codes the blocks at odd multiples of h in both coordinates, from their
four diagonal neighbours at distance h; AXIAL then codes the other blocks on the stride-h
grid from their four axial neighbours. Each block of the grid is coded exactly once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

ROOT, DIAG, AXIAL = 0, 1, 2
FIX = 12  # fixed-point bits of the DC edge weights
GRADIENT_CLAMP = 1 << 40  # far beyond any real image; keeps int64 sums exact


@njit(cache=True)
def lattice_blocks(height, width, kind, h, out):
    """Flat indices of the blocks coded by one lattice step; returns their count."""
    if kind == ROOT:
        out[0] = 0
        return 1
    n = 0
    if kind == DIAG:
        for i in range(h, height, 2 * h):
            for j in range(h, width, 2 * h):
                out[n] = i * width + j
                n += 1
        return n
    for i in range(0, height, h):
        for j in range(h if (i // h) % 2 == 0 else 0, width, 2 * h):
            out[n] = i * width + j
            n += 1
    return n


@njit(cache=True)
def _neighbour(kind, d, h):
    """Offset of lattice neighbour d (0..3) for a DIAG or AXIAL step."""
    if kind == DIAG:
        return (-h, -h, h, h)[d], (-h, h, -h, h)[d]
    return (0, 0, -h, h)[d], (-h, h, 0, 0)[d]


@njit(cache=True)
def nnz_contexts(nnz, kind, h, base, avg_lut, cmap, idx, pred, ctx):
    """Nonzero-AC count per block, predicted by the mean count of its lattice neighbours."""
    height, width = nnz.shape
    n = lattice_blocks(height, width, kind, h, idx)
    for t in range(n):
        i, j = idx[t] // width, idx[t] % width
        total = 0
        avail = 0
        if kind != ROOT:
            for d in range(4):
                di, dj = _neighbour(kind, d, h)
                if 0 <= i + di < height and 0 <= j + dj < width:
                    total += nnz[i + di, j + dj]
                    avail += 1
        if avail:
            pred[t] = (total + avail // 2) // avail
            mean4 = (4 * total) // avail
        else:
            pred[t] = 0
            mean4 = 0
        ctx[t] = cmap[base + avg_lut[min(mean4, avg_lut.size - 1)]]
    return n


@njit(cache=True)
def nnz_commit(nnz, rem, idx, values):
    """Store decoded counts; returns their sum, or -1 when one is outside 0..63."""
    width = nnz.shape[1]
    total = 0
    for t in range(idx.size):
        v = values[t]
        if v < 0 or v > 63:
            return -1
        nnz[idx[t] // width, idx[t] % width] = v
        rem[idx[t] // width, idx[t] % width] = v
        total += v
    return total


@njit(cache=True)
def ac_contexts(z, rem, active, count, k, half, up, left, base, rem_lut, est_lut, est_count,
                cmap, idx, pred, ctx):
    """AC coefficient k of the blocks of one checkerboard half that still hold nonzeros.

    `active[:count]` lists the half's blocks that had nonzeros left; it is compacted in
    place. Half 1 sees coefficient k of its four neighbours (half 0 was coded first); both
    halves see the lower frequencies (u-1, v) and (u, v-1) of their block and neighbours.
    Returns (symbols, blocks still active).
    """
    height, width = rem.shape
    n = 0
    keep = 0
    for a in range(count):
        b = active[a]
        i, j = b // width, b % width
        r = rem[i, j]
        if r <= 0:
            continue
        active[keep] = b
        keep += 1
        own = 0
        if up >= 0:
            own += abs(z[i, j, up])
        if left >= 0:
            own += abs(z[i, j, left])
        near = 0
        low = 0
        avail = 0
        for d in range(4):
            y = i + (0, 0, -1, 1)[d]
            x = j + (-1, 1, 0, 0)[d]
            if 0 <= y < height and 0 <= x < width:
                avail += 1
                near += abs(z[y, x, k])
                if up >= 0:
                    low += abs(z[y, x, up])
                if left >= 0:
                    low += abs(z[y, x, left])
        if half == 1 and avail > 0:
            est = 2 * ((4 * near) // avail) + 2 * own
        else:
            est = low // 2 + 2 * own
        rb = rem_lut[min(r, rem_lut.size - 1)]
        eb = est_lut[min(est, est_lut.size - 1)]
        idx[n] = b
        pred[n] = 0
        ctx[n] = cmap[base + (rb * est_count + eb) * 2]
        n += 1
    return n, keep


@njit(cache=True)
def ac_commit(z, rem, k, idx, values):
    """Store coefficient k; returns how many were nonzero, or -1 outside int16."""
    width = rem.shape[1]
    nonzero = 0
    for t in range(idx.size):
        v = values[t]
        if v < -32768 or v > 32767:
            return -1
        i, j = idx[t] // width, idx[t] % width
        z[i, j, k] = v
        if v != 0:
            rem[i, j] -= 1
            nonzero += 1
    return nonzero


@njit(cache=True)
def gather(truth, idx, k, out):
    """Encoder targets: truth[block, k] (natural index k) for the coded blocks; k < 0
    gives the count of nonzero AC coefficients instead."""
    width = truth.shape[1]
    for t in range(idx.size):
        i, j = idx[t] // width, idx[t] % width
        if k >= 0:
            out[t] = truth[i, j, k]
        else:
            c = 0
            for m in range(1, 64):
                if truth[i, j, m] != 0:
                    c += 1
            out[t] = c
    return out


@njit(cache=True)
def dc_paths(z, row_zz, col_zz, row_q, col_q, weights):
    """Running sums of the DC steps between neighbours that edge continuity predicts.

    gx[i, j] estimates DC(i, j) - DC(i, j-1) (dequantized, 2**FIX units) by asking the
    mean of the shared block edge to match on both sides, from the first-row AC of both
    blocks; gy likewise from the first column. cx / cy accumulate them along rows /
    columns, so the estimated DC difference of any two blocks on a line is one subtraction.
    """
    height, width = z.shape[0], z.shape[1]
    cx = np.zeros((height, width), np.int64)
    cy = np.zeros((height, width), np.int64)
    for i in range(height):
        for j in range(width):
            if j > 0:
                g = 0
                for v in range(1, 8):
                    left = z[i, j - 1, row_zz[v]] * (1 if v % 2 == 0 else -1)
                    g += weights[v] * row_q[v] * (left - z[i, j, row_zz[v]])
                cx[i, j] = cx[i, j - 1] + max(-GRADIENT_CLAMP, min(GRADIENT_CLAMP, g))
            if i > 0:
                g = 0
                for u in range(1, 8):
                    above = z[i - 1, j, col_zz[u]] * (1 if u % 2 == 0 else -1)
                    g += weights[u] * col_q[u] * (above - z[i, j, col_zz[u]])
                cy[i, j] = cy[i - 1, j] + max(-GRADIENT_CLAMP, min(GRADIENT_CLAMP, g))
    return cx, cy


@njit(cache=True)
def dc_contexts(z, nnz, cx, cy, q0, kind, h, base, spread_lut, act_lut, act_count, cmap,
                idx, pred, ctx):
    """DC of one lattice step: mean over decoded lattice neighbours of (their DC + path).

    Paths follow the edge-continuity differences; a diagonal neighbour averages the two
    L-shaped paths. The spread of the neighbour estimates picks the context.
    """
    height, width = nnz.shape
    n = lattice_blocks(height, width, kind, h, idx)
    scale = np.int64(q0) << FIX
    for t in range(n):
        i, j = idx[t] // width, idx[t] % width
        total = np.int64(0)
        lo = np.int64(0)
        hi = np.int64(0)
        avail = 0
        if kind != ROOT:
            for d in range(4):
                di, dj = _neighbour(kind, d, h)
                y, x = i + di, j + dj
                if not (0 <= y < height and 0 <= x < width):
                    continue
                est = 2 * np.int64(z[y, x, 0]) * scale
                if kind == DIAG:
                    est += (cx[y, j] - cx[y, x]) + (cy[i, j] - cy[y, j])
                    est += (cy[i, x] - cy[y, x]) + (cx[i, j] - cx[i, x])
                elif di == 0:
                    est += 2 * (cx[i, j] - cx[i, x])
                else:
                    est += 2 * (cy[i, j] - cy[y, j])
                if avail == 0 or est < lo:
                    lo = est
                if avail == 0 or est > hi:
                    hi = est
                total += est
                avail += 1
        spread = 0
        if avail:
            used = avail
            if avail >= 3:  # drop the two extreme estimates: edges across objects mislead
                total -= lo + hi
                used -= 2
            den = 2 * scale * used
            p = (total + den // 2) // den
            pred[t] = max(-32768, min(32767, p))
            spread = min((hi - lo) // (2 * scale), spread_lut.size - 1)
        else:
            pred[t] = 0
        act = act_lut[min(nnz[i, j], act_lut.size - 1)]
        ctx[t] = cmap[base + spread_lut[spread] * act_count + act]
    return n


@njit(cache=True)
def dc_commit(z, idx, values):
    """Store decoded DC values; returns -1 when one is outside int16."""
    width = z.shape[1]
    for t in range(idx.size):
        v = values[t]
        if v < -32768 or v > 32767:
            return -1
        z[idx[t] // width, idx[t] % width, 0] = v
    return 0
