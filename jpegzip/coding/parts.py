"""Where a large image is cut into parts that are coded independently.

Parts are bands of whole MCU rows (the same rows of the picture in every component, so a
chroma band sees the luma band it belongs to), chosen from the image's size alone: a
file's bytes never depend on the machine or the thread count. An image of SPLIT_FROM
blocks or more (all components; about 8 MP of 4:2:0) is cut into MIN_PARTS parts, or more
where parts would hold over PART_BLOCKS blocks. Every part after the first starts from
the adaptive state the first one ended with and runs beside the others (streams.py), so
three parts take two thirds of the time on two cores. More parts would go faster and
cost more: each later part misses what the others learn. Measured at the default level
(benchmarks/parts.py, RESULTS.md `parts`): 12-24 MP photos in 3 parts lose 0.03-0.19
point of savings; in parts of at most 2^17 blocks (3-5 parts) 0.11-0.30; with a cold start
per part instead of the first part's state, 0.27-0.66.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPLIT_FROM = 1 << 17  # blocks (all components) from which an image is cut into parts
MIN_PARTS = 3  # the first part, then two beside each other
PART_BLOCKS = 1 << 18  # at most this many blocks per part, beyond MIN_PARTS

Span = tuple[int, int]  # block rows [start, end) of one component


def bands(shapes: Sequence[tuple[int, int]],
          sampling: Sequence[tuple[int, int]]) -> list[list[Span]]:
    """Per part, the block rows each component contributes; one part (the whole image)
    when it is small or its components' rows do not form whole MCU rows."""
    whole = [[(0, int(shape[0])) for shape in shapes]]
    verticals = [1] if len(shapes) == 1 else [int(v) for _, v in sampling]
    if len(verticals) != len(shapes) or min(verticals, default=0) < 1:
        return whole
    pairs = list(zip((int(shape[0]) for shape in shapes), verticals, strict=True))
    mcu_rows = {height // v for height, v in pairs}
    if len(mcu_rows) != 1 or any(height % v for height, v in pairs):
        return whole
    rows = mcu_rows.pop()
    blocks = sum(int(h) * int(w) for h, w in shapes)
    if blocks < SPLIT_FROM:
        return whole
    count = min(rows, max(MIN_PARTS, -(-blocks // PART_BLOCKS)))
    cuts = [rows * i // count for i in range(count + 1)]
    return [[(start * v, end * v) for v in verticals] for start, end in
            zip(cuts[:-1], cuts[1:], strict=True)]


def split_planes(planes: Sequence[np.ndarray], spans: list[Span]) -> list[np.ndarray]:
    """One part's planes (views, no copy)."""
    return [plane[start:end] for plane, (start, end) in zip(planes, spans, strict=True)]
