"""Transfer learning: a frozen ImageNet backbone with a new head, trained end to end or on cached features."""

from __future__ import annotations

import logging
import time
from typing import Any

import keras
import numpy as np

from image_classification.models.augmentation import build_augmentation
from image_classification.models.transfer import build_transfer_model, extract_features, head_model
from image_classification.strategy import checkpoint_dir, training_settings
from image_classification.training import compile_model, fit_model

logger = logging.getLogger(__name__)

def build_transfer_classifier(
    images_train: dict[str, np.ndarray],
    class_names: list[str],
    model_settings: dict[str, Any],
    augmentation: dict[str, Any],
) -> keras.Model:
    """The untrained classifier: augmentation, the backbone's preprocessing, the frozen backbone, pooling, head.

    Args:
        images_train: Training bundle (its image shape sets the model's input).
        class_names: Sorted class names.
        model_settings: ``backbone``, ``weights`` (``imagenet``, null or a file path), ``pooling``, ``head``.
        augmentation: ``preprocess.augmentation`` settings.
    """
    return build_transfer_model(
        model_settings["backbone"],
        input_shape=tuple(images_train["images"].shape[1:]),
        num_classes=len(class_names),
        weights=model_settings.get("weights", "imagenet"),
        head_config=model_settings.get("head") or {},
        pooling=model_settings.get("pooling", "avg"),
        augmentation=build_augmentation(augmentation, seed=model_settings.get("seed")),
    )


def extract_backbone_features(
    classifier: keras.Model,
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    strategy_training: dict[str, Any],
) -> dict[str, np.ndarray]:
    """Runs the frozen backbone once over train and validation images (the seeds' 'bottleneck features').

    Returns:
        ``train_features``, ``train_labels``, ``val_features``, ``val_labels`` and ``extraction_seconds``.
    """
    started = time.perf_counter()
    batch_size = int(strategy_training.get("batch_size", 32))
    features = {
        "train_features": extract_features(classifier, images_train["images"], batch_size),
        "train_labels": images_train["labels"],
        "val_features": extract_features(classifier, images_val["images"], batch_size),
        "val_labels": images_val["labels"],
    }
    features["extraction_seconds"] = np.array(time.perf_counter() - started)
    logger.info(
        "Extracted %s train and %s val features in %.1f s.",
        features["train_features"].shape, features["val_features"].shape, float(features["extraction_seconds"]),
    )
    return features


def _compile_args(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "learning_rate": settings["learning_rate"],
        "label_smoothing": settings.get("label_smoothing", 0.0),
        "optimizer": settings.get("optimizer", "adam"),
    }


def _describe(summary: dict[str, Any], classifier: keras.Model, model_name: str, image_size: int) -> dict[str, Any]:
    # Counted on the whole classifier: in feature-extraction mode the fit loop only saw the head.
    summary.update(
        strategy="transfer",
        model_name=model_name,
        image_size=image_size,
        trainable_params=int(sum(np.prod(weight.shape) for weight in classifier.trainable_weights)),
        total_params=int(classifier.count_params()),
    )
    return summary


def train_head_on_features(
    classifier: keras.Model,
    features: dict[str, np.ndarray],
    model_settings: dict[str, Any],
    strategy_training: dict[str, Any],
    model_name: str,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, Any]]:
    """Trains the head on cached backbone features (``mode: feature_extraction``), many times faster per epoch.

    The head is a sub-model of ``classifier`` sharing its weights, so the returned classifier predicts from images
    with the head just trained. Augmentation does not apply to cached features.

    Returns:
        The trained classifier (taking images), its per-epoch history and a training summary whose train time
        includes the feature extraction.
    """
    settings = training_settings(strategy_training, model_settings)
    head = compile_model(head_model(classifier), **_compile_args(settings))
    train = {"images": features["train_features"], "labels": features["train_labels"]}
    val = {"images": features["val_features"], "labels": features["val_labels"]}
    _, history, summary = fit_model(head, train, val, settings, checkpoint_dir(settings, f"transfer.{model_name}"))
    summary["train_time_s"] += float(features["extraction_seconds"])
    compile_model(classifier, **_compile_args(settings))  # the saved classifier evaluates with the same loss/metrics
    image_size = int(classifier.input_shape[1])
    return classifier, history, _describe(summary, classifier, model_name, image_size)


def train_transfer_end_to_end(  # noqa: PLR0913 - one input per catalog entry
    classifier: keras.Model,
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    model_settings: dict[str, Any],
    strategy_training: dict[str, Any],
    model_name: str,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, Any]]:
    """Trains the head through the frozen backbone on augmented images (``mode: end_to_end``).

    Returns:
        The trained classifier, its per-epoch history and a training summary.
    """
    settings = training_settings(strategy_training, model_settings)
    compile_model(classifier, **_compile_args(settings))
    classifier, history, summary = fit_model(
        classifier, images_train, images_val, settings, checkpoint_dir(settings, f"transfer.{model_name}")
    )
    return classifier, history, _describe(summary, classifier, model_name, int(images_train["images"].shape[1]))
