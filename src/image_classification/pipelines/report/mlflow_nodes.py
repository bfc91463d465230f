"""Nodes of the report pipeline that feed each model's MLflow child run (logged by ``tracking.log_model_runs``): its
metrics under the same names for every model, the test split's fingerprint and what its servable MLflow model needs."""

from __future__ import annotations

import hashlib
import math

import numpy as np

from image_classification.config import load_settings
from image_classification.data.settings import PreprocessSettings
from image_classification.models.predict_settings import PredictSettings
from image_classification.pipelines.report.inputs import images_and_labels

#: ``evaluate_model`` metric -> the name every model's MLflow child run gives it, so the Compare view lines them up.
_RUN_METRICS = {
    "accuracy": "test_accuracy",
    "macro_f1": "test_macro_f1",
    "top5_accuracy": "test_top5_accuracy",
    "log_loss": "test_log_loss",
    "inference_images_per_s": "images_per_s",
    "tta_accuracy": "test_accuracy_tta",  # with report.tta: flip
}


def model_test_metrics(evaluation: dict, training_summary: dict) -> dict[str, float]:
    """The metrics one model's MLflow child run shows, under the same names for every model.

    Returns:
        ``test_accuracy``, ``test_macro_f1``, ``test_top5_accuracy``, ``test_log_loss``, ``images_per_s`` (test
        inference speed), ``train_time_s`` and ``validation_accuracy``; a missing or NaN value (top-5 with 5 classes or fewer) is left out.
    """
    values = {name: evaluation["metrics"].get(key) for key, name in _RUN_METRICS.items()}
    values["train_time_s"] = training_summary.get("train_time_s")
    values["validation_accuracy"] = training_summary.get("validation_accuracy")  # what chooses the champion
    return {name: float(value) for name, value in values.items() if value is not None and math.isfinite(value)}


def test_split_fingerprint(images_test: dict, class_names: list[str]) -> str:
    """A short hash of the test images, labels and class names: equal only for the same test split.

    Child runs and registered models carry it, so accuracies are compared only between models scored on the same
    images (``project/mlflow_registry.py``).
    """
    images, labels = images_and_labels(images_test)
    digest = hashlib.sha256()
    for part in (np.ascontiguousarray(images), np.ascontiguousarray(labels), "\n".join(class_names).encode()):
        # The bytes in place (a memory-mapped split is read from disk, never copied whole into memory).
        digest.update(part.reshape(-1).view(np.uint8).data if isinstance(part, np.ndarray) else part)
    return digest.hexdigest()[:16]


test_split_fingerprint.__test__ = False  # a node named test_*: not a pytest test where it is imported


def serving_spec_node(
    class_names: list[str], images_test: dict, preprocess: PreprocessSettings, predict: PredictSettings
) -> dict:
    """What every model's MLflow pyfunc needs besides its Keras file (``models.serving.ServingSpec`` as a dict)."""
    from image_classification.models.serving import serving_spec  # noqa: PLC0415 - loads MLflow

    size_and_method = load_settings(PreprocessSettings, preprocess, "preprocess")
    top_k = load_settings(PredictSettings, predict, "predict").top_k
    spec = serving_spec(class_names, images_test, size_and_method.image_size, size_and_method.resize_method, top_k)
    return spec.as_dict()

