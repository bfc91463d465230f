"""Decode, orient and resize every image once into uint8 arrays, one bundle per split, streamed chunk by chunk.

Normalisation is left to each model (a ``Rescaling`` layer or the backbone's own ``preprocess_input``), so the
arrays stay uint8 and one cache serves every model of a size. Models may train at sizes of their own
(``ModelPlan.image_sizes``): each image is then decoded once and resized to every size (``SharedDecode``), one cache
per size. The node returns ``ArrayChunks``, not arrays: the catalog's
``MemmapArraysDataset`` decodes and writes one chunk at a time, so a split larger than memory never is in memory,
and training reads it back memory-mapped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from image_classification.config import load_settings
from image_classification.data.duplicates import straddling_pairs
from image_classification.data.resize import resized_chunks_at_sizes
from image_classification.data.settings import SPLITS, PreprocessSettings
from image_classification.data.verify import ImagesChangedError, changed_images
from image_classification.datasets import ArrayChunks
from image_classification.pipelines.preprocess.shared_decode import SharedDecode

logger = logging.getLogger(__name__)

#: About this many bytes of decoded images are in memory at once (a chunk, then its copy on the way to disk).
CHUNK_BYTES = 64 * 2**20


def _split_chunks(
    split: str, rows: pd.DataFrame, class_index: dict[str, int], config: PreprocessSettings, sizes: Sequence[int]
) -> list[ArrayChunks]:
    """One ``ArrayChunks`` per size of ``sizes``, sharing one decoding pass."""
    method = config.resize_method
    paths = rows["path"].tolist()
    labels = np.array([class_index[label] for label in rows["label"]], dtype=np.int64)
    chunk_rows = CHUNK_BYTES // sum(size * size * 3 for size in sizes)
    at_sizes = " and ".join(f"{size}x{size}" for size in sizes)

    def decode() -> Iterator[tuple[np.ndarray, dict[int, np.ndarray]]]:
        kept = 0
        for positions, by_size in resized_chunks_at_sizes(
            paths, sizes, method, workers=config.workers, chunk_rows=chunk_rows, desc=f"Resizing {split} images",
        ):  # fmt: skip
            kept += len(positions)
            yield positions, by_size
        if kept == 0:
            raise ValueError(f"The {split} split has no readable image; check the validation report.")
        logger.info("Preprocessed %s: %d images of %s px (%d skipped).", split, kept, at_sizes, len(paths) - kept)

    shared = SharedDecode(decode, sizes)

    def bundle(size: int) -> ArrayChunks:
        def chunks() -> Iterator[dict[str, np.ndarray]]:
            for positions, images in shared.chunks(size):
                yield {"images": images, "labels": labels[positions]}

        row_shapes = {"images": ((size, size, 3), np.dtype(np.uint8)), "labels": ((), np.dtype(np.int64))}
        return ArrayChunks(len(paths), row_shapes, chunks)

    return [bundle(size) for size in sizes]


def build_image_arrays(
    splits: pd.DataFrame, class_names: list[str], config: PreprocessSettings, extra_sizes: Sequence[int] = ()
) -> tuple[ArrayChunks, ...]:
    """Plans the decoding (EXIF-oriented, RGB) and resizing of every image, one bundle per split and size.

    Nothing is decoded here: each bundle decodes its images a chunk at a time when the catalog saves it (or when
    ``ArrayChunks.in_memory()`` is called, for small data).

    Args:
        splits: Rows with ``path``, ``label`` and ``split``.
        class_names: Sorted class names; a label's index is its position.
        config: ``params:preprocess``, read as ``PreprocessSettings``: ``image_size``, ``resize_method`` and
            ``workers`` (threads).
        extra_sizes: Sizes some models train at besides ``image_size`` (``ModelPlan.extra_image_sizes``); each
            image is still decoded once.

    Raises:
        ValueError: An unknown setting or a value of the wrong type or range; a split without rows.
        ImagesChangedError: An image was deleted, overwritten or truncated since ingest (rerun ingest). A split none of
            whose images decodes any more raises while it is saved.

    Returns:
        ``ArrayChunks`` of ``{"images": uint8 (N, S, S, 3), "labels": int64 (N,)}`` for train, val and test at
        ``image_size``, then for train, val and test at each of ``extra_sizes``; the labels are the same at every size.
    """
    settings = load_settings(PreprocessSettings, config, "preprocess")
    changes = changed_images(splits.to_dict("records"), settings.workers)
    if changes:  # deleted, overwritten or truncated since ingest: their labels and checks no longer hold
        raise ImagesChangedError(changes, "preprocess")
    _warn_straddling(splits)
    sizes = tuple(dict.fromkeys([settings.image_size, *(int(size) for size in extra_sizes)]))
    class_index = {name: index for index, name in enumerate(class_names)}
    by_split = []
    for split in SPLITS:
        rows = splits[splits["split"] == split].reset_index(drop=True)
        if rows.empty:
            raise ValueError(f"The {split} split has no image; check the split settings and the validation report.")
        by_split.append(_split_chunks(split, rows, class_index, settings, sizes))
    return tuple(by_split[split][size] for size in range(len(sizes)) for split in range(len(SPLITS)))


def _warn_straddling(splits: pd.DataFrame) -> None:
    """Logs the near duplicates (ingest's perceptual hash) that the split put on both sides of the test split."""
    if "phash" not in splits:
        return
    pairs = straddling_pairs(splits["path"].tolist(), splits["split"].tolist(), splits["phash"].tolist())
    if pairs:
        shown = "; ".join(f"{test!r} ~ {other!r} ({distance} bits)" for test, other, distance in pairs[:5])
        logger.warning(
            "%d near-duplicate pair(s) straddle the test split and train/val (test accuracy may be optimistic): %s%s. "
            "Remove one image of each pair from the images folder and rerun ingest.",
            len(pairs), shown, " ..." if len(pairs) > 5 else "",
        )


def preview_augmentation(images_train: dict[str, np.ndarray], augmentation: dict[str, Any]) -> Figure:
    """Nine augmented versions of the first training image, to check the augmentation settings by eye."""
    # Imported here: Keras is not needed to register the pipeline.
    from image_classification.models.augmentation import preview_augmentations  # noqa: PLC0415

    return preview_augmentations(images_train["images"][0], augmentation, n=9, seed=0)
