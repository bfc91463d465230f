"""Named arrays too large to hold at once, given as chunks of rows: what ``MemmapArraysDataset`` streams to disk."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ArrayChunks:
    """Arrays that share their first axis (rows), produced chunk by chunk, never whole.

    Attributes:
        rows: How many rows the chunks give at most (e.g. one per listed image). They may give fewer in all (an
            image that no longer decodes is skipped), never more.
        row_shapes: Name -> (shape of one row, dtype), e.g. ``{"images": ((160, 160, 3), uint8), "labels": ((),
            int64)}``.
        chunks: Called once per pass; its iterator yields ``{name: array}`` dicts, each array with the same number
            of rows. Each call starts over, so the arrays can be written more than once.
    """

    rows: int
    row_shapes: Mapping[str, tuple[tuple[int, ...], np.dtype]]
    chunks: Callable[[], Iterator[Mapping[str, np.ndarray]]]

    def check(self, chunk: Mapping[str, np.ndarray]) -> int:
        """The number of rows of ``chunk``; a ValueError when its names, row shapes or dtypes are not the declared."""
        if set(chunk) != set(self.row_shapes):
            raise ValueError(f"A chunk holds arrays {sorted(chunk)}, but {sorted(self.row_shapes)} were declared.")
        counts = set()
        for name, array in chunk.items():
            shape, dtype = self.row_shapes[name]
            if tuple(array.shape[1:]) != tuple(shape) or np.dtype(array.dtype) != np.dtype(dtype):
                raise ValueError(
                    f"A chunk's '{name}' has rows of shape {tuple(array.shape[1:])} and dtype {array.dtype}, but "
                    f"{tuple(shape)} and {np.dtype(dtype)} were declared."
                )
            counts.add(len(array))
        if len(counts) != 1:
            raise ValueError(f"A chunk's arrays have different numbers of rows: {sorted(counts)}.")
        return counts.pop()

    def checked_chunks(self) -> Iterator[tuple[int, int, Mapping[str, np.ndarray]]]:
        """One pass over the chunks as ``(first row, rows, chunk)``, each checked (``check``); a ValueError as soon
        as they give more rows than declared."""
        filled = 0
        for chunk in self.chunks():
            count = self.check(chunk)
            if filled + count > self.rows:
                raise ValueError(f"The chunks give more than the {self.rows} rows declared.")
            yield filled, count, chunk
            filled += count

    def in_memory(self) -> dict[str, np.ndarray]:
        """Every array whole, in memory: for small data (tests, notebooks, the in-memory benchmarks)."""
        arrays = {name: np.empty((self.rows, *shape), dtype) for name, (shape, dtype) in self.row_shapes.items()}
        filled = 0
        for first, count, chunk in self.checked_chunks():
            for name, array in chunk.items():
                arrays[name][first : first + count] = array
            filled = first + count
        return {name: array[:filled] for name, array in arrays.items()}
