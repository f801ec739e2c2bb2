"""Compiled context computation of the classic model (integer arithmetic only).

Every `*_contexts` kernel fills, for one coding step of one component, the flat block
indices it codes (`idx`), an integer prediction and a context index per block (the fine
context, computed here, mapped through `cmap` to the table that codes it),
reading only state the decoder has already rebuilt: `z` (the coefficients as 64 zigzag
planes (64, h, w) int16, so a step reads whole planes, not one value per 128-byte block;
zero where not decoded yet) and `nnz` / `rem` (nonzero AC count per block, and how many
of them are still to come). The `*_commit` kernels store decoded values and return -1 for
values no valid stream can produce. Magnitudes are taken in int64 (an int16 -32768 has
none), and hot helpers are inlined (a numba call with array arguments is not cheap).

Lattice steps (nonzero counts and DC) visit a coarse-to-fine grid: ROOT is block (0, 0);
DIAG at stride h codes the blocks at odd multiples of h in both coordinates, from their
four diagonal neighbours at distance h; AXIAL then codes the other blocks on the stride-h
grid from their four axial neighbours. Each block of the grid is coded exactly once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..jit import kernel

ROOT, DIAG, AXIAL = 0, 1, 2
FIX = 12  # fixed-point bits of the DC edge weights
GRADIENT_CLAMP = 1 << 40  # far beyond any real image; keeps int64 sums exact
FIRST_COLUMN, LAST_COLUMN = 1, 2  # flags of an active-list entry
SIGNS = 3  # AC sign buckets: neighbours' sum zero, positive, negative
# sign contexts per (class, AC frequency), see ac_contexts: half 0 takes the first
# SIGN_KEYS_HALF0, half 1 the rest
SIGN_KEYS_HALF0 = 25 * 27
SIGN_KEYS = SIGN_KEYS_HALF0 + 25 * 9 * 9
# magnitude side contexts, see ac_contexts: per (class, AC frequency), except the estimate
# context (per class only); a symbol's side contexts are SIDE_COLUMNS: sign, own, past,
# estimate, remaining
SIDE_COLUMNS = 5
OWN_KEYS = 16 * 16
PAST_KEYS = 64 * 8
ESTIMATE_KEYS = 64
REMAINING_KEYS = 64


@kernel
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


@njit(cache=True, inline="always")
def _row(b, i, width):
    """Row of flat index b, from the row i of the previous (smaller) one: no division."""
    while b >= (i + 1) * width:
        i += 1
    return i


@njit(cache=True, inline="always")
def _neighbour(kind, d, h):
    """Offset of lattice neighbour d (0..3) for a DIAG or AXIAL step."""
    if kind == DIAG:
        return (-h, -h, h, h)[d], (-h, h, -h, h)[d]
    return (0, 0, -h, h)[d], (-h, h, 0, 0)[d]


@kernel
def nnz_contexts(nnz, kind, h, base, avg_lut, cmap, idx, pred, ctx):
    """Nonzero-AC count per block, predicted by the mean count of its lattice neighbours."""
    height, width = nnz.shape
    n = lattice_blocks(height, width, kind, h, idx)
    i = 0
    for t in range(n):
        i = _row(idx[t], i, width)
        j = idx[t] - i * width
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


@kernel
def nnz_commit(nnz, rem, idx, values):
    """Store decoded counts; returns their sum, or -1 when one is outside 0..63."""
    nnzf = nnz.reshape(nnz.size)
    remf = rem.reshape(rem.size)
    total = 0
    for t in range(idx.size):
        v = values[t]
        if v < 0 or v > 63:
            return -1
        nnzf[idx[t]] = v
        remf[idx[t]] = v
        total += v
    return total


@njit(cache=True, inline="always")
def _sign3(v):
    """0, 1, 2 for negative, zero, positive."""
    return (v >= 0) + (v > 0)


@njit(cache=True, inline="always")
def _signed_bucket(v):
    """0..4: below -2, -2..-1, zero, 1..2, above 2."""
    return 2 + (v > 0) + (v > 2) - (v < 0) - (v < -2)


@kernel
def ac_contexts(z, rem, nnz, active, count, k, half, lower, bases, cmap, luts, learned, mix,
                encode, out):
    """AC coefficient k of the blocks of one checkerboard half that still hold nonzeros.

    `active[:count]` lists the half's blocks that had nonzeros left (see split_active); it
    is compacted in place. `lower`: the zigzag indices of (u-1, v), (u, v-1), (u-2, v),
    (u, v-2) and (u-1, v-1) (-1 off the grid); `bases`: the step's first fine context, then
    the first of each side context (below); `luts`: the remaining-count, estimate and
    network-estimate lookups; `out`: the block indices, predictions, contexts, values and
    side contexts it fills. Half 1 sees coefficient k of its four neighbours (half 0 was
    coded first); half 0 sees the lower frequencies (u-1, v) and (u, v-1) of its
    neighbours; both see those of their own block (one off the 8x8 grid counts 0). Half 1
    also sees the sign of the sum of its neighbours' coefficient k (smooth gradients carry
    the sign across blocks); half 0 of the first AC (nothing of lower frequency decoded
    yet) sees the nonzero counts of its neighbours instead.
    `learned` (empty for the classic model) is the learned network's output t for
    coefficient k per block (net.py); its magnitude estimate `est_of_t[t]` is mixed with
    the classic one, weighted `mix` : 4 - mix towards the learned one.
    `side` gets five more contexts per symbol for the adaptive coder, each from its
    `side_base` on: the sign context (0..SIGN_KEYS-1); the *own* context (the block's
    (u-1, v) and (u, v-1) magnitudes, each up to 15: 0..OWN_KEYS-1); the *past* context
    (how many nonzeros the block had before k, up to 63, and the magnitude of coefficient
    k-1, up to 7: 0..PAST_KEYS-1); the *estimate* context (the network's t / 4, or the
    classic estimate's for the classic model: 0..ESTIMATE_KEYS-1; the caller keys it by
    class only) and the *remaining* context (the block's nonzeros still to come, up to
    63). The sign context, half 1: the signed sums of the
    vertical and of the horizontal neighbours' coefficient k (kept apart: a horizontal
    frequency's sign follows the blocks above and below, a vertical one's the blocks
    beside), the signs of the block's own (u-1, v) and (u, v-1), and of its (u-2, v) and
    (u, v-2); half 0: the block's own (u-1, v) and (u, v-1) signed and bucketed, and the
    signs of its (u-2, v), (u, v-2) and (u-1, v-1).
    `encode` (z holds the truth) also takes the values and commits them: a block's `rem`
    is read by its own context only. Returns (symbols, blocks still active, nonzeros
    committed).
    """
    up, left, sign_lower = lower[0], lower[1], lower[2:]
    base, side_base = bases[0], bases[1:]
    rem_lut, est_lut, est_of_t = luts
    est_count = est_lut[est_lut.size - 1] + 1
    idx, pred, ctx, values, side = out
    blocks = rem.size
    width = rem.shape[1]
    last_row = blocks - width
    flat = z.reshape(64, blocks)
    remf = rem.reshape(blocks)
    nnzf = nnz.reshape(blocks)
    zk, zu, zl, zp = flat[k], flat[max(up, 0)], flat[max(left, 0)], flat[k - 1]
    wu, wl = (1 if up >= 0 else 0), (1 if left >= 0 else 0)
    zu2, zl2, zd = flat[max(sign_lower[0], 0)], flat[max(sign_lower[1], 0)], flat[
        max(sign_lower[2], 0)]
    wu2, wl2, wd = (1 if sign_lower[0] >= 0 else 0), (1 if sign_lower[1] >= 0 else 0), (
        1 if sign_lower[2] >= 0 else 0)
    n = 0
    keep = 0
    nonzero = 0
    for a in range(count):
        e = active[a]
        b = e >> 2
        r = remf[b]
        if r <= 0:
            continue
        active[keep] = e
        keep += 1
        own_up = wu * np.int64(zu[b])
        own_left = wl * np.int64(zl[b])
        own = abs(own_up) + abs(own_left)
        lower = _sign3(wu2 * np.int64(zu2[b])) * 3 + _sign3(wl2 * np.int64(zl2[b]))
        sign = 0
        if half == 1:
            near = 0
            horizontal = 0
            vertical = 0
            avail = 0
            if not e & FIRST_COLUMN:
                x = np.int64(zk[b - 1])
                near += abs(x)
                horizontal += x
                avail += 1
            if not e & LAST_COLUMN:
                x = np.int64(zk[b + 1])
                near += abs(x)
                horizontal += x
                avail += 1
            if b >= width:
                x = np.int64(zk[b - width])
                near += abs(x)
                vertical += x
                avail += 1
            if b < last_row:
                x = np.int64(zk[b + width])
                near += abs(x)
                vertical += x
                avail += 1
            mean4 = near if avail == 4 else (4 * near) // max(avail, 1)
            est = 2 * mean4 + 2 * own
            signed = horizontal + vertical
            sign = (signed > 0) + 2 * (signed < 0)  # no branch: the sign is a coin flip
            side[n, 0] = side_base[0] + SIGN_KEYS_HALF0 + ((
                (_signed_bucket(vertical) * 5 + _signed_bucket(horizontal)) * 3
                + _sign3(own_up)) * 3 + _sign3(own_left)) * 9 + lower
        elif k == 1:  # the neighbours' nonzero counts, scaled to four neighbours
            left = 0 if e & FIRST_COLUMN else 1
            right = 0 if e & LAST_COLUMN else 1
            above = 1 if b >= width else 0
            below = 1 if b < last_row else 0
            total = (left * nnzf[b - left] + right * nnzf[b + right]
                     + above * nnzf[b - above * width] + below * nnzf[b + below * width])
            est = (4 * total) // max(left + right + above + below, 1)
        else:
            low = 0
            if not e & FIRST_COLUMN:
                low += wu * abs(np.int64(zu[b - 1])) + wl * abs(np.int64(zl[b - 1]))
            if not e & LAST_COLUMN:
                low += wu * abs(np.int64(zu[b + 1])) + wl * abs(np.int64(zl[b + 1]))
            if b >= width:
                low += wu * abs(np.int64(zu[b - width])) + wl * abs(np.int64(zl[b - width]))
            if b < last_row:
                low += wu * abs(np.int64(zu[b + width])) + wl * abs(np.int64(zl[b + width]))
            est = low // 2 + 2 * own
        if half == 0:
            side[n, 0] = side_base[0] + ((_signed_bucket(own_up) * 5 + _signed_bucket(own_left))
                                         * 3 + _sign3(wd * np.int64(zd[b]))) * 9 + lower
        side[n, 1] = side_base[1] + min(abs(own_up), 15) * 16 + min(abs(own_left), 15)
        side[n, 2] = side_base[2] + min(np.int64(nnzf[b]) - r, 63) * 8 + min(
            abs(np.int64(zp[b])), 7)
        side[n, 3] = side_base[3] + ((learned[b] if learned.size else min(est, 255)) >> 2)
        side[n, 4] = side_base[4] + min(r, REMAINING_KEYS - 1)
        if learned.size:
            est = (mix * est_of_t[learned[b]] + (4 - mix) * est) >> 2
        rb = rem_lut[min(r, rem_lut.size - 1)]
        eb = est_lut[min(est, est_lut.size - 1)]
        idx[n] = b
        pred[n] = 0
        ctx[n] = cmap[base + ((rb * est_count + eb) * SIGNS + sign) * 2]
        if encode:
            v = zk[b]
            values[n] = v
            if v != 0:
                remf[b] -= 1
                nonzero += 1
        n += 1
    return n, keep, nonzero


@kernel
def ac_commit(z, rem, k, idx, values):
    """Store coefficient k; returns how many were nonzero, or -1 outside int16."""
    blocks = rem.size
    zk = z.reshape(64, blocks)[k]
    remf = rem.reshape(blocks)
    nonzero = 0
    for t in range(idx.size):
        v = values[t]
        if v < -32768 or v > 32767:
            return -1
        b = idx[t]
        zk[b] = v
        if v != 0:
            remf[b] -= 1
            nonzero += 1
    return nonzero


@kernel
def gather(plane, idx, out):
    """Encoder targets: plane[idx] (a coefficient plane, or the nonzero counts)."""
    flat = plane.reshape(plane.size)
    for t in range(idx.size):
        out[t] = flat[idx[t]]
    return out


@kernel
def to_zigzag(truth, zigzag, z, count, dc):
    """Encoder: natural-order (h, w, 64) blocks -> the AC of zigzag planes z (64, h, w),
    the nonzero AC count and the DC of every block. z[0] stays zero: the DC is coded last,
    so the AC contexts must see it as the decoder does (not yet decoded). One block row
    at a time, one plane row after the other (64 interleaved plane writes would thrash
    the cache when the plane size is a multiple of 4 KiB)."""
    height, width = count.shape
    for i in range(height):
        for j in range(width):
            dc[i, j] = truth[i, j, 0]
            z[0, i, j] = 0
            count[i, j] = 0
        for m in range(1, 64):
            n = zigzag[m]
            row = z[m, i]
            for j in range(width):
                v = truth[i, j, n]
                row[j] = v
                count[i, j] += v != 0  # no branch: a mispredicted one per coefficient


@kernel
def to_natural(z, zigzag, out):
    """Decoder: zigzag planes (64, h, w) -> natural-order int16 blocks (h, w, 64)."""
    height, width = out.shape[0], out.shape[1]
    for i in range(height):
        for m in range(64):
            n = zigzag[m]
            row = z[m, i]
            for j in range(width):
                out[i, j, n] = row[j]
    return out


@kernel
def split_active(nnz, half0, half1):
    """Blocks with nonzero AC, per checkerboard half, in raster order; returns the counts.
    Each entry is flat index << 2 | FIRST_COLUMN | LAST_COLUMN (no division per visit)."""
    height, width = nnz.shape
    n0 = 0
    n1 = 0
    for i in range(height):
        for j in range(width):
            if nnz[i, j] > 0:
                e = (i * width + j) << 2
                if j == 0:
                    e |= FIRST_COLUMN
                if j == width - 1:
                    e |= LAST_COLUMN
                if (i + j) % 2 == 0:
                    half0[n0] = e
                    n0 += 1
                else:
                    half1[n1] = e
                    n1 += 1
    return n0, n1


@njit(cache=True, nogil=True)  # allocates its planes
def dc_paths(z, row_zz, col_zz, row_q, col_q, weights):
    """Running sums of the DC steps between neighbours that edge continuity predicts.

    gx[i, j] estimates DC(i, j) - DC(i, j-1) (dequantized, 2**FIX units) by asking the
    mean of the shared block edge to match on both sides, from the first-row AC of both
    blocks; gy likewise from the first column. cx / cy accumulate them along rows /
    columns, so the estimated DC difference of any two blocks on a line is one subtraction.
    """
    height, width = z.shape[1], z.shape[2]
    cx = np.zeros((height, width), np.int64)
    cy = np.zeros((height, width), np.int64)
    g = np.zeros(width, np.int64)
    for i in range(height):
        g[:] = 0
        for v in range(1, 8):
            row = z[row_zz[v], i]
            f = weights[v] * row_q[v]
            sign = 1 if v % 2 == 0 else -1
            for j in range(1, width):
                g[j] += f * (sign * np.int64(row[j - 1]) - np.int64(row[j]))
        for j in range(1, width):
            cx[i, j] = cx[i, j - 1] + max(-GRADIENT_CLAMP, min(GRADIENT_CLAMP, g[j]))
        if i == 0:
            continue
        g[:] = 0
        for u in range(1, 8):
            plane = z[col_zz[u]]
            f = weights[u] * col_q[u]
            sign = 1 if u % 2 == 0 else -1
            for j in range(width):
                g[j] += f * (sign * np.int64(plane[i - 1, j]) - np.int64(plane[i, j]))
        for j in range(width):
            cy[i, j] = cy[i - 1, j] + max(-GRADIENT_CLAMP, min(GRADIENT_CLAMP, g[j]))
    return cx, cy


@kernel
def dc_contexts(z, nnz, cx, cy, q0, kind, h, base, spread_lut, act_lut, act_count, cmap,
                idx, pred, ctx):
    """DC of one lattice step: mean over decoded lattice neighbours of (their DC + path).

    Paths follow the edge-continuity differences; a diagonal neighbour averages the two
    L-shaped paths. The spread of the neighbour estimates picks the context.
    """
    height, width = nnz.shape
    dc = z[0]
    n = lattice_blocks(height, width, kind, h, idx)
    scale = np.int64(q0) << FIX
    i = 0
    for t in range(n):
        i = _row(idx[t], i, width)
        j = idx[t] - i * width
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
                est = 2 * np.int64(dc[y, x]) * scale
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


@kernel
def dc_commit(z, idx, values):
    """Store decoded DC values; returns -1 when one is outside int16."""
    dc = z.reshape(64, z.shape[1] * z.shape[2])[0]
    for t in range(idx.size):
        v = values[t]
        if v < -32768 or v > 32767:
            return -1
        dc[idx[t]] = v
    return 0
