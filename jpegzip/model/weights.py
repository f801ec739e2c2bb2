"""Find, hash and load the context model's weights (.npz, never unpickled).

A weights file holds the tables and the map from contexts to tables; a learned model's
file also holds its integer network (`net.*` arrays, net.py) and `mix`. The model id is
the SHA-256 of the file bytes: a .jrz names the exact weights that coded it, and a
decoder refuses weights with another id.
"""

from __future__ import annotations

import hashlib
import io
from importlib.resources import files

import numpy as np

from .classic import CONTEXT_COUNT, ClassicModel
from .learned import LearnedModel
from .net import IntegerNet, net_arrays, net_from_arrays

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
        learned = "mix" in npz.files
        if learned:
            net, mix = net_from_arrays(npz), npz["mix"].tolist()
    if np.any(frequencies <= 0):
        raise ValueError("weights hold a zero frequency")
    probabilities = frequencies / frequencies.sum(axis=1, keepdims=True)
    model_id = hashlib.sha256(data).digest()
    if learned:
        return LearnedModel(probabilities, context_map, model_id, net, mix)
    return ClassicModel(probabilities, context_map, model_id)


def save_weights(path, frequencies: np.ndarray, context_map: np.ndarray,
                 learned: tuple[IntegerNet, list[int]] | None = None,
                 **metadata: np.ndarray) -> bytes:
    """Write the tables (uint16 frequencies, one row per table), the map of every
    context to its table and, for a learned model, its network and mix; returns the file
    bytes."""
    if learned is not None:
        metadata = {**metadata, **net_arrays(learned[0]),
                    "mix": np.array(learned[1], dtype=np.int64)}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, layout=layout(), frequencies=frequencies.astype(np.uint16),
                        context_map=context_map.astype(np.int32), **metadata)
    data = buffer.getvalue()
    with open(path, "wb") as handle:
        handle.write(data)
    return data


def weights_bytes(name: str) -> bytes:
    """The bytes of a weights file shipped in the jpegzip.weights package."""
    return (files("jpegzip.weights") / name).read_bytes()


def untrained_model(alphabet: int,
                    learned: tuple[IntegerNet, list[int]] | None = None) -> ClassicModel:
    """Uniform tables: the contexts are computed but not yet fitted (used by fitting);
    with `learned` (network, mix), the contexts of that learned model."""
    probabilities = np.full((CONTEXT_COUNT, alphabet), 1.0 / alphabet)
    model_id = hashlib.sha256(b"jpegzip-untrained-classic").digest()
    if learned is not None:
        return LearnedModel(probabilities, np.arange(CONTEXT_COUNT), model_id, *learned)
    return ClassicModel(probabilities, np.arange(CONTEXT_COUNT), model_id)
