"""Transfer learning: a frozen ImageNet backbone with a new head, trained end to end or on cached features."""

from __future__ import annotations

import logging
import time
from typing import Any

import keras
import numpy as np

from image_classification.models.augmentation import build_augmentation
from image_classification.models.transfer import build_transfer_model, extract_features, head_model
from image_classification.training import merge_training_config, train_model

logger = logging.getLogger(__name__)

def build_transfer_classifier(
    images_train: dict[str, np.ndarray],
    class_names: list[str],
    model_settings: dict[str, Any],
    augmentation: dict[str, Any],
    shared_training: dict[str, Any],
    strategy_training: dict[str, Any],
) -> keras.Model:
    """The untrained classifier: augmentation, the backbone's preprocessing, the frozen backbone, pooling, head.

    Args:
        images_train: Training bundle (its image shape sets the model's input).
        class_names: Sorted class names.
        model_settings: ``backbone``, ``weights`` (``imagenet``, null or a file path), ``pooling``, ``head``, and
            optionally ``seed`` and ``training`` overrides.
        augmentation: ``preprocess.augmentation`` settings.
        shared_training: The shared ``training`` settings; with the strategy's, they give the seed.
        strategy_training: ``transfer.training``.
    """
    training = merge_training_config(shared_training, strategy_training, model_settings.get("training"))
    seed = model_settings.get("seed", training.get("seed"))
    if seed is not None:  # the head's initial weights, whatever ran before in this process
        keras.utils.set_random_seed(int(seed))
    return build_transfer_model(
        model_settings["backbone"],
        input_shape=tuple(images_train["images"].shape[1:]),
        num_classes=len(class_names),
        weights=model_settings.get("weights", "imagenet"),
        head_config=model_settings.get("head") or {},
        pooling=model_settings.get("pooling", "avg"),
        augmentation=build_augmentation(augmentation, seed=seed),
    )


def extract_backbone_features(
    classifier: keras.Model,
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    shared_training: dict[str, Any],
    strategy_training: dict[str, Any],
) -> dict[str, np.ndarray]:
    """Runs the frozen backbone once over train and validation images (the seeds' 'bottleneck features').

    Returns:
        ``train_features``, ``train_labels``, ``val_features``, ``val_labels`` and ``extraction_seconds``.
    """
    started = time.perf_counter()
    batch_size = int(merge_training_config(shared_training, strategy_training).get("batch_size") or 32)
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


def train_head_on_features(  # noqa: PLR0913 - one input per catalog entry
    classifier: keras.Model,
    features: dict[str, np.ndarray],
    model_settings: dict[str, Any],
    shared_training: dict[str, Any],
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
    train = {"images": features["train_features"], "labels": features["train_labels"]}
    val = {"images": features["val_features"], "labels": features["val_labels"]}
    blocks = [shared_training, strategy_training, model_settings.get("training")]
    classifier, history, summary = train_model(
        classifier, train, val, blocks, f"transfer.{model_name}", fit_on=head_model(classifier)
    )
    summary["train_time_s"] += float(features["extraction_seconds"])
    return classifier, history, summary


def train_transfer_end_to_end(  # noqa: PLR0913 - one input per catalog entry
    classifier: keras.Model,
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    model_settings: dict[str, Any],
    shared_training: dict[str, Any],
    strategy_training: dict[str, Any],
    model_name: str,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, Any]]:
    """Trains the head through the frozen backbone on augmented images (``mode: end_to_end``).

    Returns:
        The trained classifier, its per-epoch history and a training summary.
    """
    blocks = [shared_training, strategy_training, model_settings.get("training")]
    return train_model(classifier, images_train, images_val, blocks, f"transfer.{model_name}")
