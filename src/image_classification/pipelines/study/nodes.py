"""Nodes of the ``study`` pipeline: images decoded once, the folds, each fold's splits, and the pooled tables.

Every image is decoded once into ``study_images``; each fold's namespace (``fold_<i>``) takes its train, validation
and test rows from it (``fold_splits``), trains and evaluates every model as the default run does, and
``pool_folds`` puts the folds' test predictions together: every image is tested once, by every model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from image_classification.config import load_settings
from image_classification.data.folds import StudySettings, assign_folds, fold_rows
from image_classification.data.resize import resized_chunks_at_sizes
from image_classification.data.settings import SPLITS, PreprocessSettings
from image_classification.data.verify import ImagesChangedError, changed_images
from image_classification.datasets import ArrayChunks
from image_classification.reporting.folds import fold_table, mean_summaries, pool_evaluations
from image_classification.reporting.settings import ReportSettings

logger = logging.getLogger(__name__)

#: About this many bytes of decoded images in memory at once.
CHUNK_BYTES = 64 * 2**20


def decode_study_images(selected_manifest: pd.DataFrame, preprocess: PreprocessSettings) -> tuple[ArrayChunks, list[str]]:
    """Plans the one decoding pass of the study: every selected image, EXIF-oriented and resized once.

    Args:
        selected_manifest: Rows of the selected classes (``path``, ``label``).
        preprocess: ``params:preprocess`` (``image_size``, ``resize_method``, ``workers``).

    Raises:
        ImagesChangedError: An image was deleted, overwritten or truncated since ingest (rerun ingest).

    Returns:
        ``{"images": uint8 (N, S, S, 3), "labels": int64 (N,)}`` as chunks the catalog writes one at a time (an image
        that no longer decodes is left out, so folds are assigned on what was decoded), and the sorted class names.
    """
    settings = load_settings(PreprocessSettings, preprocess, "preprocess")
    changes = changed_images(selected_manifest.to_dict("records"), settings.workers)
    if changes:  # deleted, overwritten or truncated since ingest: their labels and checks no longer hold
        raise ImagesChangedError(changes, "study")
    class_names = sorted(selected_manifest["label"].astype(str).unique().tolist())
    index = {name: position for position, name in enumerate(class_names)}
    paths = selected_manifest["path"].tolist()
    labels = np.array([index[str(label)] for label in selected_manifest["label"]], dtype=np.int64)
    size = settings.image_size

    def chunks() -> Iterator[dict[str, np.ndarray]]:
        for positions, by_size in resized_chunks_at_sizes(
            paths, (size,), settings.resize_method, workers=settings.workers,
            chunk_rows=CHUNK_BYTES // (size * size * 3), desc="Decoding the study's images",
        ):  # fmt: skip
            yield {"images": by_size[size], "labels": labels[positions]}

    row_shapes = {"images": ((size, size, 3), np.dtype(np.uint8)), "labels": ((), np.dtype(np.int64))}
    return ArrayChunks(len(paths), row_shapes, chunks), class_names


def assign_study_folds(study_images: dict[str, np.ndarray], study: StudySettings) -> pd.DataFrame:
    """The test fold of every decoded image: stratified, seeded (``study.folds``, ``study.seed``).

    Returns:
        One row per image of ``study_images``, in its order: ``row``, ``label`` (class index), ``fold``.
    """
    settings = StudySettings.read(study)
    labels = np.asarray(study_images["labels"])
    folds = assign_folds(labels, settings.folds, settings.seed)
    logger.info("Assigned %d images to %d stratified folds.", len(labels), settings.folds)
    return pd.DataFrame({"row": np.arange(len(labels)), "label": labels, "fold": folds})


def fold_splits(
    study_images: dict[str, np.ndarray], study_folds: pd.DataFrame, study: StudySettings, fold: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The train, validation and test bundles of one fold, in memory (``{"images", "labels"}`` each).

    The test bundle is that fold's images in cache order; validation is ``study.val_fraction`` of the others,
    stratified, for early stopping and every choice; training is the rest.
    """
    settings = StudySettings.read(study)
    rows = fold_rows(
        study_folds["fold"].to_numpy(), study_folds["label"].to_numpy(), fold, settings.val_fraction, settings.seed
    )
    images, labels = study_images["images"], np.asarray(study_images["labels"])
    bundles = tuple({"images": np.asarray(images[rows[split]]), "labels": labels[rows[split]]}
                    for split in SPLITS)  # fmt: skip
    logger.info(
        "Fold %d: train %d / val %d / test %d images.", fold, *(len(rows[split]) for split in SPLITS)
    )
    return bundles


def _by_fold(per_fold: dict[str, Any], kind: str) -> dict[int, dict[str, Any]]:
    """``{"fold_1.report.transfer.x.evaluation": v}`` -> ``{1: {"transfer.x": v}}`` for datasets ending in ``kind``."""
    grouped: dict[int, dict[str, Any]] = {}
    for name, value in per_fold.items():
        prefix, _, rest = name.partition(".")
        if not rest.endswith(f".{kind}"):
            continue
        namespace = rest.removesuffix(f".{kind}").removeprefix("report.")
        grouped.setdefault(int(prefix.removeprefix("fold_")), {})[namespace] = value
    return grouped


def pool_folds(config: ReportSettings, **per_fold: Any) -> dict[str, Any]:
    """Every fold's evaluations and training summaries pooled per model.

    Args:
        config: ``params:report`` (bootstrap settings).
        **per_fold: ``fold_<i>.report.<namespace>.evaluation`` and ``fold_<i>.<namespace>.training_summary`` of every
            fold and model.

    Returns:
        ``{"pooled": model -> pooled evaluation, "summaries": model -> summary averaged over folds, "folds": the fold
        table (``reporting.folds.fold_table``)}``.
    """
    settings = ReportSettings.from_config(config)
    evaluations = _by_fold(per_fold, "evaluation")
    pooled = pool_evaluations(
        evaluations, bootstrap_samples=settings.bootstrap_samples, confidence=settings.confidence, seed=settings.seed
    )
    summaries = mean_summaries(_by_fold(per_fold, "training_summary"))
    table = fold_table(evaluations, pooled, summaries)
    for row in table.to_dict("records"):
        logger.info(
            "%s: pooled accuracy %.4f over %d images; folds %s.",
            row["model"], row["pooled_accuracy"], row["pooled_images"], row["fold_accuracies"],
        )  # fmt: skip
    return {"pooled": pooled, "summaries": summaries, "folds": table}
