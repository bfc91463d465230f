"""The seeds' way of producing augmented training batches, the baselines of ``input_pipeline.py`` (not project code).

* ``image_data_generator_batches``: Keras's own ``ImageDataGenerator.flow_from_dataframe``, the class the seeds'
  notebooks use. Keras 3 still ships it (``keras.src.legacy``; ``tf.keras.preprocessing.image`` resolves to it): per
  image PIL open, resize, ``img_to_array``, one ``scipy.ndimage`` affine transform per channel, flip and a PIL
  brightness change, in one Python thread.
* ``JpegBatches``: the same per-image steps with PIL's C ``Image.transform`` for the affine step, about 4x faster
  than ``scipy.ndimage`` per image: a stricter baseline than the seeds' real one.

Both read the same files in a shuffled order each epoch and map the project's ``preprocess.augmentation`` settings
to their own (rotation as a fraction of a turn -> degrees, shear factor -> shear angle, contrast -> brightness, the
nearest photometric change ``ImageDataGenerator`` has).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image


def image_data_generator_settings(augmentation: dict[str, Any]) -> dict[str, Any]:
    """``ImageDataGenerator`` arguments for the project's ``preprocess.augmentation`` settings."""
    setting = {key: value or 0 for key, value in augmentation.items()}
    flip = "horizontal" if setting.get("flip") is True else setting.get("flip")
    contrast = float(setting.get("contrast", 0))
    return {
        "rotation_range": float(setting.get("rotation", 0)) * 360,
        "width_shift_range": float(setting.get("translation", 0)),
        "height_shift_range": float(setting.get("translation", 0)),
        "shear_range": math.degrees(math.atan(float(setting.get("shear", 0)))),
        "zoom_range": float(setting.get("zoom", 0)),
        "horizontal_flip": flip in ("horizontal", "horizontal_and_vertical"),
        "vertical_flip": flip in ("vertical", "horizontal_and_vertical"),
        "brightness_range": (1 - contrast, 1 + contrast) if contrast else None,
        "fill_mode": "reflect",  # as the project's layers
    }


class ImageDataGeneratorBatches:
    """``ImageDataGenerator(...).flow_from_dataframe(...)`` over the given files, with the benchmark's epoch hook.

    Args:
        paths: Image files.
        labels: Class name per file.
        batch_size: Images per batch.
        image_size: Side the images are resized to (bilinear, as the project's cache).
        augmentation: ``preprocess.augmentation``-style settings.
        seed: Seed of the shuffling and the random transforms.
    """

    def __init__(
        self,
        paths: list[str],
        labels: list[str],
        batch_size: int,
        image_size: int,
        augmentation: dict[str, Any],
        seed: int = 0,
    ) -> None:
        from keras.src.legacy.preprocessing.image import ImageDataGenerator

        self.paths = list(paths)
        generator = ImageDataGenerator(**image_data_generator_settings(augmentation))
        self.iterator = generator.flow_from_dataframe(
            pd.DataFrame({"filename": self.paths, "class": list(labels)}),
            x_col="filename",
            y_col="class",
            target_size=(image_size, image_size),
            interpolation="bilinear",
            class_mode="categorical",
            batch_size=batch_size,
            shuffle=True,
            seed=seed,
        )

    def __len__(self) -> int:
        return len(self.iterator)

    def on_epoch_begin(self) -> None:
        self.iterator.on_epoch_end()  # draws the next shuffled order, as Keras does between epochs

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.iterator[index]


class JpegBatches:
    """The stricter baseline: ``ImageDataGenerator``'s per-image steps with PIL's C affine transform.

    Args:
        paths: Image files.
        labels: Class index per file.
        num_classes: Length of the one-hot labels.
        batch_size: Images per batch.
        image_size: Side the images are resized to.
        augmentation: ``preprocess.augmentation``-style settings (flip, rotation, zoom, translation, shear, contrast).
        seed: Seed of the shuffling and the random transforms.
    """

    def __init__(
        self,
        paths: list[str],
        labels: np.ndarray,
        num_classes: int,
        batch_size: int,
        image_size: int,
        augmentation: dict[str, Any],
        seed: int = 0,
    ) -> None:
        self.paths, self.labels = list(paths), np.asarray(labels)
        self.num_classes, self.batch_size, self.size = num_classes, batch_size, image_size
        self.settings = {key: value or 0 for key, value in augmentation.items()}
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(self.paths))

    def __len__(self) -> int:
        return math.ceil(len(self.paths) / self.batch_size)

    def on_epoch_begin(self) -> None:
        self.order = self.rng.permutation(len(self.paths))

    def _affine(self) -> tuple[float, ...]:
        """One random rotation/zoom/shear/shift about the centre, as PIL's inverse-mapping coefficients."""
        s, rng = self.settings, self.rng
        angle = rng.uniform(-1, 1) * float(s["rotation"]) * 2 * math.pi
        zoom_x, zoom_y = 1 + rng.uniform(-1, 1, size=2) * float(s["zoom"])
        shear = rng.uniform(-1, 1) * float(s["shear"])
        shift_x, shift_y = rng.uniform(-1, 1, size=2) * float(s["translation"]) * self.size
        cos, sin = math.cos(angle), math.sin(angle)
        matrix = np.array([[cos, -sin + shear], [sin, cos]]) @ np.diag([zoom_x, zoom_y])
        centre = np.array([self.size / 2, self.size / 2])
        offset = centre - matrix @ centre + np.array([shift_x, shift_y])
        return (*matrix[0], offset[0], *matrix[1], offset[1])

    def _load(self, path: str) -> np.ndarray:
        with Image.open(path) as source:
            image = source.convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR)
        if self.settings["flip"] and self.rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image = image.transform(image.size, Image.Transform.AFFINE, self._affine(), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32)
        if self.settings["contrast"]:
            factor = 1 + self.rng.uniform(-1, 1) * float(self.settings["contrast"])
            mean = pixels.mean(axis=(0, 1), keepdims=True)
            pixels = np.clip((pixels - mean) * factor + mean, 0, 255)
        return pixels

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images = np.stack([self._load(self.paths[row]) for row in rows])
        return images, np.eye(self.num_classes, dtype=np.float32)[self.labels[rows]]
