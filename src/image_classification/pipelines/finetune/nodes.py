"""Fine-tuning: unfreeze the top of a trained transfer model's backbone and train on at a low learning rate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from image_classification.config import load_settings
from image_classification.models.metadata import (
    attach_metadata,
    check_model_classes,
    training_metadata,
)
from image_classification.models.settings import FinetuneModelSettings, TransferModelSettings
from image_classification.training.settings import LinearProbeSettings


def fine_tune_model(  # noqa: PLR0913 - one input per catalog entry
    transfer_model: Any,
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    class_names: list[str],
    model_settings: FinetuneModelSettings,
    transfer_settings: TransferModelSettings,
    training_blocks: Sequence[dict[str, Any] | None],
    transfer_features: dict[str, np.ndarray] | None = None,
    linear_probe: Any = None,
    *,
    model_name: str,
) -> tuple[Any, dict[str, list[float]], dict[str, Any]]:
    """Starts from the transfer model of the same name, unfreezes the top of its backbone and trains on.

    The transfer model's augmentation layers come along, so fine-tuning sees augmented images; its BatchNorm
    layers stay frozen (``unfreeze_model``). A linear head fitted by L-BFGS learned from the validation images too,
    so fine-tuning first refits it on the training split's cached features alone (``C`` chosen again by inner
    cross-validation): the validation split that picks fine-tuning's best epoch stays unseen.

    Args:
        transfer_model: The trained ``transfer.<name>.model`` (a ``keras.Model``), as loaded from the catalog: a
            fresh copy, which is unfrozen and trained in place.
        images_train: Training bundle.
        images_val: Validation bundle.
        class_names: The class list the bundles are labelled with; the transfer model must have been trained on it.
        model_settings: ``finetune.models.<name>``: ``unfreeze_from`` (a layer name or a number of top layers) or
            ``unfreeze_blocks`` (a number of top blocks), and ``layer_decay`` (discriminative learning rates over
            the backbone's blocks).
        transfer_settings: ``transfer.models.<name>`` (its backbone gives the default unfreeze point).
        training_blocks: The shared, ``finetune.training`` (low learning rate, warmup and cosine decay) and model
            ``training`` blocks (``collect_training_blocks``).
        transfer_features: ``transfer.<name>.features`` (feature-extraction mode), to refit a linear head on.
        linear_probe: ``params:baseline.linear_probe``: the grid and folds of that refit.
        model_name: The model's name under ``finetune.models``.

    Returns:
        The fine-tuned model (a ``keras.Model``, carrying its class names: ``models.metadata``), its per-epoch
        history and a training summary.

    Raises:
        ValueError: The transfer model was trained on other classes (another split or data set).
    """
    # Imported here: Keras is not needed to register the pipeline.
    from image_classification.models.batch_mixing import batch_mixer  # noqa: PLC0415
    from image_classification.models.heads import head_fit  # noqa: PLC0415
    from image_classification.models.layer_decay import block_learning_rate_multipliers  # noqa: PLC0415
    from image_classification.models.transfer import unfreeze_model, unfreeze_point  # noqa: PLC0415
    from image_classification.training import train_model  # noqa: PLC0415

    namespace = f"finetune.{model_name}"
    check_model_classes(
        transfer_model, class_names, "the data to fine-tune on",
        f"Train transfer.{model_name} on this data first (kedro run --pipelines transfer)",
    )
    settings = load_settings(FinetuneModelSettings, model_settings, f"finetune.models.{model_name}")
    backbone = load_settings(TransferModelSettings, transfer_settings, f"transfer.models.{model_name}").backbone
    start = unfreeze_point(backbone, settings.unfreeze_from, settings.unfreeze_blocks)
    head = load_settings(TransferModelSettings, transfer_settings, f"transfer.models.{model_name}").head
    if transfer_features is not None and head_fit(head) == "lbfgs":
        refit_linear_head_on_training_split(transfer_model, transfer_features, LinearProbeSettings.read(linear_probe))
    start_accuracy = _validation_accuracy(transfer_model, images_val)
    model = unfreeze_model(transfer_model, start)
    multipliers = (
        None if settings.layer_decay is None else block_learning_rate_multipliers(model, settings.layer_decay, backbone)
    )
    model, history, summary = train_model(
        model, images_train, images_val, training_blocks, namespace, class_names=class_names,
        learning_rate_multipliers=multipliers, mixing_factory=batch_mixer,
    )  # fmt: skip
    summary["unfreeze_from"] = start
    # Where fine-tuning started from: its first epochs should not fall far below it (a wrecked start).
    summary["start_validation_accuracy"] = start_accuracy
    summary["layer_decay"] = settings.layer_decay
    attach_metadata(model, training_metadata(model, class_names, namespace, summary["data_fingerprint"]))
    return model, history, summary


def _validation_accuracy(model: Any, images_val: dict[str, np.ndarray]) -> float:
    """Accuracy of ``model`` on the validation bundle, as Keras's ``val_accuracy`` counts it."""
    from image_classification.models.inference import predict_proba  # noqa: PLC0415 - Keras, at run time only

    predicted = predict_proba(model, images_val["images"]).argmax(axis=1)
    return float(np.mean(predicted == np.asarray(images_val["labels"])))


def refit_linear_head_on_training_split(
    transfer_model: Any, features: dict[str, np.ndarray], settings: LinearProbeSettings
) -> float:
    """Writes into the head of ``transfer_model`` (a ``keras.Model``) the logistic regression of the training split's
    features alone; returns its ``C``."""
    # Imported here: scikit-learn is not needed to register the pipeline.
    from image_classification.training.linear_probe import (  # noqa: PLC0415
        linear_head_weights,
        tuned_logistic_regression,
    )

    regression, _, fitted = tuned_logistic_regression(
        features["train_features"], features["train_labels"], settings, tie_break="log_loss"
    )
    head = transfer_model.get_layer("head").get_layer("predictions")
    head.set_weights(list(linear_head_weights(regression, int(transfer_model.output_shape[-1]))))
    return fitted["C"]
