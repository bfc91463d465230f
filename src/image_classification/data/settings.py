"""The ingest, split and preprocessing settings (``params:ingest``, ``params:split``, ``params:preprocess``): typed
objects and their defaults.

What a value must name (a source type, a labelling strategy) is checked against the registries in ``data.sources``
and ``data.labels`` by the run checks, so this module imports neither.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from image_classification.config import StrictSettings
from image_classification.data.duplicates import (
    DEFAULT_NEAR_DUPLICATE_DISTANCE,
    MAX_NEAR_DUPLICATE_DISTANCE,
)
from image_classification.data.images import DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIDE
from image_classification.data.resize import RESIZE_METHODS

#: Smallest ``preprocess.image_size`` the preprocess node accepts.
MIN_IMAGE_SIZE = 8
#: A classifier tells at least two classes apart.
MIN_CLASSES = 2
#: Largest ``preprocess.image_size`` (and a model's ``image_size``): a 4096 px RGB image is 48 MiB decoded; larger
#: sizes are a typo (``100000`` would need 28 GiB per image) and are refused before anything is decoded.
MAX_IMAGE_SIZE = 4096
#: Upper bounds of counts, each far above any real use, so that a typo is refused by name before the run.
MAX_WORKERS = 256
MAX_CLASSES = 100_000
MAX_IMAGES_PER_CLASS = 100_000_000
MAX_FOLDS = 100
MAX_SEED = 2**32 - 1  # NumPy's and scikit-learn's seeds
MAX_PIXELS_LIMIT = 2_000_000_000  # ingest.checks.max_pixels: 2 gigapixels is 6 GiB decoded
MAX_MIN_SIDE = 10_000


#: ``preprocess.image_size`` when the YAML leaves it out.
DEFAULT_IMAGE_SIZE = 224


class PreprocessSettings(StrictSettings):
    """What the preprocess pipeline reads from ``preprocess:`` (conf/base/parameters_preprocess.yml).

    Attributes:
        image_size: Every image is resized once to ``image_size`` x ``image_size`` pixels.
        resize_method: ``stretch``, ``pad`` (keep the aspect ratio, black borders) or ``center_crop``.
        workers: Decoding threads; null: one per core.
        augmentation: The models' augmentation layers (checked by ``models.augmentation.build_augmentation``).
    """

    image_size: int = DEFAULT_IMAGE_SIZE
    resize_method: str = "stretch"
    workers: int | None = None
    augmentation: Any = None

    WHAT: ClassVar[str] = "preprocess setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        return [
            ("image_size", self.image_size >= MIN_IMAGE_SIZE, f"at least {MIN_IMAGE_SIZE} pixels"),
            ("image_size", self.image_size <= MAX_IMAGE_SIZE, f"at most {MAX_IMAGE_SIZE} pixels"),
            ("resize_method", self.resize_method in RESIZE_METHODS, f"one of {', '.join(RESIZE_METHODS)}"),
            ("workers", self.workers is None or self.workers >= 1, "at least 1, or null"),
            ("workers", self.workers is None or self.workers <= MAX_WORKERS, f"at most {MAX_WORKERS}, or null"),
        ]


class SelectionSettings(StrictSettings):
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
        """(key, valid, what a valid value is) for every check on the values; a classifier needs two classes."""
        return [
            (
                "classes",
                len({str(name) for name in self.classes or ()}) != 1,
                "at least 2 class names (a classifier needs two classes), or null for all",
            ),
            (
                "top_n_classes",
                self.top_n_classes is None or self.top_n_classes >= MIN_CLASSES,
                f"at least {MIN_CLASSES} (a classifier needs two classes), or null",
            ),
            ("min_images_per_class", (self.min_images_per_class or 0) >= 0, "0 or more, or null"),
            ("top_n_classes", (self.top_n_classes or 0) <= MAX_CLASSES, f"at most {MAX_CLASSES:,}, or null"),
            (
                "min_images_per_class",
                (self.min_images_per_class or 0) <= MAX_IMAGES_PER_CLASS,
                f"at most {MAX_IMAGES_PER_CLASS:,}, or null",
            ),
        ]


class CrossValidationSettings(StrictSettings):
    """``split.cross_validation``: the test split is fold ``fold`` of ``folds`` stratified folds.

    Attributes:
        folds: Number of folds, at least 2 (required).
        fold: The fold tested, 0 to ``folds - 1``.
    """

    folds: int | None = None
    fold: int = 0

    WHAT: ClassVar[str] = "cross-validation setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        folds = self.folds or 0
        return [
            ("folds", folds >= 2, "a whole number of at least 2 (e.g. 5)"),
            ("folds", folds <= MAX_FOLDS, f"at most {MAX_FOLDS}"),
            ("fold", folds < 2 or 0 <= self.fold < folds, f"a whole number from 0 to {folds - 1}"),
        ]

#: The splits every run makes, in this order: train learns, val chooses, test only reports.
SPLITS = ("train", "val", "test")


class SplitSettings(StrictSettings):
    """``split``: the stratified, seeded train / validation / test split (conf/base/parameters_split.yml).

    Attributes:
        test_fraction: Share of all images in the test split (ignored with ``cross_validation``).
        val_fraction: Share of the remaining images in the validation split.
        seed: Seed of the split.
        selection: The classes kept (``SelectionSettings``); null: every class.
        cross_validation: Null, or ``{folds: k, fold: i}`` (``CrossValidationSettings``): the test split is fold i
            of k stratified folds.
    """

    test_fraction: float = 0.2
    val_fraction: float = 0.15
    seed: int = 42
    selection: SelectionSettings | None = None
    cross_validation: CrossValidationSettings | None = None

    WHAT: ClassVar[str] = "split setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values.

        Whether the fractions leave every class an image in each split depends on the data: ``split_dataset`` checks
        it, naming the fraction (or both) to change.
        """
        return [
            ("test_fraction", 0 < self.test_fraction < 1, "between 0 and 1 (exclusive), e.g. 0.2"),
            ("val_fraction", 0 < self.val_fraction < 1, "between 0 and 1 (exclusive), e.g. 0.15"),
            ("seed", 0 <= self.seed <= MAX_SEED, f"from 0 to {MAX_SEED:,}"),
        ]


class IngestSettings(StrictSettings):
    """``ingest`` (conf/base/parameters_ingest.yml): its sub-blocks, each read by its own class.

    Attributes:
        source: Where the images come from (``SourceSettings``).
        labels: How each image gets its class (``LabelSettings``).
        checks: Which images are skipped as unusable (``CheckSettings``).
        archive_limits: How much an archive may unpack to (``data.archive_limits.ArchiveLimits``).
    """

    source: Any = None
    labels: Any = None
    checks: Any = None
    archive_limits: Any = None

    WHAT: ClassVar[str] = "ingest setting"


class SourceSettings(StrictSettings):
    """``ingest.source``: the keys ``data.sources.fetch_source`` reads (its ``SOURCE_SETTINGS``).

    Attributes:
        type: ``bundled``, ``folder``, ``zip``, ``url``, ``kaggle_dataset`` or ``kaggle_competition``.
        name: Folder created under ``raw_dir`` (for ``bundled``: the data set).
        raw_dir: Where acquired data sets are written.
        path: ``folder``: the image folder; ``zip``: the archive.
        url: ``url``: the archive's address.
        sha256: ``url``: the archive's expected sha256; null skips the check.
        kaggle_slug: ``kaggle_dataset``: owner/name; ``kaggle_competition``: name.
    """

    type: str = "bundled"
    name: str | None = None
    raw_dir: str = "data/01_raw"
    path: str | None = None
    url: str | None = None
    sha256: str | None = None
    kaggle_slug: str | None = None

    WHAT: ClassVar[str] = "ingest.source setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is): what each source type needs."""
        needed = {"folder": "path", "zip": "path", "url": "url", "kaggle_dataset": "kaggle_slug",
                  "kaggle_competition": "kaggle_slug"}.get(self.type)  # fmt: skip
        name = (self.name or "").strip()
        return [
            *(
                [(needed, bool(getattr(self, needed)), f"set when ingest.source.type is '{self.type}'")]
                if needed
                else []
            ),
            (
                "name",
                self.type == "folder" or (bool(name) and "/" not in name and "\\" not in name and name[0] != "."),
                "a plain folder name (e.g. impressionists), created in raw_dir",
            ),
            (
                "sha256",
                self.sha256 is None or (len(self.sha256) == 64 and all(c in "0123456789abcdefABCDEF" for c in self.sha256)),
                "64 hexadecimal digits, or null",
            ),
        ]


class LabelSettings(StrictSettings):
    """``ingest.labels``: the keys ``data.labels.assign_labels`` reads (its ``LABEL_SETTINGS``).

    Attributes:
        from_: ``folder``, ``filename`` or ``csv`` (the YAML key is ``from``).
        pattern: ``filename``: a regular expression with a named group ``label``.
        csv_path: ``csv``: the labels table.
        id_column: ``csv``: the column naming the image.
        label_column: ``csv``: the column holding the class.
        id_extension: ``csv``: appended to ids to form file names.
        csv_separator: ``csv``: the column separator; null: sniffed from the header.
        csv_encoding: ``csv``: the file's text encoding.
        ignore_dirs: Folder names left out anywhere below the images folder.
        merge_case: Merge classes whose names differ only in case (``Cat`` and ``cat``); by default they stay apart,
            with a report row naming both.
    """

    from_: str = Field("folder", alias="from")
    pattern: str | None = None
    csv_path: str | None = None
    id_column: str = "id"
    label_column: str = "label"
    id_extension: str | None = None
    csv_separator: str | None = None
    csv_encoding: str | None = "utf-8"
    ignore_dirs: list[Any] | None = None
    merge_case: bool = False

    WHAT: ClassVar[str] = "ingest.labels setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is): what each labelling strategy needs."""
        return [("csv_path", self.from_ != "csv" or bool(self.csv_path), "set when ingest.labels.from is 'csv'")]


class CheckSettings(StrictSettings):
    """``ingest.checks``: which images are skipped (the keys ``build_manifest`` reads).

    Attributes:
        max_pixels: Images with more pixels are skipped as possible decompression bombs.
        min_side: Images whose shorter side is below this many pixels are skipped.
        near_duplicate_distance: Images whose perceptual hashes differ in at most this many of 64 bits are reported
            as near duplicates (kept); null: not looked for.
    """

    max_pixels: int | None = DEFAULT_MAX_PIXELS
    min_side: int | None = DEFAULT_MIN_SIDE
    near_duplicate_distance: int | None = DEFAULT_NEAR_DUPLICATE_DISTANCE

    WHAT: ClassVar[str] = "ingest.checks setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        return [
            ("max_pixels", self.max_pixels is None or self.max_pixels >= 1, "a positive number of pixels, or null"),
            ("min_side", self.min_side is None or self.min_side >= 1, "a positive number of pixels, or null"),
            (
                "max_pixels",
                self.max_pixels is None or self.max_pixels <= MAX_PIXELS_LIMIT,
                f"at most {MAX_PIXELS_LIMIT:,} pixels, or null",
            ),
            ("min_side", self.min_side is None or self.min_side <= MAX_MIN_SIDE, f"at most {MAX_MIN_SIDE:,} pixels, or null"),
            (
                "near_duplicate_distance",
                self.near_duplicate_distance is None
                or 0 <= self.near_duplicate_distance <= MAX_NEAR_DUPLICATE_DISTANCE,
                f"from 0 to {MAX_NEAR_DUPLICATE_DISTANCE} bits, or null",
            ),
        ]
