"""The split and preprocessing settings (``params:split``, ``params:preprocess``): typed objects and their defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from image_classification.data.resize import RESIZE_METHODS

#: Smallest ``preprocess.image_size`` the preprocess node accepts.
MIN_IMAGE_SIZE = 8


@dataclass(frozen=True)
class PreprocessSettings:
    """What the preprocess pipeline reads from ``preprocess:`` (conf/base/parameters_preprocess.yml).

    Attributes:
        image_size: Every image is resized once to ``image_size`` x ``image_size`` pixels.
        resize_method: ``stretch``, ``pad`` (keep the aspect ratio, black borders) or ``center_crop``.
        workers: Decoding threads; null: one per core.
        augmentation: The models' augmentation layers (checked by ``models.augmentation.build_augmentation``).
    """

    image_size: int = 224
    resize_method: str = "stretch"
    workers: int | None = None
    augmentation: Any = None

    WHAT: ClassVar[str] = "preprocess setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        return [
            ("image_size", self.image_size >= MIN_IMAGE_SIZE, f"at least {MIN_IMAGE_SIZE} pixels"),
            ("resize_method", self.resize_method in RESIZE_METHODS, f"one of {', '.join(RESIZE_METHODS)}"),
            ("workers", self.workers is None or self.workers >= 1, "at least 1, or null"),
        ]


@dataclass(frozen=True)
class SelectionSettings:
    """``split.selection``: the classes a study keeps (all of them by default).

    Attributes:
        classes: An explicit list of class names to keep; null: every class.
        top_n_classes: Keep the N classes with most images; null: no limit.
        min_images_per_class: Drop classes with fewer images; null: keep them.
    """

    classes: list[Any] | None = None
    top_n_classes: int | None = None
    min_images_per_class: int | None = None

    WHAT: ClassVar[str] = "class selection setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        return [
            ("top_n_classes", self.top_n_classes is None or self.top_n_classes >= 1, "at least 1, or null"),
            ("min_images_per_class", (self.min_images_per_class or 0) >= 0, "0 or more, or null"),
        ]


@dataclass(frozen=True)
class SplitSettings:
    """``split``: the stratified, seeded train / validation / test split (conf/base/parameters_split.yml).

    Attributes:
        test_fraction: Share of all images in the test split (ignored with ``cross_validation``).
        val_fraction: Share of the remaining images in the validation split.
        seed: Seed of the split.
        selection: The classes kept (read as ``SelectionSettings``).
        cross_validation: Null, or ``{folds: k, fold: i}``: the test split is fold i of k stratified folds.
    """

    test_fraction: float = 0.2
    val_fraction: float = 0.15
    seed: int = 42
    selection: Any = None
    cross_validation: dict[str, Any] | None = None

    WHAT: ClassVar[str] = "split setting"
