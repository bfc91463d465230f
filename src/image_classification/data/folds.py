"""Stratified k-fold assignment of a data set's images, and the train / validation / test rows of one fold.

The fold study (``kedro run --pipelines study``) decodes every image once, in the order of the selected manifest, and
each fold's pipelines index that one cache: fold ``i`` tests on the images assigned to ``i``, and splits the others
into training and validation, stratified. Across the k folds every image is tested exactly once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from image_classification.config import StrictSettings


class StudySettings(StrictSettings):
    """``study`` (parameters_study.yml): the k-fold study of ``kedro run --pipelines study``.

    Attributes:
        folds: Stratified folds; each is the test split once (every image is tested once).
        val_fraction: Share of the other folds' images held out for validation in each fold.
        seed: Seed of the fold assignment and of each fold's validation split.
    """

    folds: int = Field(default=5, ge=2, le=20)
    val_fraction: float = Field(default=0.15, gt=0.0, lt=0.5)
    seed: int = 42


def assign_folds(labels: pd.Series | np.ndarray, folds: int, seed: int, setting: str = "study.folds") -> np.ndarray:
    """The test fold (0 .. folds-1) of every image: ``StratifiedKFold`` with shuffling, seeded.

    Args:
        labels: One class label per image, in cache order.
        folds: Number of folds, at least 2.
        seed: Seed of the shuffle.
        setting: The parameter that set ``folds``, named in the error.

    Returns:
        int64 array, one fold number per image.

    Raises:
        ValueError: A class has fewer images than ``folds`` (it could not appear in every test fold), naming the
            class and ``setting``.
    """
    labels = pd.Series(np.asarray(labels))
    counts = labels.value_counts()
    smallest = counts[counts < folds]
    if not smallest.empty:
        listed = ", ".join(f"'{name}' ({count})" for name, count in smallest.items())
        raise ValueError(
            f"{setting}={folds} needs at least {folds} images in every class; {listed} has fewer. Lower "
            f"{setting} or select larger classes (split.selection)."
        )
    assignment = np.zeros(len(labels), dtype=np.int64)
    # Imported here: pipeline registration reads StudySettings and must not import scikit-learn (about 2 s).
    from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (_, test_rows) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        assignment[test_rows] = fold
    return assignment


def fold_rows(
    assignment: np.ndarray, labels: np.ndarray, fold: int, val_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Row numbers (into the cache) of the train, validation and test split of ``fold``.

    The test rows keep cache order, so every model of the fold is scored on the same images in the same order and
    the folds' test rows, concatenated in fold order, are ``pooled_test_rows``.

    Args:
        assignment: ``assign_folds``'s output.
        labels: Class index per image (stratifies the validation split).
        fold: The fold to test on.
        val_fraction: Share of the other folds' images held out for validation (stratified).
        seed: Seed of the validation split.

    Returns:
        ``{"train": rows, "val": rows, "test": rows}``, int64 arrays.
    """
    assignment, labels = np.asarray(assignment), np.asarray(labels)
    if not 0 <= fold <= int(assignment.max()):
        raise ValueError(f"Fold {fold} does not exist: the images are assigned to folds 0..{int(assignment.max())}.")
    rest = np.flatnonzero(assignment != fold)
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    train, val = train_test_split(rest, test_size=val_fraction, stratify=labels[rest], random_state=seed)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.flatnonzero(assignment == fold)}


def pooled_test_rows(assignment: np.ndarray) -> np.ndarray:
    """The cache rows of every fold's test split, concatenated in fold order: the order of pooled predictions."""
    assignment = np.asarray(assignment)
    return np.concatenate([np.flatnonzero(assignment == fold) for fold in range(int(assignment.max()) + 1)])
