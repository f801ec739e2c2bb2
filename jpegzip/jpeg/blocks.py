"""Where each block of a scan lives in the coefficient array, in the order the scan codes it.

All components share one int16 array of shape (total_blocks, 64), natural order; component
c owns rows ``offsets[c] : offsets[c+1]``, its padded grid in raster order.
"""

from __future__ import annotations

import numpy as np

from .markers import Frame, ScanHeader


def component_offsets(frame: Frame) -> np.ndarray:
    """Start row of each component's blocks in the shared coefficient array, plus the total."""
    grids = (frame.padded_grid(i) for i in range(len(frame.components)))
    sizes = [rows * cols for rows, cols in grids]
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def scan_block_order(
    frame: Frame, scan: ScanHeader, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Blocks of a scan in coding order.

    Returns (block rows into the coefficient array, scan-component index of each block,
    blocks per MCU). One-component scans are never interleaved (T.81 A.2.2): raster order
    over the component's own extent, one block per MCU. Interleaved scans walk the frame's
    MCU grid, each component contributing h x v blocks in raster order (T.81 A.2.3).
    """
    if len(scan.components) == 1:
        index = scan.components[0]
        rows, cols = frame.coded_grid(index)
        padded_cols = frame.padded_grid(index)[1]
        grid = np.arange(rows)[:, None] * padded_cols + np.arange(cols)[None, :]
        order = offsets[index] + grid.ravel()
        return order.astype(np.int64), np.zeros(order.size, dtype=np.int64), 1
    pattern_rows, pattern_cols, pattern_comp, pattern_base, pattern_width = [], [], [], [], []
    for scan_index, index in enumerate(scan.components):
        c = frame.components[index]
        for dv in range(c.v):
            for dh in range(c.h):
                pattern_rows.append(dv)
                pattern_cols.append(dh)
                pattern_comp.append(scan_index)
                pattern_base.append(offsets[index])
                pattern_width.append(frame.padded_grid(index)[1])
    h = np.array([frame.components[i].h for i in scan.components])[pattern_comp]
    v = np.array([frame.components[i].v for i in scan.components])[pattern_comp]
    mcu_y, mcu_x = np.divmod(np.arange(frame.mcus_high * frame.mcus_wide), frame.mcus_wide)
    rows = mcu_y[:, None] * v[None, :] + np.array(pattern_rows)[None, :]
    cols = mcu_x[:, None] * h[None, :] + np.array(pattern_cols)[None, :]
    order = np.array(pattern_base)[None, :] + rows * np.array(pattern_width)[None, :] + cols
    comp = np.broadcast_to(np.array(pattern_comp), order.shape)
    return order.ravel().astype(np.int64), comp.ravel().astype(np.int64), len(pattern_comp)
