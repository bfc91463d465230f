"""Nodes of the report pipeline.

Per model namespace: ``evaluate_model`` and ``per_class_report`` (plus figure nodes built in ``pipeline.py``).
Across models: the cross-model nodes take every model's datasets as keyword arguments (``**per_model``), built by
``inputs.per_model_inputs`` and regrouped by ``inputs.by_kind``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from image_classification.pipelines.report.inputs import (
    by_kind,
    images_and_labels,
    per_model_inputs,
)
from image_classification.reporting.comparison import (
    compare_models,
    compare_strategies,
)
from image_classification.reporting.figures import (
    plot_model_comparison,
    plot_prediction_grid,
)
from image_classification.reporting.metrics import classification_metrics, per_class_table
from image_classification.reporting.render import render_html, render_markdown
from image_classification.reporting.sections import report_sections
from image_classification.reporting.settings import ReportSettings

logger = logging.getLogger(__name__)

if TYPE_CHECKING:  # only for annotations: importing the pipeline should not start a Keras backend
    import keras

__all__ = [
    "FIGURE_KINDS",
    "compare_models",
    "compare_models_node",
    "compare_strategies",
    "compare_strategies_node",
    "evaluate_model",
    "per_class_report",
    "per_model_inputs",
    "plot_model_comparison",
    "plot_predictions",
    "report_html_node",
    "report_markdown_node",
]


def evaluate_model(
    model: Any, images_test: dict, class_names: list[str], config: ReportSettings
) -> dict:
    """Predict the test images with one model and score the predictions.

    Args:
        model: Trained ``keras.Model`` taking float32 images (0..255) and returning softmax probabilities (typed
            ``Any`` so that Kedro's parameter validator can read the signature without importing Keras).
        images_test: ``{"images": uint8 (N, H, W, 3), "labels": int (N,)}``.
        class_names: Class names; index i names class i.
        config: ``params:report``, read as ``ReportSettings`` (``batch_size``, ``bootstrap_samples``,
            ``confidence``, ``seed``).

    Returns:
        ``{"probabilities": float32 (N, C), "labels": int64 (N,), "predictions": int64 (N,), "metrics": dict,
        "model_file": str | None}`` (``model_file``: the saved model evaluated, which ``log_model_runs`` logs as
        its MLflow model); ``metrics`` holds ``test_images``, ``accuracy``, ``accuracy_ci_low``, ``accuracy_ci_high``,
        ``top5_accuracy`` (None with <= 5 classes), ``macro_f1``, ``log_loss`` and ``inference_images_per_s``.
    """
    # Imported here: the models package loads Keras, which importing the pipeline must not.
    from image_classification.models.inference import predict_proba
    from image_classification.models.metadata import check_evaluation_inputs, model_source

    settings = ReportSettings.from_config(config)
    images, labels = images_and_labels(images_test)
    check_evaluation_inputs(model, class_names, images.shape)  # the model's own class names and input size
    batch_size = settings.batch_size
    # Warm-up: the first call traces/compiles the model, which is not inference speed.
    predict_proba(model, images[:batch_size], batch_size)
    start = time.perf_counter()
    probabilities = predict_proba(model, images, batch_size)
    elapsed = time.perf_counter() - start
    if probabilities.shape[1] != len(class_names):
        raise ValueError(
            f"The model predicts {probabilities.shape[1]} classes but class_names lists {len(class_names)}; "
            "the model was trained on another class list. Retrain it or re-run the split pipeline."
        )

    metrics = classification_metrics(
        probabilities,
        labels,
        bootstrap_samples=settings.bootstrap_samples,
        confidence=settings.confidence,
        seed=settings.seed,
    )
    metrics["inference_images_per_s"] = float(images.shape[0] / max(elapsed, 1e-9))
    metrics["tta_accuracy"] = _tta_accuracy(model, images, labels, probabilities, settings)
    logger.info(
        "Test accuracy %.3f (%.0f%% CI %.3f-%.3f), macro-F1 %.3f on %d test images.",
        metrics["accuracy"],
        100 * settings.confidence,
        metrics["accuracy_ci_low"],
        metrics["accuracy_ci_high"],
        metrics["macro_f1"],
        images.shape[0],
    )
    return {
        "probabilities": probabilities,
        "labels": labels,
        "predictions": probabilities.argmax(axis=1).astype(np.int64),
        "metrics": metrics,
        "model_file": model_source(model),
    }


def _tta_accuracy(
    model: keras.Model, images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, settings: ReportSettings
) -> float | None:
    """Accuracy of the predictions averaged over the images and their mirror images (``report.tta: flip``)."""
    from image_classification.models.inference import predict_proba

    if settings.tta != "flip":
        return None
    mirrored = predict_proba(model, images[:, :, ::-1], settings.batch_size)  # width is axis 2 of (N, H, W, 3)
    averaged = (probabilities + mirrored) / 2
    accuracy = float((averaged.argmax(axis=1) == labels).mean())
    logger.info("Test accuracy with flip test-time augmentation %.3f (without %.3f).", accuracy,
                float((probabilities.argmax(axis=1) == labels).mean()))  # fmt: skip
    return accuracy


def per_class_report(evaluation: dict, class_names: list[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support per class (columns ``class, precision, recall, f1, support``)."""
    return per_class_table(evaluation["labels"], evaluation["predictions"], class_names)


def plot_predictions(
    evaluation: dict, images_test: dict, class_names: list[str], config: ReportSettings
) -> Figure:
    """Grid of ``report.grid_images`` test images with true and predicted class, wrong ones in red."""
    return plot_prediction_grid(
        evaluation, images_test, class_names, n=ReportSettings.from_config(config).grid_images
    )


def _text_settings(config: ReportSettings) -> dict[str, Any]:
    """``params:report`` values the report's text quotes."""
    settings = ReportSettings.from_config(config)
    return {
        "confidence": settings.confidence,
        "bootstrap_samples": settings.bootstrap_samples,
    }


def compare_models_node(**per_model: dict) -> pd.DataFrame:
    """``compare_models`` on ``per_model_inputs(names, "evaluation", "training_summary")``."""
    evaluations, summaries = by_kind(per_model, "evaluation", "training_summary")
    comparison = compare_models(evaluations, summaries)
    best = comparison.iloc[0]
    logger.info(
        "Compared %d models; most accurate: %s (%.3f).",
        len(comparison),
        best["model"],
        best["accuracy"],
    )
    return comparison


def compare_strategies_node(config: ReportSettings, **per_model: dict) -> pd.DataFrame:
    """``compare_strategies`` on ``config`` (``params:report``) and ``per_model_inputs(names, "evaluation",
    "training_summary")`` (the summaries' validation accuracy picks each strategy's best model)."""
    evaluations, summaries = by_kind(per_model, "evaluation", "training_summary")
    return compare_strategies(evaluations, summaries, alpha=ReportSettings.from_config(config).alpha)


def report_markdown_node(
    comparison: pd.DataFrame,
    strategy_tests: pd.DataFrame,
    config: ReportSettings,
    error_analysis: pd.DataFrame | None = None,
    **per_model: pd.DataFrame,
) -> str:
    """The Markdown report; ``per_model``: ``per_model_inputs(names, "classification_report")``."""
    (reports,) = by_kind(per_model, "classification_report")
    return render_markdown(
        report_sections(comparison, strategy_tests, reports, error_analysis=error_analysis, **_text_settings(config))
    )


#: The figures drawn for each model, by their dataset kind, with their captions in the HTML report.
FIGURE_KINDS = {
    "learning_curves_figure": "learning curves",
    "confusion_matrix_figure": "confusion matrix",
    "predictions_figure": "test predictions",
    "top_losses_figure": "top losses",
}


def report_html_node(
    comparison: pd.DataFrame,
    strategy_tests: pd.DataFrame,
    config: ReportSettings,
    comparison_figure: Figure | bytes,
    gradcam: dict | None = None,
    gradcam_figure: Figure | bytes | None = None,
    error_analysis: pd.DataFrame | None = None,
    **per_model: Any,
) -> str:
    """The HTML report, embedding the figures the run saved (PNG bytes; drawn figures in an in-memory run).

    ``gradcam``: ``explain_best_model``'s output, for the caption of ``gradcam_figure``. ``per_model``:
    ``per_model_inputs(names, "classification_report", *FIGURE_KINDS)``.
    """
    reports, *per_kind = by_kind(per_model, "classification_report", *FIGURE_KINDS)
    figures = {"Test accuracy and macro-F1 of every model": comparison_figure}
    for model in comparison["model"]:
        captions_and_figures = zip(FIGURE_KINDS.values(), per_kind, strict=True)
        figures.update({f"{model}: {caption}": figure[model] for caption, figure in captions_and_figures})
    if gradcam is not None and gradcam_figure is not None and len(gradcam["indices"]):
        figures[f"{gradcam['model']}: Grad-CAM of right and wrong test predictions"] = gradcam_figure
    sections = report_sections(
        comparison, strategy_tests, reports, figures, error_analysis=error_analysis, **_text_settings(config)
    )
    return render_html(sections)
