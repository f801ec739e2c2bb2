"""Find, hash and load the classic model's weights (.npz, never unpickled).

The model id is the SHA-256 of the weights file bytes: a .jrz names the exact tables that
coded it, and a decoder refuses tables with another id.
"""

from __future__ import annotations

import hashlib
import io
from importlib.resources import files

import numpy as np

from .classic import CONTEXT_COUNT, ClassicModel

DEFAULT_WEIGHTS = "classic-v2.npz"
LAYOUT_VERSION = 2


def layout() -> np.ndarray:
    """What the tables must match: layout version and context count."""
    return np.array([LAYOUT_VERSION, CONTEXT_COUNT], dtype=np.int64)


def model_from_bytes(data: bytes) -> ClassicModel:
    """Build a ClassicModel from the bytes of a weights file."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        if not np.array_equal(npz["layout"], layout()):
            raise ValueError(f"weights layout {npz['layout'].tolist()} does not match the code "
                             f"({layout().tolist()})")
        frequencies = npz["frequencies"].astype(np.float64)
        context_map = npz["context_map"].astype(np.int32)
    if np.any(frequencies <= 0):
        raise ValueError("weights hold a zero frequency")
    probabilities = frequencies / frequencies.sum(axis=1, keepdims=True)
    return ClassicModel(probabilities, context_map, hashlib.sha256(data).digest())


def save_weights(path, frequencies: np.ndarray, context_map: np.ndarray,
                 **metadata: np.ndarray) -> bytes:
    """Write the tables (uint16 frequencies, one row per table) and the map of every
    context to its table; returns the file bytes."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, layout=layout(), frequencies=frequencies.astype(np.uint16),
                        context_map=context_map.astype(np.int32), **metadata)
    data = buffer.getvalue()
    with open(path, "wb") as handle:
        handle.write(data)
    return data


def default_weights_bytes() -> bytes:
    """The bytes of the weights shipped in the jpegzip.weights package."""
    return (files("jpegzip.weights") / DEFAULT_WEIGHTS).read_bytes()


def untrained_model(alphabet: int) -> ClassicModel:
    """Uniform tables: the contexts are computed but not yet fitted (used by fitting)."""
    probabilities = np.full((CONTEXT_COUNT, alphabet), 1.0 / alphabet)
    model_id = hashlib.sha256(b"jpegzip-untrained-classic").digest()
    return ClassicModel(probabilities, np.arange(CONTEXT_COUNT), model_id)
