"""Class selection and stratified train / validation / test splits of the manifest."""

from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd

from image_classification.config import load_settings
from image_classification.data.folds import assign_folds
from image_classification.data.settings import (
    MIN_CLASSES,
    CrossValidationSettings,
    SelectionSettings,
    SplitSettings,
)

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
    if len(chosen) < MIN_CLASSES:
        raise ValueError(_one_class_message(chosen[0], counts, settings))
    selected = manifest[manifest["label"].isin(chosen)].reset_index(drop=True)
    logger.info("Selected %d classes, %d images.", len(chosen), len(selected))
    return selected


def _one_class_message(name: str, counts: pd.Series, settings: SelectionSettings) -> str:
    """Why the split stops with a single class, and what to change: the data, ``ingest.labels`` or the selection."""
    found = f"Only one class, '{name}' ({counts[name]} images), "
    if len(counts) == 1:
        return (
            f"{found}is in the manifest: a classifier needs at least {MIN_CLASSES}, so the split stops here (nothing "
            "was preprocessed or trained). Add a second class folder beside it in the images folder (ingest.source), "
            "or check ingest.labels: with from: folder each image's parent folder is its class, so images lying in "
            "one folder form one class."
        )
    return (
        f"{found}is left by split.selection ({counts.size} classes in the manifest: "
        f"{', '.join(f'{label} {count}' for label, count in counts.items())}): a classifier needs at least "
        f"{MIN_CLASSES}. Widen split.selection (classes, top_n_classes or min_images_per_class; currently "
        f"classes={settings.classes}, top_n_classes={settings.top_n_classes}, "
        f"min_images_per_class={settings.min_images_per_class})."
    )


def _check_stratifiable(labels: pd.Series, test_fraction: float, val_fraction: float, folds: int | None) -> None:
    counts = labels.value_counts()
    too_small = counts[counts < MIN_IMAGES_FOR_STRATIFYING]
    if not too_small.empty:
        listed = ", ".join(f"'{name}' ({count} image{'s' * (count != 1)})" for name, count in too_small.items())
        raise ValueError(
            f"Cannot stratify: class {listed} has fewer than {MIN_IMAGES_FOR_STRATIFYING} images "
            "(one each for train, validation and test). Add images to it, or drop small classes with "
            f"split.selection.min_images_per_class: {MIN_IMAGES_FOR_STRATIFYING} (or top_n_classes)."
        )
    problem = _too_few_per_split(len(labels), len(counts), test_fraction, val_fraction, folds)
    if problem:
        raise ValueError(f"{problem} Not every class could be represented in each split.")


def _too_few_per_split(  # noqa: PLR0913 - the split's arithmetic, one argument per quantity
    images: int, classes: int, test_fraction: float, val_fraction: float, folds: int | None
) -> str:
    """Which setting leaves a split with fewer images than classes ("" if none), as scikit-learn rounds them.

    The test split is carved out first (ceil), validation from the rest (ceil), training gets what is left; each needs
    one image per class. The message blames the setting to change: ``test_fraction`` (``cross_validation.folds``
    with k-fold) when the test split is too small or leaves too little, ``val_fraction`` when validation is too
    small, both when training is.
    """
    test = math.ceil(test_fraction * images)
    rest = images - test
    val = math.ceil(val_fraction * rest)
    train = rest - val
    if folds:
        test_setting, bigger_test, smaller_test = f"split.cross_validation.folds={folds}", "Lower", "Raise"
        key = "split.cross_validation.folds"
    else:
        test_setting, bigger_test, smaller_test = f"split.test_fraction={test_fraction:g}", "Raise", "Lower"
        key = "split.test_fraction"
    if test < classes:
        return (
            f"{test_setting} of {images} images gives a test split of {test}, fewer than the {classes} classes. "
            f"{bigger_test} {key} or select fewer classes (split.selection)."
        )
    if rest < 2 * classes:
        return (
            f"{test_setting} of {images} images leaves {rest} for training and validation, fewer than 2 per class "
            f"({classes} classes). {smaller_test} {key}."
        )
    if val < classes:
        return (
            f"split.val_fraction={val_fraction:g} of the {rest} images left after the test split gives a validation "
            f"split of {val}, fewer than the {classes} classes. Raise split.val_fraction."
        )
    if train < classes:
        return (
            f"{test_setting} and split.val_fraction={val_fraction:g} leave {train} of {images} images for training, "
            f"fewer than the {classes} classes. {smaller_test} {key} or lower split.val_fraction (or both)."
        )
    return ""


def _test_fold(
    selected: pd.DataFrame, cross_validation: CrossValidationSettings, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rest, test) where test is fold ``fold`` of ``folds`` stratified folds: disjoint test sets across folds."""
    folds, fold = cross_validation.folds, cross_validation.fold
    test = assign_folds(selected["label"], folds, seed, setting="split.cross_validation.folds") == fold
    return selected[~test], selected[test]


def split_dataset(selected: pd.DataFrame, config: SplitSettings) -> tuple[pd.DataFrame, list[str]]:
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
    # Imported here: scikit-learn is not needed to register the pipeline.
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    settings = load_settings(SplitSettings, config, "split")
    test_fraction, val_fraction, seed = settings.test_fraction, settings.val_fraction, settings.seed
    cross_validation = None
    if settings.cross_validation:
        cross_validation = load_settings(CrossValidationSettings, settings.cross_validation, "split.cross_validation")
        test_fraction = 1 / cross_validation.folds
    folds = cross_validation.folds if cross_validation else None
    _check_stratifiable(selected["label"], test_fraction, val_fraction, folds)
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
