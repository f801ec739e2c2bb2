"""Rate control: the rate-distortion knob ``lam`` that meets a size or a quality target.

Size falls and distortion grows as ``lam`` grows (by construction for fixed tables, and in
practice along the table ladder, see requantize.py), so a bracket, then interpolation of
log size in log ``lam`` (size target) or bisection (quality target), finds the setting. A
size step costs one run of the coder over the coefficients (their exact code length),
never a full file; a quality step decodes a candidate JPEG. Sizes can jump (a rounded
table entry steps for the whole image; ties break the other way once ``lam`` > 0): the
search then stops at the closest size it found, and the caller may try other tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable

LAM_START = 16.0
LAM_MAX = 2.0**24  # past this every AC coefficient is already zero
SIZE_TOLERANCE = 0.01  # stop within 1 % of the requested size
JUMP_RATIO = 1.02  # a bracket this narrow that still misses the goal holds a jump in size
LAM_FLOOR = 1e-3  # below this, a size still over the goal is the jump at lam 0+
MAX_STEPS = 16


def lam_for_size(size_of: Callable[[float], int], goal: float, size_at_zero: int) -> float:
    """The ``lam`` whose size is closest to ``goal`` bytes (0: no change is needed, as
    ``size_at_zero`` already fits; the largest tried when even that is too big)."""
    if size_at_zero <= goal:
        return 0.0
    tried: dict[float, int] = {0.0: size_at_zero}
    low, high = 0.0, LAM_START
    while (size := size_of(high)) > goal and high < LAM_MAX:
        if low > 0 and size >= tried[low]:  # nothing left to take away: out of reach
            break
        tried[high] = size
        low, high = high, high * 8
    tried[high] = size
    for _ in range(MAX_STEPS):
        closest = min(tried, key=lambda lam: abs(tried[lam] - goal))
        if abs(tried[closest] - goal) <= SIZE_TOLERANCE * goal or tried[high] > goal:
            return closest
        narrow = high / low < JUMP_RATIO if low > 0 else high < LAM_FLOOR
        if narrow:  # the bracket still misses the goal: the size jumps over it here
            return closest
        middle = high / 8 if low == 0 else _interpolate(low, high, tried, goal)
        tried[middle] = size_of(middle)
        if tried[middle] > goal:
            low = middle
        else:
            high = middle
    return min(tried, key=lambda lam: abs(tried[lam] - goal))


def _interpolate(low: float, high: float, tried: dict[float, int], goal: float) -> float:
    """Where log size crosses log goal on the line through the bracket's ends (in log lam),
    kept off the ends so that a bent curve still shrinks the bracket."""
    above, below = math.log(tried[low]), math.log(tried[high])
    share = (above - math.log(goal)) / (above - below) if above > below else 0.5
    share = min(max(share, 0.1), 0.9)
    return math.exp(math.log(low) + share * (math.log(high) - math.log(low)))


def lam_for_quality(psnr_of: Callable[[float], float], goal: float) -> float:
    """The largest ``lam`` found whose PSNR is at least ``goal`` dB (0 if none: it changes
    the least)."""
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
