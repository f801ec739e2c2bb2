"""Where a large image is cut into parts that are coded independently.

Parts are bands of whole MCU rows (the same rows of the picture in every component, so a
chroma band sees the luma band it belongs to), at most PART_BLOCKS blocks each, chosen
from the image's size alone: a file's bytes never depend on the machine or the thread
count. Every part after the first starts from the adaptive state the first one ended with
(streams.py). Measured with the default level (benchmarks/parts.py): 12 MP and 16 MP
photos in 3 or 4 parts lose 0.11-0.19 point of savings; parts half this size would lose
0.29-0.44, a cold start per part (no shared first part) 0.27-0.66.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PART_BLOCKS = 1 << 17  # blocks per part, all components together (~8 MP of 4:2:0)

Span = tuple[int, int]  # block rows [start, end) of one component


def bands(shapes: Sequence[tuple[int, int]],
          sampling: Sequence[tuple[int, int]]) -> list[list[Span]]:
    """Per part, the block rows each component contributes; one part (the whole image)
    when it is small or its components' rows do not form whole MCU rows."""
    whole = [[(0, int(shape[0])) for shape in shapes]]
    verticals = [1] if len(shapes) == 1 else [int(v) for _, v in sampling]
    if len(verticals) != len(shapes) or min(verticals, default=0) < 1:
        return whole
    mcu_rows = {int(shape[0]) // v for shape, v in zip(shapes, verticals, strict=True)
                if int(shape[0]) % v == 0}
    if len(mcu_rows) != 1 or any(int(shape[0]) % v for shape, v in
                                 zip(shapes, verticals, strict=True)):
        return whole
    rows = mcu_rows.pop()
    blocks = sum(int(h) * int(w) for h, w in shapes)
    count = min(rows, -(-blocks // PART_BLOCKS))
    if count <= 1:
        return whole
    cuts = [rows * i // count for i in range(count + 1)]
    return [[(start * v, end * v) for v in verticals] for start, end in
            zip(cuts[:-1], cuts[1:], strict=True)]


def band_shapes(shapes: Sequence[tuple[int, int]], spans: list[Span]) -> list[tuple[int, int]]:
    """The plane shapes of one part."""
    return [(end - start, int(shape[1])) for shape, (start, end) in
            zip(shapes, spans, strict=True)]


def split_planes(planes: Sequence[np.ndarray], spans: list[Span]) -> list[np.ndarray]:
    """One part's planes (views, no copy)."""
    return [plane[start:end] for plane, (start, end) in zip(planes, spans, strict=True)]


def join_planes(parts: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The whole image's planes from its parts' planes, in order."""
    if len(parts) == 1:
        return parts[0]
    return [np.concatenate(component, axis=0) for component in zip(*parts, strict=True)]
