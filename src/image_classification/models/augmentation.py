"""Data augmentation as Keras layers, built from the ``preprocess.augmentation`` settings.

The layers go inside the model (before rescaling), so they run on the 0..255 float images the model receives, are
active only while training and are saved with the model. Backend-neutral: ``keras.layers`` and ``keras.ops``; on
TensorFlow their per-pixel work runs compiled by XLA (``random_affine.compiled_on_tensorflow``).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import keras
import numpy as np
from matplotlib.figure import Figure

from image_classification.models.random_affine import (
    FLIP_MODES,
    RandomAffine,
    compiled_on_tensorflow,
)

# Folded into one RandomAffine resampling; contrast is a separate per-pixel layer.
SPATIAL_KEYS = ("flip", "rotation", "zoom", "translation", "shear")
AUGMENTATION_KEYS = (*SPATIAL_KEYS, "contrast")


@keras.saving.register_keras_serializable(package="image_classification")
class SymmetricRandomShear(keras.layers.RandomShear):
    """Kept so that models saved before ``RandomAffine`` still load: ``keras.layers.RandomShear`` saves a factor
    ``f`` as ``(-f, f)`` in Keras 3.15, which its own constructor rejects, so the config keeps the magnitude."""

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("x_factor", "y_factor"):
            lower, upper = config[key]
            if math.isclose(-lower, upper):
                config[key] = float(upper)
        return config


def adjust_contrast(images: Any, factor: Any, low: float, high: float) -> Any:
    """``keras.layers.RandomContrast``'s arithmetic on channels-last images: each channel stretched by ``factor``
    ``(B, 1, 1, 1)`` about its per-image mean (over rows, then columns, as Keras), clipped to ``[low, high]``."""
    mean = keras.ops.mean(keras.ops.mean(images, axis=-3, keepdims=True), axis=-2, keepdims=True)
    return keras.ops.clip((images - mean) * factor + mean, low, high)


@keras.saving.register_keras_serializable(package="image_classification")
class CompiledRandomContrast(keras.layers.RandomContrast):
    """``keras.layers.RandomContrast`` (same settings, draws and arithmetic) whose per-pixel arithmetic runs compiled
    by XLA on TensorFlow, as ``RandomAffine``'s resampling (``compiled_on_tensorflow``): on CPU, TensorFlow would
    otherwise make a pass over the batch per op, which cost as much as the compiled resampling itself. Other
    backends run Keras's own code (JAX compiles it with the model)."""

    def transform_images(self, images: Any, transformation: Any, training: bool = True) -> Any:
        on_tensorflow = keras.backend.backend() == "tensorflow"
        if not (training and on_tensorflow and self.data_format == "channels_last"):
            return super().transform_images(images, transformation, training=training)
        low, high = self.value_range
        return compiled_on_tensorflow(adjust_contrast)(images, transformation["contrast_factor"], low, high)


def _is_off(value: Any) -> bool:
    return value is None or value is False or value == 0


def _checked(key: str, value: Any) -> Any:
    """The setting as the layers take it, or a ValueError naming the setting and what it accepts."""
    if key == "flip":
        mode = "horizontal" if value is True else value
        if mode not in FLIP_MODES:
            raise ValueError(
                f"Augmentation setting 'flip' must be one of {', '.join(FLIP_MODES)} or false, got {value!r}."
            )
        return mode
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < 1:
        raise ValueError(
            f"Augmentation setting '{key}' must be a number >= 0 and < 1 (0 switches it off), got {value!r}."
        )
    return float(value)


def build_augmentation(config: dict[str, Any] | None, seed: int | None = None) -> keras.Sequential:
    """Builds the augmentation layers named in ``config``: ``CompiledRandomContrast``, then one ``RandomAffine`` for
    all the spatial settings.

    Args:
        config: Settings (all optional; 0, null or false switches one off):
            ``flip``: ``horizontal`` (or true), ``vertical`` or ``horizontal_and_vertical``;
            ``rotation``: largest rotation as a fraction of a full turn (0.1 = +-36 degrees);
            ``zoom``: largest zoom in/out as a fraction of the side; ``translation``: largest shift as a fraction of
            the side; ``shear``: largest shear (0..1); ``contrast``: largest contrast change (0.1 = +-10 %).
        seed: Seed of the first layer (the second uses seed + 1); None draws at random.

    Returns:
        A ``keras.Sequential`` named ``augmentation`` working on 0..255 float images (an ``Identity`` layer when
        nothing is switched on, because an empty Sequential cannot be called).
    """
    config = dict(config or {})
    unknown = sorted(set(config) - set(AUGMENTATION_KEYS))
    if unknown:
        raise ValueError(
            f"Unknown augmentation setting(s) {unknown} (preprocess.augmentation). Allowed: {', '.join(AUGMENTATION_KEYS)}."
        )
    settings = {key: _checked(key, value) for key, value in config.items() if not _is_off(value)}
    # Contrast first: its per-image mean then reads the stored pixels, where after the resampling XLA would compute
    # the gathers once for the mean and again for the output (3x slower on JAX); the distribution is the same.
    layers: list[keras.layers.Layer] = []
    if "contrast" in settings:
        layers.append(
            CompiledRandomContrast(settings["contrast"], value_range=(0, 255), seed=seed, name="random_contrast")
        )
    spatial = {key: settings[key] for key in SPATIAL_KEYS if key in settings}
    if spatial:
        layer_seed = None if seed is None else seed + len(layers)
        layers.append(RandomAffine(**spatial, seed=layer_seed, name="random_affine"))
    return keras.Sequential(layers or [keras.layers.Identity(name="identity")], name="augmentation")


def preview_augmentations(
    image: np.ndarray, config: dict[str, Any] | None, n: int = 9, seed: int = 0
) -> Figure:
    """Draws ``n`` augmented versions of one image in a square grid, to check the settings by eye.

    Args:
        image: uint8 array (H, W, 3).
        config: Augmentation settings, as for ``build_augmentation``.
        n: Number of augmented versions.
        seed: Seed of the augmentation layers, so the preview is reproducible.

    Returns:
        A matplotlib ``Figure`` (not attached to pyplot, so nothing needs closing) with ``n`` image axes.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"preview_augmentations needs one RGB image of shape (H, W, 3), got shape {image.shape}."
        )
    augmentation = build_augmentation(config, seed=seed)
    batch = image[np.newaxis].astype(np.float32)
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    figure = Figure(figsize=(2.2 * columns, 2.2 * rows + 0.4), layout="constrained")
    enabled = {k: v for k, v in (config or {}).items() if v not in (None, False, 0)}
    figure.suptitle(
        ", ".join(f"{k}={v}" for k, v in enabled.items()) or "no augmentation", fontsize=9
    )
    for index in range(n):
        augmented = keras.ops.convert_to_numpy(augmentation(batch, training=True))[0]
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(np.clip(augmented, 0, 255).astype(np.uint8))
        axes.set_axis_off()
    return figure
