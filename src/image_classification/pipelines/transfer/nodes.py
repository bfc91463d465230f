"""Transfer learning: a frozen ImageNet backbone with a new head, trained end to end or on cached features."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from image_classification.config import load_settings
from image_classification.models.augmentation import build_augmentation
from image_classification.models.metadata import attach_metadata, model_metadata, training_metadata
from image_classification.models.settings import TransferModelSettings
from image_classification.models.transfer import build_transfer_model, extract_features, head_model
from image_classification.pipelines.per_model import training_settings
from image_classification.training import train_model
from image_classification.training.precision import mixed_precision

logger = logging.getLogger(__name__)

#: The training blocks of one model: shared, ``transfer.training`` and its own (``collect_training_blocks``).
TrainingBlocks = Sequence[dict[str, Any] | None]


def build_transfer_classifier(
    images_train: dict[str, np.ndarray],
    class_names: list[str],
    model_settings: dict[str, Any],
    augmentation: dict[str, Any],
    training_blocks: TrainingBlocks,
    model_name: str = "<name>",
) -> keras.Model:
    """The untrained classifier: augmentation, the backbone's preprocessing, the frozen backbone, pooling, head.

    Args:
        images_train: Training bundle (its image shape sets the model's input).
        class_names: Sorted class names.
        model_settings: ``transfer.models.<name>``, read as ``TransferModelSettings``: ``backbone``, ``weights``
            (``imagenet``, null or a file path), ``pooling``, ``head``, and optionally ``seed``.
        augmentation: ``preprocess.augmentation`` settings.
        training_blocks: The model's training blocks; their ``seed`` unless ``model_settings`` sets one.
        model_name: The model's name under ``transfer.models`` (names its settings in errors).

    Returns:
        The classifier, carrying ``class_names`` (``models.metadata``) for the training step to record.
    """
    settings = load_settings(TransferModelSettings, model_settings, f"transfer.models.{model_name}")
    training = training_settings(training_blocks, f"transfer.{model_name}")
    seed = settings.seed if settings.seed is not None else training.seed
    if seed is not None:  # the head's initial weights, whatever ran before in this process
        keras.utils.set_random_seed(int(seed))
    with mixed_precision(training.mixed_precision):  # layers keep the dtype policy they are built with
        classifier = build_transfer_model(
            settings.backbone,
            input_shape=tuple(images_train["images"].shape[1:]),
            num_classes=len(class_names),
            weights=settings.weights,
            head_config=settings.head or {},
            pooling=settings.pooling,
            augmentation=build_augmentation(augmentation, seed=seed),
        )
    return attach_metadata(classifier, training_metadata(classifier, class_names, f"transfer.{model_name}"))


def _train_classifier(
    classifier: keras.Model,
    train: dict[str, np.ndarray],
    val: dict[str, np.ndarray],
    training_blocks: TrainingBlocks,
    model_name: str,
    fit_on: keras.Model | None = None,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, Any]]:
    """``train_model``, then the classifier stamped with the class names it carries and the data it was fit on."""
    namespace = f"transfer.{model_name}"
    built = model_metadata(classifier)
    if built is None:
        raise ValueError(
            f"The classifier of {namespace} carries no class names: build it with build_transfer_classifier and "
            "pass it on as it is (a MemoryDataset with copy_mode: assign; a deep copy drops them)."
        )
    classifier, history, summary = train_model(
        classifier, train, val, training_blocks, namespace, fit_on=fit_on, class_names=built.class_names
    )
    metadata = training_metadata(classifier, built.class_names, namespace, summary["data_fingerprint"])
    return attach_metadata(classifier, metadata), history, summary


def extract_backbone_features(
    classifier: keras.Model,
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    training_blocks: TrainingBlocks,
    model_name: str = "<name>",
) -> dict[str, np.ndarray]:
    """Runs the frozen backbone once over train and validation images (the seeds' 'bottleneck features').

    Args:
        classifier: The untrained classifier; its backbone (with the backbone's preprocessing) is run.
        images_train: Training bundle.
        images_val: Validation bundle.
        training_blocks: The model's training blocks; their ``batch_size`` is the extraction's.
        model_name: The model's name under ``transfer.models`` (names its settings in errors).

    Returns:
        ``train_features``, ``train_labels``, ``val_features``, ``val_labels`` and ``extraction_seconds``.
    """
    started = time.perf_counter()
    batch_size = training_settings(training_blocks, f"transfer.{model_name}").batch_size
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


def train_head_on_features(
    classifier: keras.Model,
    features: dict[str, np.ndarray],
    training_blocks: TrainingBlocks,
    model_name: str,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, Any]]:
    """Trains the head on cached backbone features (``mode: feature_extraction``), many times faster per epoch.

    The head is a sub-model of ``classifier`` sharing its weights, so the returned classifier predicts from images
    with the head just trained. Augmentation does not apply to cached features.

    Args:
        classifier: The classifier whose head is trained.
        features: What ``extract_backbone_features`` returned.
        training_blocks: The model's training blocks.
        model_name: The model's name under ``transfer.models``.

    Returns:
        The trained classifier (taking images), its per-epoch history and a training summary whose train time
        includes the feature extraction.
    """
    train = {"images": features["train_features"], "labels": features["train_labels"]}
    val = {"images": features["val_features"], "labels": features["val_labels"]}
    classifier, history, summary = _train_classifier(
        classifier, train, val, training_blocks, model_name, fit_on=head_model(classifier)
    )
    summary["train_time_s"] += float(features["extraction_seconds"])
    return classifier, history, summary


def train_transfer_end_to_end(
    classifier: keras.Model,
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    training_blocks: TrainingBlocks,
    model_name: str,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, Any]]:
    """Trains the head through the frozen backbone on augmented images (``mode: end_to_end``).

    Args:
        classifier: The untrained classifier (augmentation, preprocessing, frozen backbone, head).
        images_train: Training images, augmented by the model while it trains.
        images_val: Validation images.
        training_blocks: The model's training blocks.
        model_name: The model's name under ``transfer.models``.

    Returns:
        The trained classifier, its per-epoch history and a training summary.
    """
    return _train_classifier(classifier, images_train, images_val, training_blocks, model_name)
