"""Context tables -> constriction entropy models, built once per model and cached.

Every context index owns one fixed categorical table over the symbol alphabet. The
constriction models are built from float64 probabilities with `perfect=False`, whose
quantization is deterministic for the pinned constriction version (0.5.x), so encoder and
decoder get the same fixed-point tables on any machine.
"""

from __future__ import annotations

import constriction
import numpy as np

from .symbols import ALPHABET

_cache: dict[bytes, CoderTables] = {}


def _rows(probabilities: np.ndarray) -> np.ndarray:
    """The tables checked and normalized, float64 rows summing to 1."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != ALPHABET:
        raise ValueError(f"tables must be (contexts, {ALPHABET}), got {probabilities.shape}")
    if not np.all(probabilities > 0):
        raise ValueError("every symbol needs a nonzero probability")
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def _frequencies(rows: np.ndarray) -> np.ndarray:
    return np.maximum(np.rint(rows * 65535), 1).astype(np.int64)


def integer_frequencies(probabilities: np.ndarray) -> np.ndarray:
    """The tables as integer frequencies (rows summing to about 65535, every symbol >= 1):
    what both coder sides derive their arithmetic from."""
    return _frequencies(_rows(probabilities))


class CoderTables:
    """One constriction Categorical per context, plus the uniform model for raw bits."""

    def __init__(self, probabilities: np.ndarray) -> None:
        rows = _rows(probabilities)
        self.count = rows.shape[0]
        # integer view of the tables, the base of per-image adaptation (adapt.py)
        self.frequencies = _frequencies(rows)
        self.log_frequencies = np.log2(self.frequencies / self.frequencies.sum(
            axis=1, keepdims=True))  # the encoder's cost estimates only
        self.models = [constriction.stream.model.Categorical(row, perfect=False) for row in rows]
        self.raw = constriction.stream.model.Uniform()


def coder_tables(model) -> CoderTables:
    """The CoderTables of a context model (anything with .model_id and .probabilities)."""
    key = bytes(model.model_id)
    tables = _cache.get(key)
    if tables is None:
        tables = CoderTables(model.probabilities)
        _cache[key] = tables
    return tables
