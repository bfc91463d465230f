"""Data augmentation as Keras layers, built from the ``preprocess.augmentation`` settings.

The layers go inside the model (before rescaling), so they run on the 0..255 float images the model receives, are
active only while training and are saved with the model. Backend-neutral: plain ``keras.layers``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import Any

import keras
import numpy as np
from matplotlib.figure import Figure

FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


@keras.saving.register_keras_serializable(package="image_classification")
class SymmetricRandomShear(keras.layers.RandomShear):
    """``keras.layers.RandomShear`` that survives saving: Keras 3.15 saves a factor ``f`` as ``(-f, f)``, which its
    own constructor rejects when the model is loaded, so the config keeps the magnitude instead."""

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("x_factor", "y_factor"):
            lower, upper = config[key]
            if math.isclose(-lower, upper):
                config[key] = float(upper)
        return config


def _flip(value: Any, seed: int | None) -> keras.layers.Layer:
    mode = "horizontal" if value is True else value
    if mode not in FLIP_MODES:
        raise ValueError(
            f"Augmentation setting 'flip' must be one of {', '.join(FLIP_MODES)} or false, got {value!r}."
        )
    return keras.layers.RandomFlip(mode, seed=seed, name="random_flip")


# Factor -> layer. Each factor is the largest change as a fraction (rotation: of a full turn; zoom, translation:
# of the image side; contrast: of the contrast; shear: of the image side).
_FACTOR_LAYERS: dict[str, Callable[[float, int | None], keras.layers.Layer]] = {
    "rotation": lambda f, seed: keras.layers.RandomRotation(
        f, fill_mode="reflect", seed=seed, name="random_rotation"
    ),
    "zoom": lambda f, seed: keras.layers.RandomZoom(
        f, fill_mode="reflect", seed=seed, name="random_zoom"
    ),
    "translation": lambda f, seed: keras.layers.RandomTranslation(
        f, f, fill_mode="reflect", seed=seed, name="random_translation"
    ),
    "contrast": lambda f, seed: keras.layers.RandomContrast(
        f, value_range=(0, 255), seed=seed, name="random_contrast"
    ),
    "shear": lambda f, seed: SymmetricRandomShear(
        f, f, fill_mode="reflect", seed=seed, name="random_shear"
    ),
}

AUGMENTATION_KEYS = ("flip", *_FACTOR_LAYERS)


def build_augmentation(config: dict[str, Any] | None, seed: int | None = None) -> keras.Sequential:
    """Builds the augmentation layers named in ``config``, in a fixed order: flip, rotation, zoom, translation,
    contrast, shear.

    Args:
        config: Settings (all optional; 0, null or false switches one off):
            ``flip``: ``horizontal`` (or true), ``vertical`` or ``horizontal_and_vertical``;
            ``rotation``: largest rotation as a fraction of a full turn (0.1 = +-36 degrees);
            ``zoom``: largest zoom in/out as a fraction of the side; ``translation``: largest shift as a fraction of
            the side; ``contrast``: largest contrast change (0.1 = +-10 %); ``shear``: largest shear (0..1).
        seed: Seed of the first layer (the next layers use seed + 1, seed + 2, ...); None draws at random.

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
    layers: list[keras.layers.Layer] = []
    for key in AUGMENTATION_KEYS:
        value = config.get(key)
        if value is None or value is False or value == 0:
            continue
        layer_seed = None if seed is None else seed + len(layers)
        if key == "flip":
            layers.append(_flip(value, layer_seed))
            continue
        if isinstance(value, bool) or not isinstance(value, Real) or value < 0:
            raise ValueError(
                f"Augmentation setting '{key}' must be a number >= 0 (0 switches it off), got {value!r}."
            )
        layers.append(_FACTOR_LAYERS[key](float(value), layer_seed))
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
