"""Fine-tuning: unfreeze the top of a trained transfer model's backbone and train on at a low learning rate."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from image_classification.models.backbones import BACKBONES
from image_classification.models.transfer import unfreeze_model
from image_classification.strategy import checkpoint_dir, training_settings
from image_classification.training import fit_model


def unfreeze_point(model_settings: dict[str, Any], transfer_settings: dict[str, Any]) -> str | int:
    """The layer name (or number of top layers) to unfreeze from; the backbone's default when not set."""
    chosen = model_settings.get("unfreeze_from")
    return chosen if chosen is not None else BACKBONES[transfer_settings["backbone"]].default_unfreeze_layer


def fine_tune_model(  # noqa: PLR0913 - one input per catalog entry
    transfer_model: keras.Model,
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    model_settings: dict[str, Any],
    transfer_settings: dict[str, Any],
    strategy_training: dict[str, Any],
    model_name: str,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, Any]]:
    """Starts from the transfer model of the same name, unfreezes from ``unfreeze_from`` and trains on.

    Args:
        transfer_model: The trained ``transfer.<name>.model`` (loaded from the catalog, so it is not modified).
        images_train: Training bundle.
        images_val: Validation bundle.
        model_settings: ``finetune.models.<name>``: ``unfreeze_from`` (layer name or top-N int) and overrides.
        transfer_settings: ``transfer.models.<name>`` (for the backbone's default unfreeze layer).
        strategy_training: ``finetune.training`` settings; its ``learning_rate`` should be low (1e-5).
        model_name: The model's name under ``finetune.models``.

    Returns:
        The fine-tuned model, its per-epoch history and a training summary.
    """
    settings = training_settings(strategy_training, model_settings)
    model = unfreeze_model(
        transfer_model,
        unfreeze_point(model_settings, transfer_settings),
        learning_rate=settings["learning_rate"],
        label_smoothing=settings.get("label_smoothing", 0.0),
    )
    model, history, summary = fit_model(
        model, images_train, images_val, settings, checkpoint_dir(settings, f"finetune.{model_name}")
    )
    summary.update(strategy="finetune", model_name=model_name, image_size=int(images_train["images"].shape[1]))
    return model, history, summary
