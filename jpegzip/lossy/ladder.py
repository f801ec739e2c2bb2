"""The learned table ladder: for each rate-distortion knob ``lam``, how much coarser than
the file's own table each frequency band is quantized (luma and chroma apart).

Fitted on training photos (``python -m jpegzip.training.fit_tables``) by minimizing
distortion + lam * the coder's exact bits with the per-coefficient decisions on top, so
table and decisions are chosen together for the model that codes them. Between ladder
steps the multipliers are interpolated in log ``lam``; below the first step they fade to
1, so ``lam`` 0 is the identity (lossless). Loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import ModelNotAvailable
from ..jpeg.scan_decode import ZIGZAG

SHIPPED_LADDER = "lossy-tables-v1.npz"
# Zigzag bands that share a multiplier: DC (never scaled), then growing runs of AC.
BAND_STARTS = (1, 3, 6, 10, 15, 28)
MAX_ENTRY = 255  # a baseline DQT entry


@dataclass(frozen=True)
class Ladder:
    """``lams`` (n,) increasing; ``multipliers`` (n, 2 classes: luma/chroma, bands)."""

    lams: np.ndarray
    multipliers: np.ndarray

    def multipliers_at(self, lam: float) -> np.ndarray:
        """(2, bands) multipliers for ``lam``: interpolated, 1 at lam 0."""
        if lam <= 0:
            return np.ones(self.multipliers.shape[1:])
        if lam <= self.lams[0]:
            return 1 + (self.multipliers[0] - 1) * lam / self.lams[0]
        position = np.interp(np.log(lam), np.log(self.lams), np.arange(len(self.lams)))
        low = int(np.floor(position))
        high = min(low + 1, len(self.lams) - 1)
        weight = position - low
        return (1 - weight) * self.multipliers[low] + weight * self.multipliers[high]

    def tables_at(self, lam: float, quant_tables: list[np.ndarray]) -> list[np.ndarray]:
        """Each component's new table (component 0 luma, the others chroma): the file's
        table times the band multiplier, rounded, never finer than the original, and never
        above 255 (a baseline DQT entry; a 16-bit original entry becomes 255, finer)."""
        bands = self.multipliers_at(lam)
        per_frequency = bands[:, band_of_frequency()]
        return [coarser_table(table, per_frequency[min(index, 1)])
                for index, table in enumerate(quant_tables)]  # fmt: skip


def coarser_table(table: np.ndarray, multiplier: np.ndarray | float) -> np.ndarray:
    """``table`` times ``multiplier`` (per entry or one for all), rounded, never finer than
    ``table`` and never above a baseline DQT entry (255)."""
    table = np.asarray(table, np.int64)
    scaled = np.rint(table * multiplier).astype(np.int64)
    return np.minimum(np.maximum(scaled, table), MAX_ENTRY)


def band_of_frequency() -> np.ndarray:
    """Band index of each natural-order frequency (DC: band 0, multiplier 1)."""
    position = np.empty(64, dtype=np.int64)
    position[ZIGZAG] = np.arange(64)
    bands = np.searchsorted(np.array(BAND_STARTS), position, side="right")
    return bands


def band_count() -> int:
    return len(BAND_STARTS) + 1


def identity_ladder() -> Ladder:
    """No table change at any ``lam`` (decisions only)."""
    return Ladder(np.array([1.0]), np.ones((1, 2, band_count())))


@lru_cache(maxsize=1)
def shipped_ladder() -> Ladder:
    """The ladder in the package's weights/ folder."""
    try:
        path = resources.files("jpegzip.weights").joinpath(SHIPPED_LADDER)
        with resources.as_file(path) as real, np.load(real, allow_pickle=False) as data:
            return checked(Ladder(np.array(data["lams"]), np.array(data["multipliers"])))
    except (OSError, KeyError, ValueError) as error:
        raise ModelNotAvailable(f"lossy table ladder {SHIPPED_LADDER}: {error}") from None


def checked(ladder: Ladder) -> Ladder:
    """Refuse a ladder whose shape or values make no sense."""
    lams, multipliers = ladder.lams, ladder.multipliers
    if (lams.ndim != 1 or not lams.size or np.any(np.diff(lams) <= 0) or lams[0] <= 0
            or multipliers.shape != (lams.size, 2, band_count())
            or not np.all(np.isfinite(multipliers)) or np.any(multipliers < 1)):  # fmt: skip
        raise ValueError("malformed ladder")
    return ladder
