"""Train a network from scratch, chosen by name from the scratch model registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from image_classification.config import load_settings
from image_classification.models.settings import ScratchModelSettings
from image_classification.pipelines.per_model import training_settings


def train_scratch_model(  # noqa: PLR0913 - one input per catalog entry
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    class_names: list[str],
    model_settings: ScratchModelSettings,
    training_blocks: Sequence[dict[str, Any] | None],
    augmentation: dict[str, Any],
    model_name: str,
) -> tuple[Any, dict[str, list[float]], dict[str, Any]]:
    """Builds ``model_settings.architecture`` with the augmentation layers in front and fits it.

    Args:
        images_train: ``{"images": uint8 (N, S, S, 3), "labels": (N,)}``.
        images_val: The validation bundle, same layout.
        class_names: Sorted class names.
        model_settings: ``scratch.models.<name>``, read as ``ScratchModelSettings``: ``architecture`` (a scratch
            registry name), ``input_size`` (pixels the net sees) and ``options``.
        training_blocks: The shared, ``scratch.training`` and model ``training`` blocks (``collect_training_blocks``).
        augmentation: ``preprocess.augmentation`` settings.
        model_name: The model's name under ``scratch.models``.

    Returns:
        The trained model (a ``keras.Model``, carrying its class names, input size and data fingerprint:
        ``models.metadata``), its per-epoch history and a training summary.
    """
    # Imported here: Keras is not needed to register the pipeline.
    from image_classification.models.augmentation import build_augmentation  # noqa: PLC0415
    from image_classification.models.batch_mixing import batch_mixer  # noqa: PLC0415
    from image_classification.models.metadata import attach_metadata, training_metadata  # noqa: PLC0415
    from image_classification.models.scratch import create_scratch_model  # noqa: PLC0415
    from image_classification.training import train_model  # noqa: PLC0415
    from image_classification.training.precision import mixed_precision  # noqa: PLC0415

    settings = load_settings(ScratchModelSettings, model_settings, f"scratch.models.{model_name}")
    training = training_settings(training_blocks, f"scratch.{model_name}")
    seed = training.seed
    with mixed_precision(training.mixed_precision):  # layers keep the dtype policy they are built with
        model = create_scratch_model(
            settings.architecture_of(model_name),
            input_shape=tuple(images_train["images"].shape[1:]),
            num_classes=len(class_names),
            augmentation=build_augmentation(augmentation, seed=seed),
            seed=seed,
            input_size=settings.input_size,
            **(settings.options or {}),
        )
    namespace = f"scratch.{model_name}"
    model, history, summary = train_model(
        model, images_train, images_val, training_blocks, namespace, class_names=class_names,
        mixing_factory=batch_mixer,
    )
    attach_metadata(model, training_metadata(model, class_names, namespace, summary["data_fingerprint"]))
    return model, history, summary
