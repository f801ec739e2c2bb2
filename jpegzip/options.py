"""Every knob of the codec in one frozen record, checked once where it is made.

A record rather than loose arguments, so that a ``Codec`` can pickle by its options and a
worker process can rebuild the same codec from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import BadOption, LossyNotAvailable

DEVICES = ("auto", "cpu", "cuda")
LOSSLESS_RATE = 1.0


@dataclass(frozen=True)
class Options:
    """How to code: ``rate`` is the target size as a fraction of the lossless size (1.0 is
    lossless; lower is reserved for lossy mode); ``device`` is where the model runs."""

    rate: float = LOSSLESS_RATE
    device: str = "auto"

    def __post_init__(self) -> None:
        rate = self.rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise BadOption(f"rate must be a number in (0, 1], not {rate!r}")
        if math.isnan(rate) or not 0.0 < rate <= LOSSLESS_RATE:
            raise BadOption(f"rate must be in (0, 1], not {rate!r}")
        if self.device not in DEVICES:
            raise BadOption(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")

    def require_lossless(self) -> None:
        """Refuse a lossy rate until lossy mode exists, rather than silently ignoring it."""
        if self.rate != LOSSLESS_RATE:
            raise LossyNotAvailable(
                f"rate {self.rate:g} asks for lossy mode, which is not available yet; "
                "use rate 1.0 (lossless)"
            )


DEFAULT = Options()
