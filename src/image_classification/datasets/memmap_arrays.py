"""Named arrays larger than memory: one ``.npy`` file per array in a versioned folder, written chunk by chunk and
loaded memory-mapped.

A split of 100,000 images at 224 px is 15 GB of uint8. An ``.npz`` has to be read whole (twice over, bytes then
arrays); here neither side ever holds it: saving streams chunks of rows (``ArrayChunks``, or slices of in-memory
arrays) into each file, and loading returns ``np.load(..., mmap_mode="r")`` arrays, so training reads only the rows of
each batch. The folder is written under a temporary name and moved into place whole (``atomic_writes``): a failed save
leaves no new version.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import shutil
import struct
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, suppress
from typing import Any

import numpy as np
from kedro.io.core import DatasetError, Version, VersionNotFoundError, get_filepath_str

from image_classification.datasets.array_chunks import ArrayChunks
from image_classification.datasets.atomic_file import AtomicFileDataset
from image_classification.datasets.atomic_writes import atomic_save, temporary_path
from image_classification.datasets.numpy_arrays import NumpyArraysDataset

logger = logging.getLogger(__name__)

#: Describes the folder's arrays; written last, so a folder with it is complete.
CONTENTS_FILE = "arrays.json"
FORMAT = "npy-folder/1"
#: Rows per chunk when saving arrays that are already in memory (they are written without a second copy).
CHUNK_BYTES = 64 * 2**20
_MAGIC = b"\x93NUMPY\x01\x00"  # .npy format version 1.0: header length in 2 bytes


def npy_header(shape: tuple[int, ...], dtype: np.dtype, length: int | None = None) -> bytes:
    """The ``.npy`` header of a C-ordered array, padded with spaces to ``length`` bytes (default: the next multiple
    of 64, as NumPy pads). Rewriting it later with fewer rows and the same ``length`` keeps the data where it is."""
    text = repr({"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape})
    size = len(_MAGIC) + 2 + len(text) + 1
    length = length or -(-size // 64) * 64
    if size > length:
        raise ValueError(f"An .npy header for shape {shape} needs {size} bytes, more than the {length} reserved.")
    text += " " * (length - size) + "\n"
    return _MAGIC + struct.pack("<H", len(text)) + text.encode("latin1")


class _NpyWriter:
    """Writes one ``.npy`` file row chunk by row chunk; the header, written first for ``rows`` rows, is rewritten at
    the end when fewer came."""

    def __init__(self, stream: Any, rows: int, row_shape: tuple[int, ...], dtype: np.dtype) -> None:
        self._stream, self._rows, self._row_shape, self._dtype = stream, rows, tuple(row_shape), np.dtype(dtype)
        self._header = npy_header((rows, *self._row_shape), self._dtype)
        stream.write(self._header)

    def write(self, rows: np.ndarray) -> None:
        self._stream.write(np.ascontiguousarray(rows, self._dtype).reshape(-1).view(np.uint8))

    def finish(self, rows: int) -> None:
        if rows == self._rows:
            return
        header = npy_header((rows, *self._row_shape), self._dtype, len(self._header))
        try:
            self._stream.seek(0)
        except (OSError, ValueError) as error:
            raise DatasetError(
                f"{self._rows - rows} of {self._rows} rows never came (e.g. unreadable images) and this filesystem "
                "cannot rewrite a file's header: fix or remove those images, or save to a local folder."
            ) from error
        self._stream.write(header)


def _chunks_of(arrays: Mapping[str, np.ndarray]) -> ArrayChunks:
    """In-memory arrays as ``ArrayChunks`` of about ``CHUNK_BYTES`` each (slices: nothing is copied)."""
    if not isinstance(arrays, Mapping) or not arrays:
        raise TypeError("MemmapArraysDataset saves ArrayChunks or a non-empty dict of name -> numpy array.")
    arrays = {name: np.asarray(array) for name, array in arrays.items()}
    lengths = {len(array) if array.ndim else -1 for array in arrays.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise ValueError(f"The arrays must share their first axis; their shapes: {[a.shape for a in arrays.values()]}.")
    rows = lengths.pop()
    row_bytes = max(sum(array[:1].nbytes for array in arrays.values()), 1)
    step = max(CHUNK_BYTES // row_bytes, 1)

    def chunks() -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, rows, step):
            yield {name: array[start : start + step] for name, array in arrays.items()}

    return ArrayChunks(rows, {name: (a.shape[1:], a.dtype) for name, a in arrays.items()}, chunks)


class NotEnoughDiskSpaceError(DatasetError):
    """An array cache would not fit on its disk; raised before anything is decoded or written.

    Attributes:
        path: Where the cache would be written.
        needed: Bytes the arrays take.
        free: Bytes free on that disk.
    """

    def __init__(self, path: str, needed: int, free: int, rows: int, row_shapes: str) -> None:
        self.path, self.needed, self.free = path, needed, free
        super().__init__(
            f"The arrays for {path} need {_size(needed)} ({rows:,} rows of {row_shapes}) but only {_size(free)} "
            "is free on that disk; nothing was decoded or written. Lower preprocess.image_size (the cache grows with "
            "its square), select fewer images (split.selection), or free disk space."
        )


def _size(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count:,.1f} TiB"


def check_free_space(path: str, data: ArrayChunks) -> None:
    """Raises ``NotEnoughDiskSpaceError`` when ``data`` (at its declared row count) exceeds the free space at
    ``path`` (or the nearest folder above it that exists)."""
    needed = data.rows * sum(int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
                             for shape, dtype in data.row_shapes.values())  # fmt: skip
    folder = path
    while folder and not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        folder = parent if parent != folder else ""
    free = shutil.disk_usage(folder or ".").free
    if needed > free:
        shapes = ", ".join(f"{name} {'x'.join(map(str, shape))} {np.dtype(dtype)}"
                           for name, (shape, dtype) in data.row_shapes.items())  # fmt: skip
        raise NotEnoughDiskSpaceError(path, needed, free, data.rows, shapes)


class MemmapArraysDataset(AtomicFileDataset):
    """Saves ``ArrayChunks`` (or a dict of arrays sharing their first axis) as a folder of ``.npy`` files and loads it
    back as ``{name: np.memmap}`` (read-only; rows are read from disk when indexed).

    Example catalog entry::

        "images_{split}":
          type: image_classification.datasets.MemmapArraysDataset
          filepath: data/05_model_input/images_{split}
          versioned: true
          legacy_npz: data/05_model_input/images_{split}.npz   # read, in memory, while no folder version exists

    Args:
        filepath: The folder (per version, with ``versioned: true``).
        legacy_npz: Where an older version of the project kept the same arrays as a versioned ``.npz``: loaded (whole,
            in memory, with a warning to re-run the pipeline that writes them) while no folder version exists yet.
        version, credentials, fs_args, metadata: As for any Kedro file dataset. Only local folders are
            memory-mapped; other filesystems are read into memory.
    """

    def __init__(
        self,
        *,
        filepath: str,
        legacy_npz: str | None = None,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath=filepath, version=version, credentials=credentials, fs_args=fs_args, metadata=metadata)
        legacy_version = Version(version.load, None) if version is not None else None
        self._legacy = (
            NumpyArraysDataset(filepath=legacy_npz, version=legacy_version, credentials=credentials, fs_args=fs_args)
            if legacy_npz
            else None
        )

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "legacy_npz": self._legacy._filepath if self._legacy else None}

    def save(self, data: ArrayChunks | Mapping[str, np.ndarray]) -> None:
        chunked = data if isinstance(data, ArrayChunks) else _chunks_of(data)
        if self._protocol == "file":  # before a single image is decoded
            check_free_space(get_filepath_str(self._filepath, self._protocol), chunked)
        try:
            with atomic_save(self) as save_path:
                staging = temporary_path(save_path)
                try:
                    rows = self._write_folder(chunked, staging)
                    self._move_into_place(staging, save_path)
                except BaseException:
                    with suppress(Exception):
                        self._fs.rm(staging, recursive=True)
                    raise
        except DatasetError:
            raise
        except Exception as exc:
            raise DatasetError(f"Could not save arrays to '{self._filepath}': {exc}") from exc
        self._invalidate_cache()
        logger.debug("Saved %d rows of %s to %s.", rows, sorted(chunked.row_shapes), save_path)

    def _write_folder(self, data: ArrayChunks, folder: str) -> int:
        self._fs.makedirs(folder, exist_ok=True)
        with ExitStack() as files:
            writers = {
                name: _NpyWriter(files.enter_context(self._fs.open(f"{folder}/{name}.npy", "wb")), data.rows, *spec)
                for name, spec in data.row_shapes.items()
            }
            rows = 0
            for first, count, chunk in data.checked_chunks():
                for name, writer in writers.items():
                    writer.write(chunk[name])
                rows = first + count
            for writer in writers.values():
                writer.finish(rows)
        contents = {
            "format": FORMAT,
            "rows": rows,
            "arrays": {
                name: {"shape": [rows, *map(int, shape)], "dtype": np.lib.format.dtype_to_descr(np.dtype(dtype))}
                for name, (shape, dtype) in data.row_shapes.items()
            },
        }
        with self._fs.open(f"{folder}/{CONTENTS_FILE}", "w") as stream:
            json.dump(contents, stream, indent=1)
        return rows

    def _move_into_place(self, staging: str, target: str) -> None:
        """Renames the finished folder to ``target``; an unversioned one replaces the previous folder."""
        raw = getattr(self._fs, "wrapped", self._fs)
        previous = temporary_path(target) if raw.exists(target) else None
        if self._protocol != "file":
            if previous:
                raw.mv(target, previous, recursive=True)
            raw.mv(staging, target, recursive=True)
        else:
            if previous:
                os.replace(target, previous)
            os.replace(staging, target)  # atomic: readers see the old folder or the new one, whole
        if previous:
            raw.rm(previous, recursive=True)

    def _folder(self) -> str | None:
        """The folder to load, or None when no version was saved yet."""
        try:
            path = get_filepath_str(self._get_load_path(), self._protocol)
        except VersionNotFoundError:
            return None
        return path if self._fs.exists(path) else None

    def load(self) -> dict[str, np.ndarray]:
        folder = self._folder()
        if folder is None:
            if self._legacy is not None and self._legacy.exists():
                logger.warning(
                    "%s has no version in the memory-mapped format yet: reading the older .npz at %s whole into "
                    "memory. Re-run the pipeline that writes it (preprocess) so training reads it from disk.",
                    self._filepath, self._legacy._filepath,
                )
                return self._legacy.load()
            raise DatasetError(f"No arrays saved at '{self._filepath}' yet: run the pipeline that writes them.")
        try:
            with self._fs.open(posixpath.join(folder, CONTENTS_FILE), "r") as stream:
                contents = json.load(stream)
        except FileNotFoundError as error:
            raise DatasetError(f"'{folder}' has no {CONTENTS_FILE}: not a saved MemmapArraysDataset.") from error
        return {name: self._load_array(folder, name, spec) for name, spec in contents["arrays"].items()}

    def _load_array(self, folder: str, name: str, spec: dict[str, Any]) -> np.ndarray:
        path = posixpath.join(folder, f"{name}.npy")
        try:
            if self._protocol == "file":
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            else:
                with self._fs.open(path, "rb") as stream:
                    array = np.load(stream, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DatasetError(f"Cannot read '{path}': {error}. Re-run the pipeline that writes it.") from error
        if list(array.shape) != spec["shape"] or np.lib.format.dtype_to_descr(array.dtype) != spec["dtype"]:
            raise DatasetError(
                f"'{path}' holds {array.dtype} {array.shape}, not the {spec['dtype']} {tuple(spec['shape'])} "
                f"{CONTENTS_FILE} describes: re-run the pipeline that writes it."
            )
        return array

    def _exists(self) -> bool:
        return self._folder() is not None or (self._legacy is not None and self._legacy.exists())

    def _release(self) -> None:
        super()._release()
        if self._legacy is not None:
            self._legacy.release()
