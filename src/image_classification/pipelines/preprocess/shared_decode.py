"""One decoding pass feeding the caches of several image sizes, which the catalog saves one after the other.

Kedro saves a node's outputs in turn, and each ``ArrayChunks`` is iterated when it is saved. So that each image is
decoded once, whichever size is saved first decodes the split and resizes every image to every size: it keeps its own
chunks and writes the others' to temporary ``.npy`` files, which the other sizes then read (and delete) instead of
decoding again. A pass that stops early leaves nothing behind: the other sizes then decode for themselves.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

#: ``(positions, {size: images})`` per chunk, as ``data.resize.resized_chunks_at_sizes`` yields them.
Decode = Callable[[], Iterator[tuple[np.ndarray, dict[int, np.ndarray]]]]


class SharedDecode:
    """Chunks of one split at each of ``sizes``, from one decoding pass whichever size is read first.

    Args:
        decode: Starts a decoding pass over the split at every size.
        sizes: The sizes; ``chunks(size)`` may be called for each, in any order, any number of times.
    """

    def __init__(self, decode: Decode, sizes: Sequence[int]) -> None:
        self._decode, self._sizes = decode, tuple(sizes)
        self._folder: Path | None = None  # made on the first pass that keeps chunks for another size
        #: Size -> positions and image files of a complete pass, waiting to be read once.
        self._kept: dict[int, list[tuple[np.ndarray, Path]]] = {}
        self._passes = 0

    def chunks(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(positions, images)`` per chunk at ``size``: kept from an earlier pass when there is one, else decoded
        now (keeping the other sizes' chunks for them)."""
        if size in self._kept:
            yield from self._read_kept(size)
            return
        self._passes += 1
        others = [other for other in self._sizes if other != size and other not in self._kept]
        if others and self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="preprocess-sizes-"))
            weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
        folders = {other: self._folder / f"pass{self._passes}-{other}px" for other in others}
        written: dict[int, list[tuple[np.ndarray, Path]]] = {other: [] for other in others}
        complete = False
        try:
            for number, (positions, by_size) in enumerate(self._decode()):
                for other, folder in folders.items():
                    folder.mkdir(exist_ok=True)
                    path = folder / f"{number}.npy"
                    np.save(path, by_size[other], allow_pickle=False)
                    written[other].append((positions, path))
                yield positions, by_size[size]
            complete = True
        finally:
            if complete:
                self._kept.update(written)
            else:
                for folder in folders.values():
                    shutil.rmtree(folder, ignore_errors=True)

    def _read_kept(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        kept = self._kept.pop(size)
        try:
            for positions, path in kept:
                images = np.load(path, allow_pickle=False)
                path.unlink()
                yield positions, images
        finally:
            if kept:
                shutil.rmtree(kept[0][1].parent, ignore_errors=True)
