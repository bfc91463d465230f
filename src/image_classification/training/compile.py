"""Compiling a classifier: the optimizer, its learning-rate schedule, the loss and the metrics, in one place."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import keras

from image_classification.training.layerwise import layerwise_optimizer
from image_classification.training.precision import compute_dtypes, needs_loss_scaling
from image_classification.training.settings import TrainingSettings

logger = logging.getLogger(__name__)

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


def learning_rate_schedule(settings: TrainingSettings, steps_per_epoch: int) -> float | Any:
    """The constant rate, or linear warmup then cosine decay over the whole run (``lr_schedule: cosine``).

    Warmup lets the new optimizer's moment estimates settle before the largest steps, so a freshly unfrozen
    backbone is not knocked off its pretrained weights by the first noisy updates.
    """
    if settings.lr_schedule == "constant":
        return settings.learning_rate
    total_steps = max(1, settings.epochs * steps_per_epoch)
    warmup_steps = min(int(round(settings.warmup_epochs * steps_per_epoch)), total_steps - 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else settings.learning_rate,
        decay_steps=total_steps - warmup_steps,
        alpha=settings.min_lr_ratio,
        warmup_target=settings.learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


def compile_model(
    model: keras.Model,
    settings: TrainingSettings,
    steps_per_epoch: int = 1,
    learning_rate_multipliers: Mapping[str, float] | None = None,
) -> keras.Model:
    """Compiles ``model`` for one-hot labels: cross-entropy, accuracy and, over 5 classes, top-5 accuracy.

    Args:
        model: Model whose last layer outputs softmax probabilities; its class count is ``output_shape[-1]``.
        settings: ``optimizer``, ``learning_rate`` and its schedule, ``label_smoothing``.
        steps_per_epoch: Batches per epoch, which a schedule needs to place warmup and decay.
        learning_rate_multipliers: Variable path -> factor on the learning rate (e.g.
            ``models.layer_decay.block_learning_rate_multipliers``); variables not listed get 1. When given, the
            optimizer is the ``training.layerwise`` variant of the configured one; None keeps the plain optimizer.

    Returns:
        The same model, compiled. Layers' ``trainable`` flags take effect here, so compile after changing them.
        A model with float16 layers (``mixed_float16``) gets a ``LossScaleOptimizer``: Keras adds one only when the
        model object itself was built under that policy, which a head taken out of a classifier was not.
    """
    num_classes = int(model.output_shape[-1])
    metrics: list[Any] = ["accuracy"]
    if num_classes > 5:
        metrics.append(keras.metrics.TopKCategoricalAccuracy(k=5, name="top5_accuracy"))
    extra = {"momentum": settings.momentum} if settings.optimizer in ("sgd", "rmsprop") else {}
    rate = learning_rate_schedule(settings, steps_per_epoch)
    if learning_rate_multipliers is None:
        optimizer = OPTIMIZERS[settings.optimizer](learning_rate=rate, **extra)
    else:
        optimizer = layerwise_optimizer(settings.optimizer, learning_rate_multipliers, learning_rate=rate, **extra)
    if needs_loss_scaling(model):
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    _warn_on_precision_mismatch(model, settings)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=settings.label_smoothing),
        metrics=metrics,
    )
    return model


def _warn_on_precision_mismatch(model: keras.Model, settings: TrainingSettings) -> None:
    """A model keeps the precision it was built (or saved) with: say so when the setting asks for another."""
    built_mixed = bool(compute_dtypes(model) & {"float16", "bfloat16"})
    if settings.mixed_precision != built_mixed:
        logger.warning(
            "training.mixed_precision is %s, but %s was built %s; a model keeps the precision it was built with "
            "(fine-tuning keeps the transfer model's): set mixed_precision where the model is built.",
            str(settings.mixed_precision).lower(), model.name,
            "with 16-bit layers" if built_mixed else "in float32",
        )
