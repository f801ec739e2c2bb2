"""Context models: per coefficient, an integer prediction and an integer context index.

Each compression level codes with one shipped weights file (LEVEL_WEIGHTS); a .jrz names its
model by id (the SHA-256 of the file), so the decoder needs no level flag, and every
weights file a level has shipped with stays in the package. A process loads only the
weights it codes or decodes with.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import PurePath

from ..options import DEFAULT_LEVEL, LEVELS
from .classic import ClassicModel
from .learned import LearnedModel
from .weights import model_from_bytes, weights_bytes

# the weights each level codes new files with: level 1 without the network (the classic
# contexts alone), level 2 with it
LEVEL_WEIGHTS = {1: "classic-v2.npz", 2: "learned-v2.npz"}
assert tuple(LEVEL_WEIGHTS) == LEVELS
# every weights file that decodes: the default level's first
SHIPPED_WEIGHTS = tuple(dict.fromkeys([LEVEL_WEIGHTS[DEFAULT_LEVEL], *LEVEL_WEIGHTS.values()]))


@cache
def shipped_names() -> dict[bytes, str]:
    """Every shipped model's id -> its name (the weights file's stem), without loading."""
    return {hashlib.sha256(weights_bytes(name)).digest(): PurePath(name).stem
            for name in SHIPPED_WEIGHTS}


@cache
def _load(name: str) -> ClassicModel:
    return model_from_bytes(weights_bytes(name))


def level_model(level: int = DEFAULT_LEVEL) -> ClassicModel:
    """The model that codes new files at ``level`` (loaded once per process)."""
    return _load(LEVEL_WEIGHTS[level])


def load_default_model() -> ClassicModel:
    """The model that codes new files at the default level."""
    return level_model(DEFAULT_LEVEL)


def load_model(model_id: bytes) -> ClassicModel:
    """The shipped model with this id (KeyError if none), loaded on first use."""
    return _load(f"{shipped_names()[model_id]}.npz")


@cache
def level_ids() -> dict[int, bytes]:
    """Each level's model id (the SHA-256 of its weights), without loading."""
    ids = {name: model_id for model_id, name in shipped_names().items()}
    return {level: ids[PurePath(weights).stem] for level, weights in LEVEL_WEIGHTS.items()}


def level_of(model_id: bytes) -> int | None:
    """The level whose weights have this id (None: no shipped level's)."""
    return next((level for level, known in level_ids().items() if known == model_id), None)


__all__ = ["LEVEL_WEIGHTS", "SHIPPED_WEIGHTS", "ClassicModel", "LearnedModel", "level_ids",
           "level_model", "level_of", "load_default_model", "load_model", "shipped_names"]
