"""Train a network from scratch, chosen by name from the scratch model registry."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from image_classification.models.augmentation import build_augmentation
from image_classification.models.scratch import create_scratch_model
from image_classification.strategy import checkpoint_dir, training_settings
from image_classification.training import compile_model, fit_model


def train_scratch_model(  # noqa: PLR0913 - one input per catalog entry
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    class_names: list[str],
    model_settings: dict[str, Any],
    strategy_training: dict[str, Any],
    augmentation: dict[str, Any],
    model_name: str,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, Any]]:
    """Builds ``model_settings.architecture`` with the augmentation layers in front and fits it.

    Args:
        images_train: ``{"images": uint8 (N, S, S, 3), "labels": (N,)}``.
        images_val: The validation bundle, same layout.
        class_names: Sorted class names.
        model_settings: ``architecture`` (a scratch registry name), optional ``options`` and ``training`` overrides.
        strategy_training: ``scratch.training`` settings for the fit loop.
        augmentation: ``preprocess.augmentation`` settings.
        model_name: The model's name under ``scratch.models``.

    Returns:
        The trained model, its per-epoch history and a training summary.
    """
    settings = training_settings(strategy_training, model_settings)
    model = create_scratch_model(
        model_settings.get("architecture", model_name),
        input_shape=tuple(images_train["images"].shape[1:]),
        num_classes=len(class_names),
        augmentation=build_augmentation(augmentation, seed=settings.get("seed")),
        seed=settings.get("seed"),
        **(model_settings.get("options") or {}),
    )
    compile_model(
        model,
        learning_rate=settings["learning_rate"],
        label_smoothing=settings.get("label_smoothing", 0.0),
        optimizer=settings.get("optimizer", "adam"),
    )
    model, history, summary = fit_model(
        model, images_train, images_val, settings, checkpoint_dir(settings, f"scratch.{model_name}")
    )
    summary.update(strategy="scratch", model_name=model_name, image_size=int(images_train["images"].shape[1]))
    return model, history, summary
