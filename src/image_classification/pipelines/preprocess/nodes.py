"""Decode, orient and resize every image once into uint8 arrays, one bundle per split.

Normalisation is left to each model (a ``Rescaling`` layer or the backbone's own ``preprocess_input``), so the
arrays stay uint8 and one cache serves every model.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from image_classification.config import load_settings
from image_classification.data.images import UnreadableImageError, load_rgb
from image_classification.data.resize import resize_image
from image_classification.data.settings import PreprocessSettings
from image_classification.models.augmentation import preview_augmentations

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def _load_resized(path: str, size: int, method: str) -> np.ndarray | None:
    try:
        return resize_image(load_rgb(path), size, method)
    except UnreadableImageError as error:
        # The manifest only lists images that decoded at ingest; a file changed since then is skipped, not fatal.
        logger.warning("Skipping %s: %s", path, error)
        return None


def _arrays_for_split(
    rows: pd.DataFrame, class_index: dict[str, int], config: PreprocessSettings
) -> dict[str, np.ndarray]:
    size, method = config.image_size, config.resize_method
    paths = rows["path"].tolist()
    # Pillow releases the GIL while decoding and resizing, so threads use every core.
    with ThreadPoolExecutor(max_workers=config.workers) as pool:
        decoded = list(
            tqdm(
                pool.map(lambda path: _load_resized(path, size, method), paths),
                total=len(paths),
                desc=f"Resizing {rows['split'].iloc[0] if len(rows) else ''} images",
                unit="img",
                disable=None,
            )
        )
    kept = [index for index, array in enumerate(decoded) if array is not None]
    images = np.stack([decoded[index] for index in kept]) if kept else np.zeros((0, size, size, 3), np.uint8)
    labels = np.array([class_index[label] for label in rows["label"].iloc[kept]], dtype=np.int64)
    return {"images": images, "labels": labels}


def build_image_arrays(
    splits: pd.DataFrame, class_names: list[str], config: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Decodes every image once (EXIF-oriented, RGB) and resizes it, giving one array bundle per split.

    Args:
        splits: Rows with ``path``, ``label`` and ``split``.
        class_names: Sorted class names; a label's index is its position.
        config: ``params:preprocess``, read as ``PreprocessSettings``: ``image_size``, ``resize_method`` and
            ``workers`` (threads).

    Raises:
        ValueError: An unknown setting or a value of the wrong type or range.

    Returns:
        ``{"images": uint8 (N, S, S, 3), "labels": int64 (N,)}`` for train, val and test.
    """
    settings = load_settings(PreprocessSettings, config, "preprocess")
    class_index = {name: index for index, name in enumerate(class_names)}
    bundles = tuple(
        _arrays_for_split(splits[splits["split"] == split].reset_index(drop=True), class_index, settings)
        for split in SPLITS
    )
    for split, bundle in zip(SPLITS, bundles):
        if len(bundle["labels"]) == 0:
            raise ValueError(f"The {split} split has no readable image; check the validation report.")
    logger.info(
        "Preprocessed arrays: %s.",
        ", ".join(f"{split} {bundle['images'].shape}" for split, bundle in zip(SPLITS, bundles)),
    )
    return bundles


def preview_augmentation(images_train: dict[str, np.ndarray], augmentation: dict[str, Any]) -> Figure:
    """Nine augmented versions of the first training image, to check the augmentation settings by eye."""
    return preview_augmentations(images_train["images"][0], augmentation, n=9, seed=0)
