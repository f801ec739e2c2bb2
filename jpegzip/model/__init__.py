"""Context models: per coefficient, an integer prediction and an integer context index."""

from __future__ import annotations

from functools import cache

from .classic import ClassicModel
from .weights import default_weights_bytes, model_from_bytes


@cache
def load_default_model() -> ClassicModel:
    """The shipped classic model (cached); .model_id is the SHA-256 of its weights file."""
    return model_from_bytes(default_weights_bytes())


__all__ = ["ClassicModel", "load_default_model"]
