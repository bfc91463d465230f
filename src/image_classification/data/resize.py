"""Resizing a decoded image to a model's square side (training, reports and predict alike), and decoding a list of
files chunk by chunk into resized uint8 arrays, at one or several sizes per decode (preprocess)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from image_classification.data.images import UnreadableImageError, load_rgb

logger = logging.getLogger(__name__)

RESIZE_METHODS = ("stretch", "pad", "center_crop")


def resize_image(image: Image.Image, size: int, method: str) -> np.ndarray:
    """Resizes an RGB image to ``size`` x ``size``.

    Args:
        image: An 8-bit RGB image.
        size: Target side in pixels.
        method: ``stretch`` (ignore aspect ratio), ``pad`` (keep it, pad with black) or ``center_crop``.

    Returns:
        A uint8 array of shape (size, size, 3).
    """
    resample = Image.Resampling.BILINEAR
    if method == "stretch":
        resized = image.resize((size, size), resample)
    elif method == "pad":
        resized = ImageOps.pad(image, (size, size), method=resample, color=(0, 0, 0))
    elif method == "center_crop":
        resized = ImageOps.fit(image, (size, size), method=resample)
    else:
        raise ValueError(f"preprocess.resize_method '{method}' is unknown. Allowed: {', '.join(RESIZE_METHODS)}.")
    return np.asarray(resized, dtype=np.uint8)


def resized_chunks(
    paths: Sequence[str], size: int, method: str, *, workers: int, chunk_rows: int, desc: str = "Resizing images"
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Decodes (EXIF-oriented, RGB) and resizes ``paths`` a chunk at a time, so no more than one chunk is in memory.

    Pillow releases the GIL while decoding and resizing, so a thread pool of ``workers`` uses every core. A file that
    no longer decodes is skipped with a warning (the manifest only lists images that decoded at ingest).

    Args:
        paths: Image files, in the order wanted.
        size: Side of the square output, in pixels.
        method: ``resize_image``'s method.
        workers: Decoding threads.
        chunk_rows: Images per chunk (at least 1).
        desc: Label of the progress bar.

    Yields:
        ``(positions, images)`` per chunk: the indices into ``paths`` of the images kept (int64) and their pixels,
        uint8 (len(positions), size, size, 3).
    """
    for positions, by_size in resized_chunks_at_sizes(
        paths, (size,), method, workers=workers, chunk_rows=chunk_rows, desc=desc
    ):  # fmt: skip
        yield positions, by_size[size]


def resized_chunks_at_sizes(
    paths: Sequence[str],
    sizes: Sequence[int],
    method: str,
    *,
    workers: int,
    chunk_rows: int,
    desc: str = "Resizing images",
) -> Iterator[tuple[np.ndarray, dict[int, np.ndarray]]]:
    """``resized_chunks`` at several sizes at once: each image is decoded once and resized to every size.

    Args:
        paths: Image files, in the order wanted.
        sizes: Sides of the square outputs, in pixels (at least one).
        method: ``resize_image``'s method.
        workers: Decoding threads.
        chunk_rows: Images per chunk (at least 1).
        desc: Label of the progress bar.

    Yields:
        ``(positions, {size: images})`` per chunk: the indices into ``paths`` of the images kept (the same at every
        size) and their pixels at each size, uint8 (len(positions), size, size, 3).
    """
    if method not in RESIZE_METHODS:
        raise ValueError(f"preprocess.resize_method '{method}' is unknown. Allowed: {', '.join(RESIZE_METHODS)}.")
    sizes = tuple(dict.fromkeys(int(size) for size in sizes))
    if not sizes:
        raise ValueError("resized_chunks_at_sizes needs at least one size.")
    chunk_rows = max(int(chunk_rows), 1)
    with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(
        total=len(paths), desc=desc, unit="img", disable=None
    ) as progress:
        for start in range(0, len(paths), chunk_rows):
            decoded = list(pool.map(lambda path: _load_resized(path, sizes, method), paths[start : start + chunk_rows]))
            progress.update(len(decoded))
            kept = [index for index, images in enumerate(decoded) if images is not None]
            by_size = {size: np.empty((len(kept), size, size, 3), np.uint8) for size in sizes}
            for row, index in enumerate(kept):
                for size, image in zip(sizes, decoded[index], strict=True):
                    by_size[size][row] = image
            yield np.array(kept, dtype=np.int64) + start, by_size


def _load_resized(path: str, sizes: tuple[int, ...], method: str) -> list[np.ndarray] | None:
    try:
        image = load_rgb(path)  # decoded once, whatever the number of sizes
        return [resize_image(image, size, method) for size in sizes]
    except UnreadableImageError as error:
        logger.warning("Skipping %s: %s", path, error)
        return None
