"""The fitted context tables as integer frequencies: what both coder sides derive their
arithmetic from (adaptive.py turns them into each decision's starting probability)."""

from __future__ import annotations

import numpy as np

from .symbols import ALPHABET


def integer_frequencies(probabilities: np.ndarray) -> np.ndarray:
    """The tables checked, as integer frequencies (rows summing to about 65535, every
    symbol >= 1)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != ALPHABET:
        raise ValueError(f"tables must be (contexts, {ALPHABET}), got {probabilities.shape}")
    if not np.all(probabilities > 0):
        raise ValueError("every symbol needs a nonzero probability")
    rows = probabilities / probabilities.sum(axis=1, keepdims=True)
    return np.maximum(np.rint(rows * 65535), 1).astype(np.int64)
