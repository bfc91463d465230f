"""Report nodes of the linear-probe baselines: test-split evaluation in the format of ``evaluate_model``."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from image_classification.pipelines.report.inputs import images_and_labels
from image_classification.reporting.metrics import classification_metrics
from image_classification.reporting.settings import ReportSettings

logger = logging.getLogger(__name__)


def evaluate_linear_probe(
    probe: Any, transfer_model: Any, images_test: dict, class_names: list[str], config: ReportSettings
) -> dict:
    """Scores a linear probe on the test split, through the frozen backbone of the transfer model it probes.

    Args:
        probe: ``baseline.linear_probe.<backbone>.probe`` (a scikit-learn ``Pipeline``).
        transfer_model: ``transfer.<backbone>.model`` (a Keras model); only its frozen backbone and pooling run,
            which are the ones the cached features came from.
        images_test: ``{"images": uint8 (N, H, W, 3), "labels": int (N,)}``.
        class_names: Class names; index i names class i.
        config: ``params:report``.

    Returns:
        ``{"probabilities", "labels", "predictions", "metrics"}`` as ``evaluate_model`` gives them (no flip TTA:
        the probe has no image input of its own to mirror).
    """
    from image_classification.models.transfer import extract_features  # noqa: PLC0415 - loads Keras

    settings = ReportSettings.from_config(config)
    images, labels = images_and_labels(images_test)
    started = time.perf_counter()
    features = extract_features(transfer_model, np.asarray(images), settings.batch_size)
    known = probe.predict_proba(features)
    elapsed = time.perf_counter() - started
    probabilities = np.zeros((len(labels), len(class_names)), dtype=np.float32)
    probabilities[:, probe.classes_.astype(int)] = known
    metrics = classification_metrics(
        probabilities, labels, bootstrap_samples=settings.bootstrap_samples, confidence=settings.confidence,
        seed=settings.seed,
    )  # fmt: skip
    metrics["inference_images_per_s"] = float(len(labels) / max(elapsed, 1e-9))
    metrics["tta_accuracy"] = None
    logger.info("Linear probe test accuracy %.3f on %d test images.", metrics["accuracy"], len(labels))
    return {
        "probabilities": probabilities,
        "labels": labels,
        "predictions": probabilities.argmax(axis=1).astype(np.int64),
        "metrics": metrics,
    }
