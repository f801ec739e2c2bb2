"""Every knob of the codec in one frozen record, checked once where it is made.

A record rather than loose arguments, so that a ``Codec`` can pickle by its options and a
worker process can rebuild the same codec from them.

Limits bound what one input may make jpegzip allocate, before anything is allocated:
- ``max_input_bytes`` (default 256 MiB): a JPEG or .jrz larger than this is refused
  (LimitExceeded), and so is a .jrz that claims a larger original; no section of a
  .jrz may decompress to more.
- ``max_coefficients`` (default 2^28, 512 MiB of int16): a JPEG whose frame holds more DCT
  coefficients is stored whole (``stored (image-too-large)``); a .jrz that claims such an
  image is refused (LimitExceeded). Image dimensions are bounded through it: 2^28 is
  16384 x 16384 in grayscale, about 180 MP in 4:2:0, 89 MP in 4:4:4.
Peak memory grows with both: about 5 bytes per coefficient plus a few times the input
(0.33 GB above the library's own for a 33 MP 4:2:2 JPEG, classic model), and the learned
model's network adds about 1 byte per coefficient (its inputs and outputs, one frequency
group at a time; 0.67 GiB in all for a 24 MP JPEG, benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import BadOption, LimitExceeded, LossyNotAvailable

DEVICES = ("auto", "cpu", "cuda")
LOSSLESS_RATE = 1.0
MAX_INPUT_BYTES = 256 << 20
MAX_COEFFICIENTS = 1 << 28


@dataclass(frozen=True)
class Options:
    """How to code: ``rate`` is the target size as a fraction of the lossless size (1.0 is
    lossless; lower is reserved for lossy mode); ``device`` is where the model runs;
    ``max_input_bytes`` and ``max_coefficients`` are the limits (see the module)."""

    rate: float = LOSSLESS_RATE
    device: str = "auto"
    max_input_bytes: int = MAX_INPUT_BYTES
    max_coefficients: int = MAX_COEFFICIENTS

    def __post_init__(self) -> None:
        rate = self.rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise BadOption(f"rate must be a number in (0, 1], not {rate!r}")
        if math.isnan(rate) or not 0.0 < rate <= LOSSLESS_RATE:
            raise BadOption(f"rate must be in (0, 1], not {rate!r}")
        if self.device not in DEVICES:
            raise BadOption(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.device == "cuda" and not _cuda_available():
            raise BadOption("device cuda: torch sees no CUDA device here (use auto or cpu)")
        for name in ("max_input_bytes", "max_coefficients"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadOption(f"{name} must be a positive integer, not {value!r}")

    def check_size(self, what: str, size: int) -> None:
        """Refuse a size over ``max_input_bytes`` before anything that large is read or made."""
        if size > self.max_input_bytes:
            raise LimitExceeded(
                f"{what} is {size} bytes, over the limit of {self.max_input_bytes} bytes"
            )

    def require_lossless(self) -> None:
        """Refuse a lossy rate until lossy mode exists, rather than silently ignoring it."""
        if self.rate != LOSSLESS_RATE:
            raise LossyNotAvailable(
                f"rate {self.rate:g} asks for lossy mode, which is not available yet; "
                "use rate 1.0 (lossless)"
            )


DEFAULT = Options()


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
