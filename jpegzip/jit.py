"""How jpegzip compiles the loops that carry its work.

``kernel`` compiles a loop over arrays its caller allocated: cached on disk, without the
GIL (a large image's parts run on threads), and without numba's reference counting. With
it, every helper inlined into a hot loop takes and drops a reference to each array it is
given, two atomic instructions per array per iteration: a third of the adaptive coder's
time under perf, before (RESULTS.md `model-speed` has the effect on whole files; the bytes
are the same). A kernel therefore cannot allocate an array; numba refuses to compile one
that tries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from numba import njit

Function = TypeVar("Function", bound=Callable)


def kernel(function: Function) -> Function:
    """Compile ``function`` as a kernel (see the module's docstring)."""
    return njit(cache=True, nogil=True, _nrt=False)(function)
