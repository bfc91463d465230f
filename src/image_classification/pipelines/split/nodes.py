"""Class selection and stratified train / validation / test splits of the manifest."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from image_classification.config import load_settings
from image_classification.data.settings import SelectionSettings, SplitSettings

logger = logging.getLogger(__name__)

# Each class needs one image in test, one in validation and one in train.
MIN_IMAGES_FOR_STRATIFYING = 3


def select_classes(manifest: pd.DataFrame, selection: dict[str, Any]) -> pd.DataFrame:
    """Keeps the classes a study is about: an explicit list, the N largest, and/or those with enough images.

    Args:
        manifest: One row per usable image with at least ``path`` and ``label``.
        selection: ``split.selection``, read as ``SelectionSettings``: ``classes`` (list or null),
            ``top_n_classes`` (int or null), ``min_images_per_class`` (int or null).

    Returns:
        The rows of the selected classes.
    """
    settings = load_settings(SelectionSettings, selection, "split.selection")
    counts = manifest["label"].value_counts()
    chosen = counts.index.tolist()
    if settings.classes:
        wanted = [str(name) for name in settings.classes]
        missing = sorted(set(wanted) - set(chosen))
        if missing:
            raise ValueError(
                f"split.selection.classes names classes that are not in the manifest: {missing}. "
                f"Available: {sorted(chosen)}."
            )
        chosen = wanted
    if settings.min_images_per_class:
        chosen = [name for name in chosen if counts[name] >= settings.min_images_per_class]
    if settings.top_n_classes:
        # Ties broken by name so the choice is reproducible.
        ranked = sorted(chosen, key=lambda name: (-counts[name], name))
        chosen = ranked[: settings.top_n_classes]
    if not chosen:
        raise ValueError(
            "split.selection left no class: lower split.selection.min_images_per_class or widen "
            f"split.selection.classes. Class sizes: {counts.to_dict()}."
        )
    selected = manifest[manifest["label"].isin(chosen)].reset_index(drop=True)
    logger.info("Selected %d classes, %d images.", len(chosen), len(selected))
    return selected


def _check_stratifiable(labels: pd.Series, test_fraction: float, val_fraction: float) -> None:
    counts = labels.value_counts()
    too_small = counts[counts < MIN_IMAGES_FOR_STRATIFYING]
    if not too_small.empty:
        listed = ", ".join(f"'{name}' ({count} image{'s' * (count != 1)})" for name, count in too_small.items())
        raise ValueError(
            f"Cannot stratify: class {listed} has fewer than {MIN_IMAGES_FOR_STRATIFYING} images "
            "(one each for train, validation and test). Add images to it, or drop small classes with "
            f"split.selection.min_images_per_class: {MIN_IMAGES_FOR_STRATIFYING} (or top_n_classes)."
        )
    for name, fraction, total in (
        ("split.test_fraction", test_fraction, len(labels)),
        ("split.val_fraction", val_fraction, len(labels) * (1 - test_fraction)),
    ):
        if not 0 < fraction < 1:
            raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {fraction}.")
        if int(fraction * total) < len(counts):
            raise ValueError(
                f"{name}={fraction} of {int(total)} images gives fewer images than the {len(counts)} classes, "
                f"so not every class can be represented. Raise {name} or select fewer classes."
            )


def _test_fold(selected: pd.DataFrame, cross_validation: dict[str, Any], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rest, test) where test is fold ``fold`` of ``folds`` stratified folds: disjoint test sets across folds."""
    folds, fold = cross_validation.get("folds"), cross_validation.get("fold", 0)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"split.cross_validation.folds must be a whole number of at least 2, got {folds!r}.")
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < folds:
        raise ValueError(f"split.cross_validation.fold must be a whole number from 0 to {folds - 1}, got {fold!r}.")
    smallest = int(selected["label"].value_counts().min())
    if smallest < folds:
        raise ValueError(
            f"split.cross_validation.folds={folds} needs at least {folds} images in every class; the smallest has "
            f"{smallest}. Lower folds or select larger classes (split.selection)."
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    rest_index, test_index = list(splitter.split(selected, selected["label"]))[fold]
    return selected.iloc[rest_index], selected.iloc[test_index]


def split_dataset(selected: pd.DataFrame, config: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """Stratified, seeded split: ``test_fraction`` of all images for test, ``val_fraction`` of the rest for validation.

    The test split is carved out first and never used for any choice before the report. With
    ``cross_validation: {folds: k, fold: i}`` the test split is instead fold ``i`` of ``k`` stratified folds, so ``k``
    runs test every image exactly once (what the accuracy study repeats).

    Args:
        selected: Manifest rows of the selected classes.
        config: ``params:split``, read as ``SplitSettings``: ``test_fraction`` (0.05 gives the 95/5 split),
            ``val_fraction``, ``seed``, ``cross_validation`` (null, or ``folds`` and ``fold``).

    Returns:
        The rows with a ``split`` column in {train, val, test}, and the sorted class names (label index = position).
    """
    settings = load_settings(SplitSettings, config, "split")
    test_fraction, val_fraction, seed = settings.test_fraction, settings.val_fraction, settings.seed
    cross_validation = settings.cross_validation
    if cross_validation:
        test_fraction = 1 / cross_validation.get("folds", 0) if cross_validation.get("folds") else 0.0
    _check_stratifiable(selected["label"], test_fraction, val_fraction)
    if cross_validation:
        rest, test = _test_fold(selected, cross_validation, seed)
    else:
        rest, test = train_test_split(
            selected, test_size=test_fraction, stratify=selected["label"], random_state=seed
        )
    train, val = train_test_split(
        rest, test_size=val_fraction, stratify=rest["label"], random_state=seed
    )
    splits = pd.concat(
        [train.assign(split="train"), val.assign(split="val"), test.assign(split="test")],
        ignore_index=True,
    )
    class_names = sorted(selected["label"].unique().tolist())
    logger.info(
        "Split %d images into train %d / val %d / test %d over %d classes.",
        len(splits), len(train), len(val), len(test), len(class_names),
    )
    return splits, class_names
