"""Image files carried as base64 text: the table that ``kedro run --pipelines predict`` and a served model classify.

One row per image: ``image`` holds the base64 of an image file's bytes (PNG, JPEG, ...; a ``data:image/...;base64,``
prefix and line-wrapped base64 are accepted) and ``file``, optional, says where it came from. Every image is decoded
as a training image was: ``images.load_rgb`` (upright, 8-bit RGB), then ``resize.resize_image``. A bad row gets a
``problem`` (why it was skipped) and never stops the others.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import pandas as pd

from image_classification.data.images import UnreadableImageError, load_rgb
from image_classification.data.resize import resize_image

IMAGE_COLUMN = "image"  # base64 of an image file's bytes
FILE_COLUMN = "file"  # optional: where the image came from, passed through to the predictions
PROBLEM_COLUMN = "problem"  # "" for a classified image, else why it was skipped


def encode_image_file(data: bytes) -> str:
    """An image file's bytes as the text of an ``image`` cell."""
    return base64.b64encode(data).decode("ascii")


def decode_image_column(
    values: Sequence[Any], size: int, method: str, workers: int = 1
) -> list[tuple[np.ndarray | None, str]]:
    """Each ``image`` cell as ``(uint8 (size, size, 3) pixels, "")``, or ``(None, why)`` when it is not usable.

    Args:
        values: The cells of the ``image`` column.
        size: Side of the decoded images (``preprocess.image_size``, or the size the model was trained at).
        method: ``preprocess.resize_method``.
        workers: Threads decoding side by side (``preprocess.workers``).
    """
    # load_rgb is the training decoder and reads files: each image goes through a scratch file.
    with TemporaryDirectory(prefix="encoded-images-") as scratch, ThreadPoolExecutor(max_workers=workers) as pool:
        return list(
            pool.map(lambda item: _decode_one(Path(scratch) / str(item[0]), item[1], size, method), enumerate(values))
        )


def decode_image_table(
    table: pd.DataFrame, size: int, method: str, workers: int = 1
) -> tuple[np.ndarray, pd.DataFrame]:
    """The usable images of ``table`` and one row per input row: its other columns and ``problem``.

    Returns:
        ``(pixels, rows)``: uint8 (M, size, size, 3) for the M usable rows in table order, and ``table`` without its
        ``image`` column plus ``problem`` ("" for the usable rows, else why the row was skipped).
    """
    decoded = decode_image_column(table[IMAGE_COLUMN].tolist(), size, method, workers)
    rows = table.drop(columns=[IMAGE_COLUMN]).reset_index(drop=True)
    rows[PROBLEM_COLUMN] = pd.Series([problem for _, problem in decoded], dtype=object)
    usable = [pixels for pixels, problem in decoded if not problem]
    return (np.stack(usable) if usable else np.zeros((0, size, size, 3), np.uint8)), rows


def _decode_one(scratch_file: Path, encoded: Any, size: int, method: str) -> tuple[np.ndarray | None, str]:
    if not isinstance(encoded, str):
        return None, "no image data"
    if encoded.startswith("data:") and "," in encoded:
        encoded = encoded.split(",", 1)[1]
    try:
        data = base64.b64decode("".join(encoded.split()), validate=True)  # line-wrapped base64 is fine too
    except (binascii.Error, ValueError) as error:
        return None, f"image is not valid base64: {error}"
    scratch_file.write_bytes(data)
    try:
        return resize_image(load_rgb(scratch_file), size, method), ""
    except UnreadableImageError as error:
        return None, error.reason
    finally:
        scratch_file.unlink(missing_ok=True)
