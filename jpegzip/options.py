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
group at a time; benchmarks/RESULTS.md, `startup` and `model-speed`, has the peaks).
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import BadOption, LimitExceeded
from .limits import MAX_COEFFICIENTS, MAX_INPUT_BYTES

if TYPE_CHECKING:
    from .lossy import Target

DEVICES = ("auto", "cpu", "cuda")
# Compression levels: 1 is the fastest (no network), 2 the default (the learned model);
# "max" names the highest. The .jrz names its model, so decoding takes no level.
LEVELS = (1, 2)
DEFAULT_LEVEL = 2
MAX_LEVEL = LEVELS[-1]
LOSSLESS_RATE = 1.0
MAX_BPP = 24.0  # more than any JPEG needs: its lossless .jrz is far smaller
MAX_PSNR = 99.0  # past ~60 dB only the identical image (lam 0) qualifies


@dataclass(frozen=True)
class Options:
    """How to code: ``rate`` is the target size as a fraction of the lossless size (1.0 is
    lossless; below it, lossy); ``bpp`` (bits per pixel) and ``psnr`` (dB) are the other
    lossy targets, at most one target at a time; ``device`` is where the model runs;
    ``max_input_bytes`` and ``max_coefficients`` are the limits (see the module);
    ``level`` is the compression level (LEVELS, or "max"; read back as an int);
    ``threads`` how many threads one large file may use (0: one per core; the bytes
    never depend on it)."""

    rate: float = LOSSLESS_RATE
    device: str = "auto"
    max_input_bytes: int = MAX_INPUT_BYTES
    max_coefficients: int = MAX_COEFFICIENTS
    bpp: float | None = None
    psnr: float | None = None
    level: int = DEFAULT_LEVEL
    threads: int = 0

    def __post_init__(self) -> None:
        if self.level == "max":
            object.__setattr__(self, "level", MAX_LEVEL)
        if isinstance(self.level, bool) or self.level not in LEVELS:
            shown = ", ".join(map(str, LEVELS))
            raise BadOption(f"level must be one of {shown} or max, not {self.level!r}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 0:
            raise BadOption(f"threads must be 0 (one per core) or more, not {self.threads!r}")
        _check_number("rate", self.rate, 0.0, LOSSLESS_RATE, "(0, 1]")
        if self.bpp is not None:
            _check_number("bpp", self.bpp, 0.0, MAX_BPP, f"(0, {MAX_BPP:g}]")
        if self.psnr is not None:
            _check_number("psnr", self.psnr, 0.0, MAX_PSNR, f"(0, {MAX_PSNR:g}]")
        chosen = [name for name in ("bpp", "psnr") if getattr(self, name) is not None]
        if self.rate != LOSSLESS_RATE:
            chosen.insert(0, "rate")
        if len(chosen) > 1:
            raise BadOption(f"choose one lossy target, not {' and '.join(chosen)}")
        if self.device not in DEVICES:
            raise BadOption(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.device == "cuda" and not _cuda_available():
            raise BadOption("device cuda: torch sees no CUDA device here (use auto or cpu; "
                            "a GPU needs torch: pip install 'jpegzip[gpu]')")
        for name in ("max_input_bytes", "max_coefficients"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadOption(f"{name} must be a positive integer, not {value!r}")

    @property
    def thread_count(self) -> int:
        """The threads one file may use: ``threads``, or one per core this process may
        run on."""
        return self.threads or available_cores()

    def check_size(self, what: str, size: int) -> None:
        """Refuse a size over ``max_input_bytes`` before anything that large is read or made."""
        if size > self.max_input_bytes:
            raise LimitExceeded(
                f"{what} is {size} bytes, over the limit of {self.max_input_bytes} bytes"
            )

    @property
    def target(self) -> Target | None:
        """The lossy target asked for; None for lossless."""
        from .lossy import Target

        if self.bpp is not None:
            return Target("bpp", float(self.bpp))
        if self.psnr is not None:
            return Target("psnr", float(self.psnr))
        return None if self.rate == LOSSLESS_RATE else Target("rate", float(self.rate))


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _check_number(name: str, value: object, low: float, high: float, shown: str) -> None:
    """``value`` must be a real number in (low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadOption(f"{name} must be a number in {shown}, not {value!r}")
    if math.isnan(value) or not low < value <= high:
        raise BadOption(f"{name} must be in {shown}, not {value!r}")


DEFAULT = Options()


def _cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA device (asked only for device cuda).
    Importing torch takes seconds, so where it is missing, or no CUDA driver loads, the
    answer is no without it."""
    if importlib.util.find_spec("torch") is None or not _cuda_driver_loads():
        return False
    import torch

    return torch.cuda.is_available()


def _cuda_driver_loads() -> bool:
    """Whether the CUDA driver's library, which every CUDA device needs, loads here
    (loading it does not initialise CUDA)."""
    name = {"win32": "nvcuda.dll", "darwin": None}.get(sys.platform, "libcuda.so.1")
    try:
        return name is not None and ctypes.CDLL(name) is not None
    except OSError:
        return False
