"""Resizing a decoded image to the square side every model of a run takes (training, reports and predict alike), and
decoding a list of files chunk by chunk into resized uint8 arrays (preprocess)."""

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
    if method not in RESIZE_METHODS:
        raise ValueError(f"preprocess.resize_method '{method}' is unknown. Allowed: {', '.join(RESIZE_METHODS)}.")
    chunk_rows = max(int(chunk_rows), 1)
    with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(
        total=len(paths), desc=desc, unit="img", disable=None
    ) as progress:
        for start in range(0, len(paths), chunk_rows):
            decoded = list(pool.map(lambda path: _load_resized(path, size, method), paths[start : start + chunk_rows]))
            progress.update(len(decoded))
            kept = [index for index, image in enumerate(decoded) if image is not None]
            images = np.empty((len(kept), size, size, 3), np.uint8)
            for row, index in enumerate(kept):
                images[row] = decoded[index]
            yield np.array(kept, dtype=np.int64) + start, images


def _load_resized(path: str, size: int, method: str) -> np.ndarray | None:
    try:
        return resize_image(load_rgb(path), size, method)
    except UnreadableImageError as error:
        logger.warning("Skipping %s: %s", path, error)
        return None
