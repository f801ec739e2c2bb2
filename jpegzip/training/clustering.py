"""Merge fine contexts into a few shared tables per coding step (used by fitting only).

A fine context's table is where the adaptive coder's probabilities start, and the table
level of its adaptation learns from every context sharing it: tables shared by contexts of
similar statistics learn faster than one per context. Contexts are merged greedily,
always the pair whose merge adds the fewest bits on the training counts, until each group
(the contexts one step can produce) has at most `size` tables and every further merge
would cost more than a set number of bits per image.
Contexts never seen in training join the table nearest to their smoothed prior.
"""

from __future__ import annotations

import numpy as np


def _cost(counts: np.ndarray, prior: np.ndarray, weight: float) -> np.ndarray:
    """Code length (bits) of each row of counts under its own smoothed distribution."""
    p = (counts + weight * prior) / (counts.sum(axis=-1, keepdims=True) + weight)
    return -(counts * np.log2(p)).sum(axis=-1)


def cluster_group(counts: np.ndarray, smoothed: np.ndarray, size: int, merge_below: float,
                  weight: float = 2.0) -> np.ndarray:
    """Cluster label of each context of one group: at most `size` clusters, and merging
    on while a merge costs fewer than `merge_below` bits on the training counts."""
    n = counts.shape[0]
    seen = np.flatnonzero(counts.sum(axis=1) > 0)
    prior = (counts.sum(axis=0) + 0.5) / (counts.sum() + 0.5 * counts.shape[1])
    labels = np.zeros(n, np.int64)
    if seen.size == 0:
        return labels
    sums = counts[seen].astype(np.float64)
    alive = np.ones(seen.size, bool)
    owner = np.arange(seen.size)
    single = _cost(sums, prior, weight)
    merged = _cost(sums[:, None, :] + sums[None, :, :], prior, weight)
    delta = merged - single[:, None] - single[None, :]
    np.fill_diagonal(delta, np.inf)
    for alive_count in range(seen.size, 1, -1):
        a, b = np.unravel_index(np.argmin(delta), delta.shape)
        if alive_count <= size and delta[a, b] >= merge_below:
            break
        sums[a] += sums[b]
        alive[b] = False
        owner[owner == b] = a
        delta[b, :] = np.inf
        delta[:, b] = np.inf
        single[a] = _cost(sums[a], prior, weight)
        row = _cost(sums[a][None, :] + sums, prior, weight) - single[a] - single
        row[~alive] = np.inf
        row[a] = np.inf
        delta[a, :] = row
        delta[:, a] = row
    roots = np.flatnonzero(alive)
    rank = {r: i for i, r in enumerate(roots)}
    labels[seen] = [rank[o] for o in owner]
    tables = (sums[roots] + weight * prior) / (sums[roots].sum(axis=1, keepdims=True) + weight)
    unseen = np.setdiff1d(np.arange(n), seen)
    if unseen.size:
        p = smoothed[unseen]
        kl = (p[:, None, :] * (np.log2(p)[:, None, :] - np.log2(tables)[None, :, :])).sum(-1)
        labels[unseen] = kl.argmin(axis=1)
    return labels


def cluster_contexts(counts: np.ndarray, smoothed: np.ndarray, groups: np.ndarray,
                     sizes: np.ndarray, merge_below: float) -> np.ndarray:
    """Global table index of every fine context; groups never share a table."""
    table = np.zeros(counts.shape[0], np.int64)
    next_table = 0
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        labels = cluster_group(counts[members], smoothed[members], int(sizes[g]), merge_below)
        _, labels = np.unique(labels, return_inverse=True)
        table[members] = next_table + labels
        next_table += int(labels.max()) + 1
    return table
