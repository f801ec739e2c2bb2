"""Rate control: the rate-distortion knob ``lam`` that meets a size or a quality target.

Size falls and distortion grows as ``lam`` grows (for a fixed image every coefficient's
error can only grow with it, see requantize.py), so a bracket then a bisection in log
``lam`` finds the setting; each step costs one run of the coder over the coefficients
(its exact code length), never a full file.
"""

from __future__ import annotations

import math
from collections.abc import Callable

LAM_START = 16.0
LAM_MAX = 2.0**24  # past this every AC coefficient is already zero
SIZE_TOLERANCE = 0.01  # stop within 1 % of the requested size
MAX_STEPS = 16


def lam_for_size(size_of: Callable[[float], int], goal: float) -> float:
    """The ``lam`` whose size is closest to ``goal`` bytes (0: no change is needed; the
    largest tried when even that is too big)."""
    tried: dict[float, int] = {0.0: size_of(0.0)}
    if tried[0.0] <= goal:
        return 0.0
    low, high = 0.0, LAM_START
    while (size := size_of(high)) > goal and high < LAM_MAX:
        tried[high] = size
        low, high = high, high * 8
    tried[high] = size
    for _ in range(MAX_STEPS):
        if abs(tried[high] - goal) <= SIZE_TOLERANCE * goal:
            break
        middle = high / 8 if low == 0 else math.sqrt(low * high)
        tried[middle] = size_of(middle)
        if tried[middle] > goal:
            low = middle
        else:
            high = middle
        if abs(tried[middle] - goal) <= SIZE_TOLERANCE * goal:
            return middle
    return min(tried, key=lambda lam: abs(tried[lam] - goal))


def lam_for_quality(psnr_of: Callable[[float], float], goal: float) -> float:
    """The largest ``lam`` found whose PSNR is at least ``goal`` dB (0 always qualifies:
    it changes nothing)."""
    low, high = 0.0, LAM_START
    while psnr_of(high) >= goal:
        low, high = high, high * 8
        if high > LAM_MAX:
            return low
    for _ in range(MAX_STEPS):
        middle = high / 8 if low == 0 else math.sqrt(low * high)
        if psnr_of(middle) >= goal:
            low = middle
        else:
            high = middle
        if low > 0 and high / low < 1.02:
            break
    return low
