"""The DCGAN's images: the generator's [-1, 1] range to and from uint8, and sample grids tiled for figures.

Plain NumPy, read by the nodes and by the training callback (``sample_grids.SampleGrids``) alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1], the generator's ``tanh`` range."""
    return images.astype("float32") / 127.5 - 1.0


def to_uint8(images: Any) -> np.ndarray:
    """Generator output in [-1, 1] -> uint8 [0, 255]."""
    return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def tile(images: np.ndarray, columns: int) -> np.ndarray:
    """``(N, H, W, 3)`` images as one ``(rows * H, columns * W, 3)`` grid, row by row (blank cells stay black)."""
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    grid = np.zeros((rows * height, columns * width, channels), dtype=images.dtype)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[row * height : (row + 1) * height, column * width : (column + 1) * width] = image
    return grid


#: At most this many sample grids after epochs (plus the one before training): the GIF and the .npz stay small
#: (``sample_grids.SampleGrids``).
MAX_SAMPLE_GRIDS = 30
