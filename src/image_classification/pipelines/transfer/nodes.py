"""Transfer learning: a frozen ImageNet backbone with a new head, trained end to end or on cached features."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from image_classification.config import load_settings
from image_classification.models.metadata import attach_metadata, model_metadata, training_metadata
from image_classification.models.settings import TransferModelSettings
from image_classification.pipelines.per_model import training_settings
from image_classification.training.checkpoints import data_fingerprint
from image_classification.training.settings import LinearProbeSettings

logger = logging.getLogger(__name__)

#: The training blocks of one model: shared, ``transfer.training`` and its own (``collect_training_blocks``).
TrainingBlocks = Sequence[dict[str, Any] | None]


def build_transfer_classifier(
    images_train: dict[str, np.ndarray],
    class_names: list[str],
    model_settings: TransferModelSettings,
    augmentation: dict[str, Any],
    training_blocks: TrainingBlocks,
    model_name: str = "<name>",
) -> Any:
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
        The classifier (a ``keras.Model``), carrying ``class_names`` (``models.metadata``) for the training step to
        record.
    """
    # Imported here: Keras is not needed to register the pipeline.
    import keras  # noqa: PLC0415

    from image_classification.models.augmentation import build_augmentation  # noqa: PLC0415
    from image_classification.models.transfer import build_transfer_model  # noqa: PLC0415
    from image_classification.training.precision import mixed_precision  # noqa: PLC0415

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
    classifier: Any,
    train: dict[str, np.ndarray],
    val: dict[str, np.ndarray],
    training_blocks: TrainingBlocks,
    model_name: str,
    fit_on: Any = None,
) -> tuple[Any, dict[str, list[float]], dict[str, Any]]:
    """``train_model``, then the classifier (a ``keras.Model``) stamped with the class names it carries and the data it
    was fit on."""
    # Imported here: Keras is not needed to register the pipeline.
    from image_classification.models.batch_mixing import batch_mixer  # noqa: PLC0415
    from image_classification.training import train_model  # noqa: PLC0415

    namespace = f"transfer.{model_name}"
    built = model_metadata(classifier)
    if built is None:
        raise ValueError(
            f"The classifier of {namespace} carries no class names: build it with build_transfer_classifier and "
            "pass it on as it is (a MemoryDataset with copy_mode: assign; a deep copy drops them)."
        )
    classifier, history, summary = train_model(
        classifier, train, val, training_blocks, namespace, fit_on=fit_on, class_names=built.class_names,
        mixing_factory=batch_mixer,
    )
    metadata = training_metadata(classifier, built.class_names, namespace, summary["data_fingerprint"])
    return attach_metadata(classifier, metadata), history, summary


def extract_backbone_features(
    classifier: Any,
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    training_blocks: TrainingBlocks,
    model_name: str = "<name>",
) -> dict[str, np.ndarray]:
    """Runs the frozen backbone once over train and validation images (the seeds' 'bottleneck features').

    Args:
        classifier: The untrained classifier (a ``keras.Model``); its backbone (with the backbone's preprocessing) is
            run.
        images_train: Training bundle.
        images_val: Validation bundle.
        training_blocks: The model's training blocks; their ``batch_size`` is the extraction's.
        model_name: The model's name under ``transfer.models`` (names its settings in errors).

    Returns:
        ``train_features``, ``train_labels``, ``val_features``, ``val_labels`` and ``extraction_seconds``.
    """
    # Imported here: Keras is not needed to register the pipeline.
    from image_classification.models.transfer import extract_features  # noqa: PLC0415

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
    classifier: Any,
    features: dict[str, np.ndarray],
    training_blocks: TrainingBlocks,
    linear_probe: Any,
    model_settings: TransferModelSettings,
    model_name: str,
) -> tuple[Any, dict[str, list[float]], dict[str, Any]]:
    """Trains the head on cached backbone features (``mode: feature_extraction``), many times faster per epoch.

    The head is a sub-model of ``classifier`` sharing its weights, so the returned classifier predicts from images
    with the head just trained. Augmentation does not apply to cached features. A linear head (``head.fit: lbfgs``,
    the default for ``dense_units: []``) is a logistic regression fitted by L-BFGS on the train and validation
    features, its ``C`` chosen by inner cross-validation (``fit_linear_head``); any other head is trained by Keras
    ``fit`` with early stopping on the validation features.

    Args:
        classifier: The classifier whose head is trained (a ``keras.Model``).
        features: What ``extract_backbone_features`` returned.
        training_blocks: The model's training blocks.
        linear_probe: ``params:baseline.linear_probe``: the grid of ``C`` and the inner folds (a mapping, or the
            ``LinearProbeSettings`` Kedro's validator made of it for the baseline's typed node).
        model_settings: ``transfer.models.<name>`` (its ``head.fit``).
        model_name: The model's name under ``transfer.models``.

    Returns:
        The trained classifier (taking images), its history (per epoch, or per ``C`` of the search) and a training
        summary whose train time includes the feature extraction.
    """
    # Imported here: Keras is not needed to register the pipeline.
    from image_classification.models.heads import head_fit  # noqa: PLC0415
    from image_classification.models.transfer import head_model  # noqa: PLC0415

    if head_fit(load_settings(TransferModelSettings, model_settings, f"transfer.models.{model_name}").head) == "lbfgs":
        probe = LinearProbeSettings.read(linear_probe)
        return fit_linear_head(classifier, features, probe, model_name)
    train = {"images": features["train_features"], "labels": features["train_labels"]}
    val = {"images": features["val_features"], "labels": features["val_labels"]}
    classifier, history, summary = _train_classifier(
        classifier, train, val, training_blocks, model_name, fit_on=head_model(classifier)
    )
    summary["train_time_s"] += float(features["extraction_seconds"])
    return classifier, history, summary


def fit_linear_head(
    classifier: Any, features: dict[str, np.ndarray], settings: LinearProbeSettings, model_name: str
) -> tuple[Any, dict[str, list[float]], dict[str, Any]]:
    """Fits the linear head as the linear probe does and writes it into the head's Dense layer.

    It learns from the train and validation features together (the validation split's only job for a head was to
    end its training; here the inner cross-validation chooses ``C``), so its ``validation_accuracy`` is the
    inner cross-validated accuracy at the chosen ``C``. Ties between equally accurate ``C`` go to the lower
    held-out log loss: fine-tuning continues from these probabilities.

    Returns:
        The classifier (a ``keras.Model``), the search as its history (``C``, ``cv_accuracy``, ``cv_log_loss``) and
        a training summary.
    """
    # Imported here: Keras and scikit-learn are not needed to register the pipeline.
    from image_classification.models.transfer import head_model  # noqa: PLC0415
    from image_classification.training.linear_probe import (  # noqa: PLC0415
        linear_head_weights,
        tuned_logistic_regression,
    )

    namespace = f"transfer.{model_name}"
    built = model_metadata(classifier)
    class_names = built.class_names if built is not None else None
    train = {"images": features["train_features"], "labels": features["train_labels"]}
    val = {"images": features["val_features"], "labels": features["val_labels"]}
    inputs = np.concatenate([train["images"], val["images"]])
    labels = np.concatenate([train["labels"], val["labels"]]).astype(np.int64)
    regression, search, fitted = tuned_logistic_regression(inputs, labels, settings, tie_break="log_loss")
    num_classes = int(classifier.output_shape[-1])
    head_model(classifier).get_layer("predictions").set_weights(list(linear_head_weights(regression, num_classes)))
    fingerprint = data_fingerprint(train, val, class_names=class_names)
    if class_names is not None:
        attach_metadata(classifier, training_metadata(classifier, class_names, namespace, fingerprint))
    summary = {
        "train_time_s": round(fitted["fit_time_s"] + float(features["extraction_seconds"]), 3),
        "epochs_run": None,
        "resumed_at_epoch": 0,
        "data_fingerprint": fingerprint,
        "strategy": "transfer",
        "model_name": model_name,
        "image_size": int(classifier.input_shape[1]),
        "learning_rate": None,
        "optimizer": "lbfgs",
        "lr_schedule": None,
        "trainable_params": int(sum(int(np.prod(w.shape)) for w in head_model(classifier).trainable_weights)),
        "total_params": int(classifier.count_params()),
        "validation_accuracy": fitted["inner_cv_accuracy"],
        "validation": f"{fitted['inner_folds']}-fold inner cross-validation of train + val",
        "C": fitted["C"],
    }
    logger.info(
        "Fitted the linear head of %s by L-BFGS on %d images: C = %g, inner %d-fold accuracy %.4f, %.1f s.",
        namespace, len(labels), fitted["C"], fitted["inner_folds"], fitted["inner_cv_accuracy"],
        fitted["fit_time_s"],
    )  # fmt: skip
    return classifier, search.as_history(), summary


def train_transfer_end_to_end(
    classifier: Any,
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    training_blocks: TrainingBlocks,
    model_name: str,
) -> tuple[Any, dict[str, list[float]], dict[str, Any]]:
    """Trains the head through the frozen backbone on augmented images (``mode: end_to_end``).

    Args:
        classifier: The untrained classifier (a ``keras.Model``: augmentation, preprocessing, frozen backbone, head).
        images_train: Training images, augmented by the model while it trains.
        images_val: Validation images.
        training_blocks: The model's training blocks.
        model_name: The model's name under ``transfer.models``.

    Returns:
        The trained classifier, its per-epoch history and a training summary.
    """
    return _train_classifier(classifier, images_train, images_val, training_blocks, model_name)
