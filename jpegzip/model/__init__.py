"""Context models: per coefficient, an integer prediction and an integer context index.

Every weights file ever shipped stays in the package, so a .jrz keeps decoding after a
newer model becomes the default: a .jrz names its model by id (the SHA-256 of the file).
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import PurePath

from .classic import ClassicModel
from .learned import LearnedModel
from .weights import model_from_bytes, weights_bytes

# the first codes new files; the others decode the .jrz files they made
SHIPPED_WEIGHTS = ("learned-v2.npz", "learned-v1.npz", "classic-v2.npz")


@cache
def shipped_models() -> dict[bytes, ClassicModel]:
    """Every shipped model by id, the default first (each loaded once)."""
    models = (model_from_bytes(weights_bytes(name)) for name in SHIPPED_WEIGHTS)
    return {model.model_id: model for model in models}


@cache
def shipped_names() -> dict[bytes, str]:
    """Every shipped model's id -> its name (the weights file's stem), without loading."""
    return {hashlib.sha256(weights_bytes(name)).digest(): PurePath(name).stem
            for name in SHIPPED_WEIGHTS}


def load_default_model() -> ClassicModel:
    """The model that codes new files; .model_id is the SHA-256 of its weights file."""
    return next(iter(shipped_models().values()))


def load_model(model_id: bytes) -> ClassicModel:
    """The shipped model with this id (KeyError if none)."""
    return shipped_models()[model_id]


__all__ = ["ClassicModel", "LearnedModel", "load_default_model", "load_model",
           "shipped_models", "shipped_names"]
