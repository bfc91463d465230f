"""Tiny real data and in-memory catalogs for the training pipelines' tests (scratch, transfer, finetune).

Four training and two validation paintings of three bundled painters, at 32 px: real images, seconds to train on.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
from kedro.io import DataCatalog, MemoryDataset
from PIL import Image, ImageOps

from image_classification.data.sources import BUNDLED_DIR
from image_classification.project.model_plan import ModelPlan, use_model_plan

PAINTERS = ("Cezanne", "Monet", "VanGogh")
SIZE = 32
TRAIN_PER_CLASS, VAL_PER_CLASS = 4, 2
#: The shared ``training`` block, as in parameters_training.yml but silent and without checkpoints.
SHARED_TRAINING = {
    "epochs": 10, "batch_size": 32, "learning_rate": 1e-3, "optimizer": "adam", "lr_schedule": "constant",
    "class_weight": "balanced", "early_stopping_patience": None, "reduce_lr_patience": 2, "seed": 0, "verbose": 0,
    "checkpoint_root": None,
}  # fmt: skip
AUGMENTATION = {"flip": "horizontal", "rotation": 0.05, "zoom": 0.1, "translation": 0.1, "contrast": 0.1, "shear": 0.05}
HISTORY_KEYS = {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so a test can read intermediate results (history, features)."""

    def __init__(self) -> None:
        super().__init__(copy_mode="assign")

    def _release(self) -> None:
        pass


@functools.cache
def _paintings() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    folder = BUNDLED_DIR / "impressionists"
    splits: dict[str, tuple[list, list]] = {"train": ([], []), "val": ([], [])}
    for label, painter in enumerate(PAINTERS):
        paths = sorted((folder / painter).glob("*.jpg"))[: TRAIN_PER_CLASS + VAL_PER_CLASS]
        assert len(paths) == TRAIN_PER_CLASS + VAL_PER_CLASS, f"bundled paintings missing in {folder / painter}"
        for index, path in enumerate(paths):
            with Image.open(path) as image:
                pixels = np.asarray(ImageOps.fit(image.convert("RGB"), (SIZE, SIZE)), dtype=np.uint8)
            images, labels = splits["train" if index < TRAIN_PER_CLASS else "val"]
            images.append(pixels)
            labels.append(label)
    train, val = (
        {"images": np.stack(images), "labels": np.array(labels, dtype=np.int64)} for images, labels in splits.values()
    )
    return train, val


def painting_splits() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    """Fresh copies of the training and validation bundles (uint8 (N, 32, 32, 3), int labels) and the class names."""
    train, val = _paintings()
    copy = lambda split: {key: value.copy() for key, value in split.items()}  # noqa: E731
    return copy(train), copy(val), list(PAINTERS)


def training_catalog(
    parameters: dict[str, Any],
    models: dict[str, Any] | None = None,
    kept: tuple[str, ...] = (),
    **datasets: Any,
) -> DataCatalog:
    """A catalog of MemoryDatasets: the painting splits, ``params:<name>`` entries, Keras models and kept datasets.

    Args:
        parameters: ``{"training": {...}, "scratch.training": {...}, ...}``: each becomes ``params:<name>``.
        models: Dataset name -> Keras model or None (an output): stored as they are (``copy_mode="assign"``), since
            a Keras model cannot be deep-copied.
        kept: Intermediate datasets to keep for the test (never released).
        datasets: Any other inputs by name (overriding the paintings).
    """
    train, val, class_names = painting_splits()
    entries: dict[str, Any] = {
        "images_train": MemoryDataset(train),
        "images_val": MemoryDataset(val),
        "class_names": MemoryDataset(class_names),
    }
    entries.update({name: MemoryDataset(value) for name, value in datasets.items()})
    entries.update({f"params:{name}": MemoryDataset(value) for name, value in parameters.items()})
    entries.update({name: MemoryDataset(model, copy_mode="assign") for name, model in (models or {}).items()})
    entries.update({name: KeptDataset() for name in kept})
    return DataCatalog(datasets=entries)


@contextlib.contextmanager
def model_plan(parameters: dict[str, Any]) -> Iterator[ModelPlan]:
    """Pipelines built inside follow the plan of ``parameters`` (the transfer modes), as ModelPlanHook sets it in a run."""
    plan = ModelPlan.from_parameters(parameters)
    use_model_plan(plan)
    try:
        yield plan
    finally:
        use_model_plan(None)
