"""Nodes of the ``baseline`` pipeline: the linear probe on one transfer backbone's cached features."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from image_classification.training.settings import LinearProbeSettings

logger = logging.getLogger(__name__)


def fit_linear_probe(
    features: dict[str, np.ndarray], class_names: list[str], linear_probe: LinearProbeSettings
) -> tuple[Any, dict[str, list[float]], dict[str, Any]]:
    """scikit-learn ``LogisticRegression`` on standardised backbone features, ``C`` chosen by inner cross-validation.

    It learns from the same images as the transfer head (train + validation); ties between equally accurate ``C`` go
    to the smallest, as scikit-learn's ``GridSearchCV`` would.

    Args:
        features: ``transfer.<backbone>.features``: ``train_features``, ``train_labels``, ``val_features``,
            ``val_labels``, ``extraction_seconds``.
        class_names: The split's class names (label index = position).
        linear_probe: ``params:baseline.linear_probe``: the grid of ``C``, the inner folds, the iteration limit, the seed.

    Returns:
        The fitted probe (a scikit-learn ``Pipeline``), the search as its history (``C``, ``cv_accuracy``,
        ``cv_log_loss``) and a training summary shaped like the trained models' (``validation_accuracy`` is the inner
        cross-validated accuracy).
    """
    # Imported here: scikit-learn is not needed to register the pipeline.
    from image_classification.training.linear_probe import tuned_logistic_regression  # noqa: PLC0415

    settings = LinearProbeSettings.read(linear_probe)
    inputs = np.concatenate([features["train_features"], features["val_features"]])
    labels = np.concatenate([features["train_labels"], features["val_labels"]]).astype(np.int64)
    probe, search, fitted = tuned_logistic_regression(inputs, labels, settings, tie_break="smallest_c")
    dimension, classes = int(inputs.shape[1]), len(class_names)
    summary = {
        "strategy": "baseline",
        "train_time_s": fitted["fit_time_s"],
        "epochs_run": None,
        "optimizer": "lbfgs",
        "trainable_params": dimension * classes + classes,
        "total_params": dimension * classes + classes,
        "validation_accuracy": fitted["inner_cv_accuracy"],
        "validation": f"{fitted['inner_folds']}-fold inner cross-validation of train + val",
        "C": fitted["C"],
        "images": int(labels.size),
    }
    logger.info(
        "Linear probe on %d images of %d features: C = %g, inner %d-fold accuracy %.4f, %.1f s.",
        labels.size, dimension, fitted["C"], fitted["inner_folds"], fitted["inner_cv_accuracy"], fitted["fit_time_s"],
    )  # fmt: skip
    return probe, search.as_history(), summary
