"""The learned context model: the classic step schedule and tables, with the AC contexts
reading the integer network's magnitude estimates (net.py).

Per component and AC group, the network runs once, when the coding reaches the group's
first frequency: by then every lower group is decoded in both checkerboard halves, and so
is the luma (components are coded one after the other). Its estimate of each coefficient
is mixed into the classic estimate with the weights' `mix` (learned : classic, out of 4,
for the first and the second checkerboard half); the second half also has the four
same-frequency neighbours, which the network cannot see.
"""

from __future__ import annotations

import glob
import importlib.util
import sys
from collections.abc import Sequence

import numpy as np

from .classic import FINE_MAP, ZIGZAG, ClassicModel, ClassicSession, _Component
from .net import (
    GROUP_OF,
    GROUPS,
    IntegerNet,
    group_features,
    group_mean,
    luma_context,
)

# device nodes of a GPU torch.cuda can use: NVIDIA's driver, WSL2's GPU, ROCm's HIP
GPU_NODES = ("/dev/nvidia[0-9]*", "/dev/dxg", "/dev/kfd")


def cuda_possible() -> bool:
    """Whether a CUDA device can exist here, asked without importing torch (1-2 s and
    ~200 MB): torch must be installed and, on Linux, a GPU device node must exist."""
    if importlib.util.find_spec("torch") is None:
        return False
    if sys.platform.startswith("linux"):
        return any(glob.glob(pattern) for pattern in GPU_NODES)
    return sys.platform == "win32"  # no CUDA on macOS


def resolve_device(device: str) -> str:
    """'auto' is CUDA when torch sees a GPU, else the CPU; 'cuda' without one is an error.
    torch is imported only where a GPU can exist (`cuda_possible`)."""
    if device == "cpu":
        return device
    available = cuda_possible() and _torch_sees_cuda()
    if device == "auto":
        return "cuda" if available else "cpu"
    if device == "cuda" and not available:
        raise RuntimeError("--device cuda: torch sees no CUDA device")
    return device


def _torch_sees_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


class LearnedSession(ClassicSession):
    """ClassicSession whose AC contexts also read the network's estimates."""

    def __init__(self, model: LearnedModel, shapes, quant_tables, sampling, planes,
                 fine: bool = False) -> None:
        super().__init__(FINE_MAP if fine else model.context_map, shapes, quant_tables,
                         sampling, planes)
        self.model = model

    def _estimates(self, comp: _Component, k: int, half: int) -> tuple[np.ndarray, int]:
        g = int(GROUP_OF[k])
        lo, hi = GROUPS[g]
        if comp.learned_group != g:
            model = self.model
            luma = luma_context(self.comps[0].nnz, self.sampling, comp.index, comp.nnz.shape)
            while len(comp.group_means) < g - 1:
                comp.group_means.append(group_mean(comp.z, len(comp.group_means)))
            features = group_features(g, comp.z, comp.nnz, comp.q[ZIGZAG], comp.cls == 1, luma,
                                      comp.group_means)
            t = model.network(g, features)
            comp.learned = t.reshape(hi - lo, -1)
            comp.learned_group = g
        return comp.learned[k - lo], self.model.mix[half]


class LearnedModel(ClassicModel):
    """Tables, context map, the integer network and how its estimate is mixed in."""

    def __init__(self, probabilities: np.ndarray, context_map: np.ndarray, model_id: bytes,
                 net: IntegerNet, mix: Sequence[int], device: str = "cpu",
                 dtype: str = "float32", threads: int = 1) -> None:
        super().__init__(probabilities, context_map, model_id)
        if len(mix) != 2 or not all(0 <= int(m) <= 4 for m in mix):
            raise ValueError(f"mix must be two weights in 0..4, not {list(mix)}")
        self.net = net
        self.mix = [int(m) for m in mix]
        self.device = device
        self.dtype = dtype
        self.threads = threads

    def on_device(self, device: str, dtype: str = "float32",
                  threads: int = 1) -> LearnedModel:
        """The same model (same id, same results) evaluating its network on `device`, in
        `dtype` ("float32" or "float64": both exact; the CPU's), with `threads` CPU threads."""
        return LearnedModel(self.probabilities, self.context_map, self.model_id, self.net,
                            self.mix, resolve_device(device), dtype, threads)

    def network(self, g: int, features: np.ndarray) -> np.ndarray:
        """The network's t for group g, where a block has nonzeros left to code (0 elsewhere),
        on this model's device once its self-test has passed there (selftest.py: on CUDA a
        failure falls back to the CPU; on the CPU it raises ModelNotAvailable)."""
        from .selftest import checked_device  # here: python -m jpegzip.model.selftest runs it

        device = checked_device(self.net, self.model_id, self.device, self.dtype)
        return self.net.run(g, features, device, self.dtype, self.threads, coded_only=True)

    def begin(self, shapes: Sequence[tuple[int, int]], quant_tables: Sequence[np.ndarray],
              sampling: Sequence[tuple[int, int]],
              planes: Sequence[np.ndarray] | None = None, fine: bool = False
              ) -> LearnedSession:
        return LearnedSession(self, shapes, quant_tables, sampling, planes, fine)
