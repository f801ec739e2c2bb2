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
  `worst_case_sum`), whatever the order of the additions;
- between layers, the accumulator is rounded to a power of two per channel,
  floor((x + 2^(-e-1)) * 2^e) (an integer sum, an exact scaling and an exact floor), and
  clamped to 0..255; nothing transcendental.
On the CPU the convolutions are numpy matrix products (BLAS sgemm or dgemm) over gathered
receptive fields, without torch; on CUDA they are torch matrix products in float64, which
no TF32 or reduced-precision setting of the host application reaches (`IntegerNet.run`).
Both give the same integers; a known-answer self-test checks each device once per process
before the codec uses it (selftest.py).
The features are numpy integer arithmetic (every value 0..255: nnz counts are at most 63,
so four times a count fits), shared with training (jpegzip/training/train.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit, uint64

from ..jit import kernel

GROUPS: tuple[tuple[int, int], ...] = (
    (1, 3), (3, 6), (6, 10), (10, 15), (15, 21), (21, 36), (36, 64))  # zigzag [lo, hi)
GROUP_OF = np.array([-1] + [g for g, (lo, hi) in enumerate(GROUPS) for _ in range(lo, hi)])
EXTRA_INPUTS = 6  # nnz, remaining, two quantizer features, chroma flag, luma nnz
EXACT_LIMIT = {np.dtype(np.float32): 1 << 24, np.dtype(np.float64): 1 << 53}
T_ZERO, T_STEP = 96, 16  # t = T_ZERO + T_STEP * log2(b)
MAG_CLIP = 2047
EXPONENTS = (-24, 8)  # allowed range of a channel's power-of-two rescale
TILE = 64  # blocks per side of the tiles whose outputs read 0 when none of their blocks is coded
BAND = 64  # block rows the CPU path computes at a time (bounds its scratch memory)
CHUNK = 2048  # block positions per gather / matrix product / scatter round on the CPU
# OpenBLAS runs a gemm of m n k multiply-adds on m n k / 2^18 threads (its default
# GEMM_MULTITHREAD_THRESHOLD): below 2^19, on the calling thread alone, whatever the BLAS
# thread count of the process. Threads on products this small cost far more than they
# save, and on a loaded machine they measured ten times slower.
SINGLE_THREAD_MACS = 1 << 19


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
    """The frozen networks, one per AC group, evaluated exactly: numpy on the CPU, torch on
    CUDA (see the module)."""

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
                size = layer.weight.shape[-1]
                if size % 2 == 0 or layer.weight.shape[-2] != size:
                    raise ValueError(f"group {g}: kernels must be square with an odd side")
                if np.abs(layer.weight).max() > 127:
                    raise ValueError(f"group {g}: a weight is outside -127..127")
                if layer.exponent.min() < EXPONENTS[0] or layer.exponent.max() > EXPONENTS[1]:
                    raise ValueError(f"group {g}: a rescale exponent is outside {EXPONENTS}")
                if layer.worst_case_sum() >= EXACT_LIMIT[np.dtype(np.float32)]:
                    raise ValueError(f"group {g}: a partial sum could reach 2^24")
        self.layers = [list(group) for group in layers]
        self._matrices: dict = {}
        self._tensors: dict = {}

    def parameter_count(self) -> int:
        return sum(layer.weight.size + layer.bias.size for group in self.layers
                   for layer in group)

    def macs_per_block(self) -> int:
        """Multiply-adds per block position over all groups."""
        return sum(layer.weight.size for group in self.layers for layer in group)

    def run(self, g: int, features: np.ndarray, device: str = "cpu",
            dtype: str = "float32", threads: int = 1, *, coded_only: bool = False,
            backend: str = "auto") -> np.ndarray:
        """Outputs t (frequencies of group g, h, w) uint8 for the features of group g (every
        value in 0..255).

        Every output is the whole-plane convolution's, except that a TILE x TILE tile none of
        whose blocks has nonzeros left to code (the `remaining` input is 0) reads 0; with
        `coded_only`, every block with none left reads 0 (the coder reads only the others;
        less work). `backend` "numpy" (the default on the CPU: no torch) or "torch" (the
        default elsewhere; also on the CPU, for comparisons): the same integers. `dtype`
        ("float32" or "float64", both exact) is numpy's; torch always computes in float64.
        `threads`: CPU threads for numpy's bands (1 by default: batch runs already use a
        process per core); the BLAS library's own thread count is left as it is, and each
        matrix product is sized to stay on the calling thread."""
        if backend == "auto":
            backend = "numpy" if device == "cpu" else "torch"
        if backend not in ("numpy", "torch") or (backend == "numpy" and device != "cpu"):
            raise ValueError(f"no {backend!r} network backend for device {device!r}")
        if np.dtype(dtype) not in EXACT_LIMIT:
            raise ValueError(f"dtype must be float32 or float64 (exact), not {dtype!r}")
        if features.shape[0] != input_count(g) or features.ndim != 3:
            raise ValueError(f"group {g} takes ({input_count(g)}, h, w) features, "
                             f"not {features.shape}")
        if features.dtype != np.uint8 and features.size and (
                features.min() < 0 or features.max() > 255):
            raise ValueError("features must be integers in 0..255")
        remaining = features[remaining_row(g)] > 0
        wanted = remaining if coded_only else _tile_mask(remaining)
        if backend == "torch":
            out = self._run_torch(g, features, device, wanted)
        else:
            out = self._run_numpy(g, features, wanted, np.dtype(dtype), threads)
        return out

    # ------------------------------------------------------------------ numpy (CPU)

    def _run_numpy(self, g: int, features: np.ndarray, wanted: np.ndarray,
                   dtype: np.dtype, threads: int) -> np.ndarray:
        """Band by band (BAND rows and the margin the outputs depend on), each layer is
        computed at the blocks some wanted output depends on, no others: their receptive
        fields are gathered (compiled, `_gather`), multiplied by the layer's weight matrix
        in products of at most SINGLE_THREAD_MACS multiply-adds (`np.matmul` over a stack)
        and rounded, clamped and stored back (compiled, `_scatter`)."""
        layers = self._numpy_layers(g, dtype)
        height, width = wanted.shape
        out = np.zeros((layers[-1].matrix.shape[0], height * width), np.uint8)
        needed = [wanted]  # per layer: the blocks whose output some wanted output reads
        for layer in reversed(layers[1:]):
            needed.insert(0, _dilate(needed[0], layer.radius))
        bands = [y0 for y0 in range(0, height, BAND) if wanted[y0: y0 + BAND].any()]
        if not bands:
            return out.reshape(-1, height, width)
        jobs = min(max(threads, 1), len(bands))

        def work(share: list[int]) -> None:
            scratch = _Scratch(layers, features.shape[0], width, dtype)
            for y0 in share:
                scratch.band(features, needed, y0, out)

        if jobs == 1:
            work(bands)
        else:
            with ThreadPoolExecutor(jobs) as pool:
                list(pool.map(work, [bands[i::jobs] for i in range(jobs)]))
        return out.reshape(-1, height, width)

    def _numpy_layers(self, g: int, dtype: np.dtype) -> list[_MatrixLayer]:
        key = (g, dtype)
        if key not in self._matrices:
            self._matrices[key] = [_MatrixLayer.of(layer, dtype) for layer in self.layers[g]]
        return self._matrices[key]

    # ------------------------------------------------------------------ torch (CUDA)

    def _run_torch(self, g: int, features: np.ndarray, device: str,
                   wanted: np.ndarray) -> np.ndarray:
        """Tile by tile (with the margin its outputs depend on), each layer as a float64
        matrix product over `unfold`ed receptive fields. Exact without touching any of torch's
        process-wide settings: float64 holds every integer below 2^53 and no TF32,
        reduced-precision or cuDNN algorithm choice applies to a float64 matmul (cuBLAS dgemm
        and FP64 tensor cores are IEEE double), so any order of summation gives the integers."""
        import torch

        tensors = self._layer_tensors(g, device)
        margin = sum(layer.weight.shape[-1] // 2 for layer in self.layers[g])
        height, width = features.shape[1:]
        out = np.zeros((self.layers[g][-1].weight.shape[0], height, width), np.uint8)
        with torch.inference_mode():
            for y0 in range(0, height, TILE):
                for x0 in range(0, width, TILE):
                    y1, x1 = min(y0 + TILE, height), min(x0 + TILE, width)
                    if not wanted[y0:y1, x0:x1].any():
                        continue
                    ya, xa = max(y0 - margin, 0), max(x0 - margin, 0)
                    tile = features[:, ya: min(y1 + margin, height), xa: min(x1 + margin, width)]
                    x = torch.from_numpy(np.ascontiguousarray(tile)).to(
                        device=device, dtype=torch.float64)
                    for matrix, size, bias, scale in tensors:
                        rows, cols = x.shape[1:]
                        fields = torch.nn.functional.unfold(x[None], size, padding=size // 2)[0]
                        x = (matrix @ fields).add_(bias).mul_(scale).floor_().clamp_(0, 255)
                        x = x.reshape(-1, rows, cols)
                    t = x.to(device="cpu", dtype=torch.uint8).numpy()
                    out[:, y0:y1, x0:x1] = t[:, y0 - ya: y1 - ya, x0 - xa: x1 - xa]
        out[:, ~wanted] = 0
        return out

    def _layer_tensors(self, g: int, device: str) -> list:
        import torch

        key = (g, device)
        if key not in self._tensors:
            self._tensors[key] = [
                (torch.tensor(layer.weight.reshape(layer.weight.shape[0], -1),
                              dtype=torch.float64, device=device),
                 layer.weight.shape[-1],
                 torch.tensor(layer.rounding_bias(), dtype=torch.float64, device=device)[:, None],
                 torch.tensor(np.ldexp(1.0, layer.exponent), dtype=torch.float64,
                              device=device)[:, None])
                for layer in self.layers[g]]
        return self._tensors[key]


def _tile_mask(remaining: np.ndarray) -> np.ndarray:
    """Every block of each TILE x TILE tile with a block still to code."""
    height, width = remaining.shape
    ty, tx = -(-height // TILE), -(-width // TILE)
    padded = np.zeros((ty * TILE, tx * TILE), bool)
    padded[:height, :width] = remaining
    tiles = padded.reshape(ty, TILE, tx, TILE).any(axis=(1, 3))
    return np.repeat(np.repeat(tiles, TILE, axis=0), TILE, axis=1)[:height, :width]


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Blocks within `radius` (Chebyshev) of a set block: what a (2 radius + 1)^2 kernel reads."""
    if radius == 0:
        return mask
    height, width = mask.shape
    padded = np.zeros((height + 2 * radius, width + 2 * radius), bool)
    padded[radius: radius + height, radius: radius + width] = mask
    out = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[dy: dy + height, dx: dx + width]
    return out


@dataclass(frozen=True)
class _MatrixLayer:
    """An IntLayer as numpy computes it."""

    matrix: np.ndarray  # (out, k * k * in): the weights, offset-major like _gather's rows
    radius: int
    bias: np.ndarray  # rounding_bias, in the working dtype
    scale: np.ndarray  # 2^exponent
    width: int  # positions per matrix product: below SINGLE_THREAD_MACS multiply-adds

    @classmethod
    def of(cls, layer: IntLayer, dtype: np.dtype) -> _MatrixLayer:
        outs, ins, size, _ = layer.weight.shape
        matrix = layer.weight.transpose(0, 2, 3, 1).reshape(outs, size * size * ins)
        return cls(np.ascontiguousarray(matrix, dtype=dtype), size // 2,
                   layer.rounding_bias().astype(dtype), np.ldexp(1.0, layer.exponent).astype(dtype),
                   max(8, (SINGLE_THREAD_MACS - 1) // matrix.size))

    def offsets(self, stride: int) -> np.ndarray:
        """Flat offsets of the kernel's taps in a plane of row stride `stride`."""
        r = self.radius
        return np.array([dy * stride + dx for dy in range(-r, r + 1) for dx in range(-r, r + 1)],
                        np.int64)


class _Scratch:
    """One thread's buffers: each layer's input over a band (zero-padded rows of stride
    width + 2 pad, channels first), the gathered fields and the products."""

    def __init__(self, layers: list[_MatrixLayer], inputs: int, width: int,
                 dtype: np.dtype) -> None:
        self.layers = layers
        self.pad = max(layer.radius for layer in layers)
        self.margins = [sum(layer.radius for layer in layers[i + 1:])
                        for i in range(len(layers))]  # rows each layer reaches past the band
        self.margin = sum(layer.radius for layer in layers)
        self.stride = width + 2 * self.pad
        self.rows = BAND + 2 * (self.margin + self.pad)
        channels = [inputs] + [layer.matrix.shape[0] for layer in layers[:-1]]
        self.planes = [np.zeros((c, self.rows * self.stride), dtype) for c in channels]
        columns = [CHUNK + layer.width for layer in layers]  # at most, per round
        self.fields = np.empty(max(n * layer.matrix.shape[1]
                                   for n, layer in zip(columns, layers, strict=True)), dtype)
        self.products = np.empty(max(n * layer.matrix.shape[0]
                                     for n, layer in zip(columns, layers, strict=True)), dtype)

    def band(self, features: np.ndarray, needed: list[np.ndarray], y0: int,
             out: np.ndarray) -> None:
        """The wanted outputs of rows y0 .. y0 + BAND into `out` (outputs, h * w)."""
        height, width = features.shape[1:]
        y1 = min(y0 + BAND, height)
        top = y0 - self.margin - self.pad  # the image row of the planes' first row
        for plane in self.planes:  # rows outside the image are the convolutions' zero padding
            rows = plane.reshape(plane.shape[0], self.rows, self.stride)
            rows[:, : max(0, -top)] = 0
            rows[:, max(0, height - top):] = 0
        ya, yb = max(y0 - self.margin, 0), min(y1 + self.margin, height)
        self.planes[0].reshape(-1, self.rows, self.stride)[
            :, ya - top: yb - top, self.pad: self.pad + width] = features[:, ya:yb]
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            la, lb = max(y0 - self.margins[i], 0), min(y1 + self.margins[i], height)
            ys, xs = np.nonzero(needed[i][la:lb])
            ys += la
            source = (ys - top) * self.stride + xs + self.pad
            if i == last:
                target, into = ys * width + xs, out
            else:
                target, into = source, self.planes[i + 1]
            self._layer(layer, self.planes[i], source, target, into)

    def _layer(self, layer: _MatrixLayer, plane: np.ndarray, source: np.ndarray,
               target: np.ndarray, into: np.ndarray) -> None:
        outs, rows = layer.matrix.shape
        offsets = layer.offsets(self.stride)
        step = (CHUNK // layer.width + 1) * layer.width
        for start in range(0, len(source), step):
            count = min(step, len(source) - start)
            blocks = -(-count // layer.width)
            fields = self.fields[: blocks * rows * layer.width].reshape(blocks, rows, layer.width)
            _gather(plane, source[start: start + count], offsets, fields)
            products = self.products[: blocks * outs * layer.width].reshape(
                blocks, outs, layer.width)
            np.matmul(layer.matrix, fields, out=products)
            _scatter(products, layer.bias, layer.scale, target[start: start + count], into)


# The compiled loops index flat arrays with unsigned integers: numba then needs no check
# for negative indices, and the copies vectorize.

@njit(cache=True, inline="always")
def _run_length(positions, j, end):  # pragma: no cover - compiled
    """How many positions from j on (before end) are consecutive."""
    run = 1
    while j + run < end and positions[j + run] == positions[j] + run:
        run += 1
    return run


@kernel
def _gather(plane, positions, offsets, fields):  # pragma: no cover - compiled
    """fields[b, t * channels + c, j] = plane[c, positions[b * width + j] + offsets[t]];
    columns past the positions are 0. Runs of consecutive positions are copied as runs."""
    blocks, rows, width = fields.shape
    channels, length = plane.shape
    source = plane.reshape(plane.size)
    target = fields.reshape(fields.size)
    count = positions.shape[0]
    for b in range(blocks):
        j0 = b * width
        j1 = min(j0 + width, count)
        j = j0
        while j < j1:
            first = positions[j]
            run = _run_length(positions, j, j1)
            for t in range(offsets.shape[0]):
                for c in range(channels):
                    s = uint64(c * length + first + offsets[t])
                    d = uint64((b * rows + t * channels + c) * width + j - j0)
                    for i in range(uint64(run)):
                        target[d + i] = source[s + i]
            j += run
        for k in range(rows):
            for jj in range(j1 - j0, width):
                fields[b, k, jj] = 0


@kernel
def _scatter(products, bias, scale, positions, into):  # pragma: no cover - compiled
    """into[o, positions[j]] = clamp(floor((product + bias[o]) * scale[o]), 0, 255): exact,
    every value an integer below 2^24 and scale a power of two."""
    blocks, outs, width = products.shape
    source = products.reshape(products.size)
    target = into.reshape(into.size)
    length = into.shape[1]
    count = positions.shape[0]
    for b in range(blocks):
        j0 = b * width
        j1 = min(j0 + width, count)
        j = j0
        while j < j1:
            first = positions[j]
            run = _run_length(positions, j, j1)
            for o in range(outs):
                s = uint64((b * outs + o) * width + j - j0)
                d = uint64(o * length + first)
                add = bias[o]
                times = scale[o]
                for i in range(uint64(run)):
                    target[d + i] = min(max(np.floor((source[s + i] + add) * times), 0.0), 255.0)
            j += run


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
