"""The learned part of the context model: an integer convolutional network per AC group.

The AC coefficients are coded in zigzag order, one frequency per step (classic.py). The
frequencies are split into GROUPS; when the coding reaches a group, a small network looks
at everything of the component decoded so far, on every side of each block: the
magnitudes of all lower groups, the nonzero count of the block and how many of its
nonzeros are still to come, the component's quantization steps for the group and, for a
chroma component, the decoded luma. It outputs, per block and frequency of the group, an
integer `t` in 0..255: the log-scale of the coefficient's magnitude (t = 96 + 16 log2 b
for a Laplace scale b, as trained). The context kernel turns `t` into a magnitude estimate
(`EST_OF_T`) and mixes it with the classic same-frequency estimate.

Integer-exact by construction, so encoder and decoder agree on any machine:
- every input and activation is an integer in 0..255, every weight an integer in
  -127..127, every bias an integer; all held in float32 (or float64), so a convolution is
  exact while each partial sum stays below 2^24 (checked when the weights load:
  `worst_case_sum`);
- between layers, the accumulator is rounded to a power of two per channel,
  floor((x + 2^(-e-1)) * 2^e) (an integer sum, an exact scaling and an exact floor), and
  clamped to 0..255; nothing transcendental, no TF32, no Winograd or FFT convolution (cuDNN is
  disabled for the call: its algorithm choice is not ours).
The features are numpy integer arithmetic (every value 0..255: nnz counts are at most 63,
so four times a count fits), shared with training (jpegzip/train.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GROUPS: tuple[tuple[int, int], ...] = (
    (1, 3), (3, 6), (6, 10), (10, 15), (15, 21), (21, 36), (36, 64))  # zigzag [lo, hi)
GROUP_OF = np.array([-1] + [g for g, (lo, hi) in enumerate(GROUPS) for _ in range(lo, hi)])
EXTRA_INPUTS = 6  # nnz, remaining, two quantizer features, chroma flag, luma nnz
EXACT_LIMIT = {np.dtype(np.float32): 1 << 24, np.dtype(np.float64): 1 << 53}
T_ZERO, T_STEP = 96, 16  # t = T_ZERO + T_STEP * log2(b)
MAG_CLIP = 2047
EXPONENTS = (-24, 8)  # allowed range of a channel's power-of-two rescale
TILE = 64  # blocks per side of the tiles the network runs on


def _mag_lut() -> np.ndarray:
    """floor(32 log2(1 + v)) capped at 255, from exact integer arithmetic: the bit length
    of (1 + v)^32, minus one."""
    return np.array([min(255, ((1 + v) ** 32).bit_length() - 1) for v in range(MAG_CLIP + 1)],
                    dtype=np.int32)


def _est_lut() -> np.ndarray:
    """t -> floor(8 b) for b = 2^((t - T_ZERO) / T_STEP), the classic estimate's units
    (about eight times the mean magnitude), capped at 1400; exact integer 16th roots."""
    out = np.zeros(256, np.int64)
    for t in range(256):
        power = t - T_ZERO + 3 * T_STEP  # 8 b = 2^(power / 16)
        if power < 0:
            continue
        value = 1 << (power // T_STEP)  # lower bound of the root, then climb
        while (value + 1) ** T_STEP <= 1 << power:
            value += 1
        out[t] = min(value, 1400)
    return out.astype(np.int32)


MAG_LUT = _mag_lut()
EST_OF_T = _est_lut()


def input_count(g: int) -> int:
    """Input channels of group g: each frequency of the previous group, the mean of every
    earlier group, and the EXTRA_INPUTS planes."""
    previous = GROUPS[g - 1][1] - GROUPS[g - 1][0] if g else 0
    return previous + max(g - 1, 0) + EXTRA_INPUTS


def remaining_row(g: int) -> int:
    """Which input of group g counts the block's nonzeros still to code (times 4)."""
    return input_count(g) - EXTRA_INPUTS + 1


def magnitude(plane: np.ndarray) -> np.ndarray:
    """MAG_LUT of |coefficient| for one plane (int32; planes one at a time keep the
    temporaries to one plane's size)."""
    return MAG_LUT[np.minimum(np.abs(plane.astype(np.int32)), MAG_CLIP)]


def group_mean(z: np.ndarray, g: int) -> np.ndarray:
    """Mean magnitude (MAG_LUT units, floored) of group g's frequencies per block, uint8."""
    lo, hi = GROUPS[g]
    total = magnitude(z[lo])
    for k in range(lo + 1, hi):
        total += magnitude(z[k])
    return (total // (hi - lo)).astype(np.uint8)


def pooled_luma(luma_nnz: np.ndarray, shape: tuple[int, int],
                ratio: tuple[int, int]) -> np.ndarray:
    """Mean nonzero count of the luma blocks over each chroma block (ratio = luma blocks
    per chroma block, vertical and horizontal), floored, cropped or zero-padded to shape."""
    ry, rx = ratio
    height, width = shape
    luma = luma_nnz.astype(np.int64)
    lh, lw = (luma.shape[0] // ry) * ry, (luma.shape[1] // rx) * rx
    pooled = luma[:lh, :lw].reshape(lh // ry, ry, lw // rx, rx).sum(axis=(1, 3)) // (ry * rx)
    out = np.zeros((height, width), np.int64)
    h, w = min(height, pooled.shape[0]), min(width, pooled.shape[1])
    out[:h, :w] = pooled[:h, :w]
    return out


def luma_context(luma_nnz: np.ndarray | None, sampling: Sequence[tuple[int, int]], c: int,
                 shape: tuple[int, int]) -> np.ndarray | None:
    """The pooled luma counts a chroma component sees (None for luma, or when the luma
    blocks do not tile a chroma block a whole number of times)."""
    if c not in (1, 2) or luma_nnz is None:
        return None
    (lh, lv), (ch, cv) = sampling[0], sampling[c]
    if lh % ch or lv % cv:
        return None
    return pooled_luma(luma_nnz, shape, (lv // cv, lh // ch))


def group_features(g: int, z: np.ndarray, nnz: np.ndarray, quant_zz: np.ndarray,
                   chroma: bool, luma: np.ndarray | None,
                   means: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """The network's inputs for group g of one component: (input_count(g), h, w) uint8,
    from the zigzag planes z (only planes below the group are read), the nonzero AC
    counts, the zigzag quantization table and the pooled luma counts (None: no luma).
    `means` may hold group_mean of the groups before g - 1, already computed."""
    lo, hi = GROUPS[g]
    height, width = nnz.shape
    out = np.empty((input_count(g), height, width), np.uint8)
    row = 0
    if g:
        plo, phi = GROUPS[g - 1]
        for k in range(plo, phi):
            out[k - plo] = magnitude(z[k])
        row = phi - plo
        for j in range(g - 1):
            out[row] = means[j] if means is not None else group_mean(z, j)
            row += 1
    count = nnz.astype(np.int32)
    out[row] = np.clip(count * 4, 0, 255)
    out[row + 1] = np.clip((count - np.count_nonzero(z[1:lo], axis=0)) * 4, 0, 255)
    steps = quant_zz[lo:hi].astype(np.int64)
    out[row + 2] = MAG_LUT[min(int(steps[0]), MAG_CLIP)]
    out[row + 3] = MAG_LUT[min(int(steps.sum()) // (hi - lo), MAG_CLIP)]
    out[row + 4] = 255 if chroma else 0
    out[row + 5] = 0 if luma is None else np.minimum(luma * 4, 255)
    return out


@dataclass(frozen=True)
class IntLayer:
    """One integer convolution: y = clamp(round((conv(x, weight) + bias) 2^exponent), 0, 255)
    per output channel, rounding halves up."""

    weight: np.ndarray  # (out, in, k, k) integers in -127..127
    bias: np.ndarray  # (out,) integers
    exponent: np.ndarray  # (out,) integers (mostly negative)

    def rounding_bias(self) -> np.ndarray:
        """bias + 2^(-e-1) where e < 0: rounding becomes a floor of an exact product."""
        half = np.where(self.exponent < 0, 1 << np.maximum(-self.exponent - 1, 0), 0)
        return self.bias.astype(np.int64) + half

    def worst_case_sum(self) -> int:
        """Largest |partial sum| the convolution can reach with inputs in 0..255."""
        per_output = np.abs(self.weight.astype(np.int64)).reshape(self.weight.shape[0], -1)
        return int((per_output.sum(axis=1) * 255 + np.abs(self.rounding_bias())).max())


class IntegerNet:
    """The frozen networks, one per AC group, evaluated exactly with torch convolutions."""

    def __init__(self, layers: Sequence[Sequence[IntLayer]]) -> None:
        if len(layers) != len(GROUPS):
            raise ValueError(f"need {len(GROUPS)} group networks, got {len(layers)}")
        for g, group in enumerate(layers):
            if group[0].weight.shape[1] != input_count(g):
                raise ValueError(f"group {g}: first layer takes {group[0].weight.shape[1]} "
                                 f"inputs, the features have {input_count(g)}")
            if group[-1].weight.shape[0] != GROUPS[g][1] - GROUPS[g][0]:
                raise ValueError(f"group {g}: last layer has the wrong number of outputs")
            for layer in group:
                if np.abs(layer.weight).max() > 127:
                    raise ValueError(f"group {g}: a weight is outside -127..127")
                if layer.exponent.min() < EXPONENTS[0] or layer.exponent.max() > EXPONENTS[1]:
                    raise ValueError(f"group {g}: a rescale exponent is outside {EXPONENTS}")
                if layer.worst_case_sum() >= EXACT_LIMIT[np.dtype(np.float32)]:
                    raise ValueError(f"group {g}: a partial sum could reach 2^24")
        self.layers = [list(group) for group in layers]
        self._tensors: dict = {}

    def parameter_count(self) -> int:
        return sum(layer.weight.size + layer.bias.size for group in self.layers
                   for layer in group)

    def macs_per_block(self) -> int:
        """Multiply-adds per block position over all groups."""
        return sum(layer.weight.size for group in self.layers for layer in group)

    def run(self, g: int, features: np.ndarray, device: str = "cpu",
            dtype: str = "float32", threads: int = 1) -> np.ndarray:
        """Outputs t (frequencies of group g, h, w) uint8 for the features of group g.

        The plane goes through in tiles of TILE x TILE blocks, each with the margin its
        outputs depend on, so every output equals the whole-plane convolution's; a tile
        none of whose blocks has nonzeros left to code (the `remaining` input is 0) is
        skipped and reads 0 (the coder never asks for it). `threads`: torch's CPU threads
        for the call (1 by default: the tiles are small, and batch runs already use a
        process per core; oversubscribed OpenMP threads stall on every small operation)."""
        import torch

        tensors = self._layer_tensors(g, device, dtype)
        margin = sum(layer.weight.shape[-1] // 2 for layer in self.layers[g])
        height, width = features.shape[1:]
        remaining = features[remaining_row(g)]
        out = np.zeros((self.layers[g][-1].weight.shape[0], height, width), np.uint8)
        with _TORCH_SETTINGS, _exact_torch(threads):
            for y0 in range(0, height, TILE):
                for x0 in range(0, width, TILE):
                    y1, x1 = min(y0 + TILE, height), min(x0 + TILE, width)
                    if not remaining[y0:y1, x0:x1].any():
                        continue
                    ya, xa = max(y0 - margin, 0), max(x0 - margin, 0)
                    tile = features[:, ya: min(y1 + margin, height), xa: min(x1 + margin, width)]
                    x = torch.from_numpy(np.ascontiguousarray(tile)).to(
                        device=device, dtype=tensors[0][0].dtype)[None]
                    for weight, bias, scale in tensors:
                        x = torch.nn.functional.conv2d(x, weight, padding=weight.shape[-1] // 2)
                        x.add_(bias).mul_(scale).floor_().clamp_(0, 255)
                    t = x[0].to(device="cpu", dtype=torch.uint8).numpy()
                    out[:, y0:y1, x0:x1] = t[:, y0 - ya: y1 - ya, x0 - xa: x1 - xa]
        return out

    def _layer_tensors(self, g: int, device: str, dtype: str) -> list:
        import torch

        key = (g, device, dtype)
        if key not in self._tensors:
            kind = getattr(torch, dtype)
            self._tensors[key] = [
                (torch.tensor(layer.weight, dtype=kind, device=device),
                 torch.tensor(layer.rounding_bias(), dtype=kind, device=device)[:, None, None],
                 torch.tensor(np.ldexp(1.0, layer.exponent), dtype=kind,
                              device=device)[:, None, None])
                for layer in self.layers[g]]
        return self._tensors[key]


_TORCH_SETTINGS = threading.Lock()  # _exact_torch changes process-wide torch settings


class _exact_torch:
    """No TF32 and no cuDNN (whose algorithm choice may be Winograd or FFT) inside, no
    gradients, and `threads` CPU threads."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def __enter__(self) -> None:
        import torch

        self._threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        self._saved = (torch.backends.cudnn.enabled, torch.backends.cuda.matmul.allow_tf32,
                       torch.backends.cudnn.allow_tf32)
        torch.backends.cudnn.enabled = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        self._grad = torch.is_grad_enabled()
        torch.set_grad_enabled(False)

    def __exit__(self, *exc) -> None:
        import torch

        (torch.backends.cudnn.enabled, torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.allow_tf32) = self._saved
        torch.set_grad_enabled(self._grad)
        torch.set_num_threads(self._threads)


def net_arrays(net: IntegerNet) -> dict[str, np.ndarray]:
    """The network as named integer arrays (stored in the weights file)."""
    out = {}
    for g, group in enumerate(net.layers):
        for i, layer in enumerate(group):
            out[f"net.g{g}.l{i}.weight"] = layer.weight.astype(np.int8)
            out[f"net.g{g}.l{i}.bias"] = layer.bias.astype(np.int32)
            out[f"net.g{g}.l{i}.exponent"] = layer.exponent.astype(np.int8)
    return out


def net_from_arrays(arrays) -> IntegerNet:
    """Inverse of net_arrays (`arrays` maps names to arrays, e.g. an open .npz)."""
    layers = []
    for g in range(len(GROUPS)):
        group = []
        while f"net.g{g}.l{len(group)}.weight" in arrays:
            prefix = f"net.g{g}.l{len(group)}"
            group.append(IntLayer(np.asarray(arrays[prefix + ".weight"]).astype(np.int64),
                                  np.asarray(arrays[prefix + ".bias"]).astype(np.int64),
                                  np.asarray(arrays[prefix + ".exponent"]).astype(np.int64)))
        if not group:
            raise ValueError(f"weights hold no network for group {g}")
        layers.append(group)
    return IntegerNet(layers)
