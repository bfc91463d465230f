"""Report nodes that explain a prediction: Grad-CAM heatmaps of the best transfer or fine-tuned model."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from image_classification.pipelines.report.inputs import by_kind, images_and_labels
from image_classification.reporting.comparison import validation_accuracy
from image_classification.reporting.settings import ReportSettings

logger = logging.getLogger(__name__)

#: Strategies whose models have a pretrained backbone to explain.
EXPLAINED_STRATEGIES = ("transfer", "finetune")


def explain_best_model(config: ReportSettings, images_test: dict, class_names: list[str], **per_model: Any) -> dict:
    """Grad-CAM heatmaps of the best transfer or fine-tuned model on right and wrong test predictions.

    The model is chosen by its best validation accuracy, not its test accuracy, so the test images it is shown on
    did not pick it.

    Args:
        config: ``params:report`` (``gradcam_images``).
        images_test: ``{"images": uint8 (N, H, W, 3), "labels": (N,)}``.
        class_names: Class names by index.
        **per_model: ``per_model_inputs(models, "model", "training_summary", "evaluation")`` of the transfer and
            fine-tuned models.

    Returns:
        ``{"model", "indices", "heatmaps", "labels", "predictions"}``: the explained model's namespace, the test
        images shown, their heatmaps (n, h, w) in [0, 1], true and predicted classes. Empty arrays with
        ``gradcam_images: 0``.
    """
    # Imported here: Keras and matplotlib.pyplot are not needed to register the pipeline.
    from image_classification.models.gradcam import gradcam_heatmaps  # noqa: PLC0415
    from image_classification.reporting.gradcam_figure import pick_examples  # noqa: PLC0415

    settings = ReportSettings.from_config(config)
    models, summaries, evaluations = by_kind(per_model, "model", "training_summary", "evaluation")
    best = max(sorted(models), key=lambda name: validation_accuracy(summaries[name]))
    images, _ = images_and_labels(images_test)
    evaluation = evaluations[best]
    labels, predictions = np.asarray(evaluation["labels"]), np.asarray(evaluation["predictions"])
    indices = pick_examples(labels, predictions, per_kind=math.ceil(settings.gradcam_images / 2))
    indices = indices[: settings.gradcam_images]
    if len(indices) == 0:  # gradcam_images: 0
        heatmaps = np.zeros((0, 0, 0), dtype=np.float32)
    else:
        heatmaps = gradcam_heatmaps(models[best], np.asarray(images[indices]), predictions[indices])
    logger.info("Grad-CAM of %s (best validation accuracy) on %d test images.", best, len(indices))
    return {
        "model": best,
        "indices": indices,
        "heatmaps": heatmaps,
        "labels": labels[indices],
        "predictions": predictions[indices],
    }


def plot_gradcam(gradcam: dict, images_test: dict, class_names: list[str]) -> Figure:
    """The Grad-CAM figure of ``explain_best_model``'s output."""
    # Imported here: matplotlib.pyplot is not needed to register the pipeline.
    from image_classification.reporting.gradcam_figure import gradcam_figure  # noqa: PLC0415

    images, _ = images_and_labels(images_test)
    return gradcam_figure(
        np.asarray(images[gradcam["indices"]]),
        gradcam["heatmaps"],
        gradcam["labels"],
        gradcam["predictions"],
        class_names,
        title=f"Grad-CAM: {gradcam['model']} (best validation accuracy); heatmap of the predicted class",
    )
