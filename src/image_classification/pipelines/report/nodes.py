"""Nodes of the report pipeline.

Per model namespace: ``evaluate_model`` and ``per_class_report`` (plus figure nodes built in ``pipeline.py``).
Across models: Kedro passes a node a fixed list of datasets, but the number of models is only known when the
pipeline is built. So each cross-model node comes from a factory that takes the ordered model namespaces, e.g.
``compare_models_node(["scratch.basenet", "transfer.mobilenet_v2"])``; the returned function receives its
datasets positionally, grouped by kind in that model order (all evaluations, then all summaries, ...), and
rebuilds ``{namespace: value}`` dicts before calling the plain function from ``image_classification.reporting``.
``model_datasets`` builds the matching input list, so the order is defined in one place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from image_classification.reporting.comparison import (
    compare_models,
    compare_strategies,
    test_metrics_for_mlflow,
)
from image_classification.reporting.figures import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_model_comparison,
    plot_prediction_grid,
)
from image_classification.reporting.metrics import classification_metrics, per_class_table
from image_classification.reporting.render import render_html, render_markdown

logger = logging.getLogger(__name__)

if TYPE_CHECKING:  # only for annotations: importing the pipeline should not start a Keras backend
    import keras

__all__ = [
    "compare_models",
    "compare_models_node",
    "compare_strategies",
    "compare_strategies_node",
    "evaluate_model",
    "model_datasets",
    "per_class_report",
    "plot_model_comparison",
    "plot_predictions",
    "report_html_node",
    "report_markdown_node",
    "test_metrics_for_mlflow",
]

# Batches cast to float32 per predict call: bounds memory on large test splits (one 224 px float32 image is 0.6 MB).
_BATCHES_PER_CHUNK = 8


def _test_arrays(images_test: dict) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(images_test, dict) or not {"images", "labels"} <= set(images_test):
        raise ValueError(
            "images_test must be the preprocess pipeline's dict {'images': uint8 (N, H, W, 3), 'labels': (N,)}; "
            "re-run `kedro run --pipeline preprocess`."
        )
    images, labels = (
        np.asarray(images_test["images"]),
        np.asarray(images_test["labels"]).astype(np.int64),
    )
    if images.shape[0] == 0:
        raise ValueError(
            "images_test is empty: the test split has no images. Check parameters_split.yml."
        )
    return images, labels


def _predict(model: keras.Model, images: np.ndarray, batch_size: int) -> np.ndarray:
    chunk = batch_size * _BATCHES_PER_CHUNK
    outputs = [
        model.predict(
            images[start : start + chunk].astype("float32"), batch_size=batch_size, verbose=0
        )
        for start in range(0, images.shape[0], chunk)
    ]
    return np.concatenate(outputs).astype(np.float32)


def evaluate_model(
    model: keras.Model, images_test: dict, class_names: list[str], config: dict
) -> dict:
    """Predict the test images with one model and score the predictions.

    Args:
        model: Trained Keras model taking float32 images (0..255) and returning softmax probabilities.
        images_test: ``{"images": uint8 (N, H, W, 3), "labels": int (N,)}``.
        class_names: Class names; index i names class i.
        config: ``params:report``: ``batch_size`` (64), ``bootstrap_samples`` (1000), ``confidence`` (0.95),
            ``seed`` (0).

    Returns:
        ``{"probabilities": float32 (N, C), "labels": int64 (N,), "predictions": int64 (N,), "metrics": dict}``;
        ``metrics`` holds ``test_images``, ``accuracy``, ``accuracy_ci_low``, ``accuracy_ci_high``,
        ``top5_accuracy`` (None with <= 5 classes), ``macro_f1``, ``log_loss`` and ``inference_images_per_s``.
    """
    images, labels = _test_arrays(images_test)
    batch_size = int(config.get("batch_size", 64))
    if batch_size < 1:
        raise ValueError(
            f"report.batch_size must be >= 1, got {batch_size} (conf/base/parameters_report.yml)."
        )
    # Warm-up: the first call traces/compiles the model, which is not inference speed.
    _predict(model, images[:batch_size], batch_size)
    start = time.perf_counter()
    probabilities = _predict(model, images, batch_size)
    elapsed = time.perf_counter() - start
    if probabilities.shape[1] != len(class_names):
        raise ValueError(
            f"The model predicts {probabilities.shape[1]} classes but class_names lists {len(class_names)}; "
            "the model was trained on another class list. Retrain it or re-run the split pipeline."
        )

    metrics = classification_metrics(
        probabilities,
        labels,
        bootstrap_samples=int(config.get("bootstrap_samples", 1000)),
        confidence=float(config.get("confidence", 0.95)),
        seed=int(config.get("seed", 0)),
    )
    metrics["inference_images_per_s"] = float(images.shape[0] / max(elapsed, 1e-9))
    logger.info(
        "Test accuracy %.3f (%.0f%% CI %.3f-%.3f), macro-F1 %.3f on %d test images.",
        metrics["accuracy"], 100 * float(config.get("confidence", 0.95)), metrics["accuracy_ci_low"],
        metrics["accuracy_ci_high"], metrics["macro_f1"], images.shape[0],
    )
    return {
        "probabilities": probabilities,
        "labels": labels,
        "predictions": probabilities.argmax(axis=1).astype(np.int64),
        "metrics": metrics,
    }


def per_class_report(evaluation: dict, class_names: list[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support per class (columns ``class, precision, recall, f1, support``)."""
    return per_class_table(evaluation["labels"], evaluation["predictions"], class_names)


def plot_predictions(
    evaluation: dict, images_test: dict, class_names: list[str], config: dict
) -> Figure:
    """Grid of ``report.grid_images`` test images with true and predicted class, wrong ones in red."""
    return plot_prediction_grid(
        evaluation, images_test, class_names, n=int(config.get("grid_images", 16))
    )


def model_datasets(model_names: list[str], *kinds: str) -> list[str]:
    """Catalog names ``<namespace>.<kind>``, grouped by kind, models in the given order.

    ``model_datasets(["a.x", "b.y"], "evaluation", "history")`` ->
    ``["a.x.evaluation", "b.y.evaluation", "a.x.history", "b.y.history"]``.
    """
    return [f"{model}.{kind}" for kind in kinds for model in model_names]


def _by_model(model_names: list[str], values: tuple, kinds: int) -> list[dict[str, Any]]:
    """Inverse of ``model_datasets``: the loaded values as one ``{namespace: value}`` dict per kind."""
    count = len(model_names)
    if len(values) != kinds * count:
        raise ValueError(
            f"Expected {kinds * count} per-model inputs for {model_names}, got {len(values)}."
        )
    return [dict(zip(model_names, values[k * count : (k + 1) * count])) for k in range(kinds)]


def _for_models(function: Callable, model_names: list[str]) -> Callable:
    """``function`` with the ordered model namespaces bound as its first argument.

    A named ``functools.partial`` of a module-level function rather than a closure: it stays picklable (for
    Kedro's ParallelRunner) and Kedro's signature check sees only the dataset arguments.
    """
    bound = partial(function, list(model_names))
    bound.__name__ = bound.__qualname__ = function.__name__.lstrip("_")
    return bound


def _compare_models_of(model_names: list[str], *evaluations_then_summaries: dict) -> pd.DataFrame:
    evaluations, summaries = _by_model(model_names, evaluations_then_summaries, 2)
    comparison = compare_models(evaluations, summaries)
    best = comparison.iloc[0]
    logger.info("Compared %d models; most accurate: %s (%.3f).", len(comparison), best["model"], best["accuracy"])
    return comparison


def compare_models_node(model_names: list[str]) -> Callable[..., pd.DataFrame]:
    """Node function for ``compare_models``; inputs: ``model_datasets(names, "evaluation", "training_summary")``."""
    return _for_models(_compare_models_of, model_names)


def _compare_strategies_of(
    model_names: list[str], config: dict, *evaluations: dict
) -> pd.DataFrame:
    (by_model,) = _by_model(model_names, evaluations, 1)
    return compare_strategies(by_model, alpha=float(config.get("alpha", 0.05)))


def compare_strategies_node(model_names: list[str]) -> Callable[..., pd.DataFrame]:
    """Node function for ``compare_strategies``; inputs: ``params:report``, then
    ``model_datasets(names, "evaluation")``."""
    return _for_models(_compare_strategies_of, model_names)


def _render_markdown_of(
    model_names: list[str],
    comparison: pd.DataFrame,
    strategy_tests: pd.DataFrame,
    config: dict,
    *classification_reports: pd.DataFrame,
) -> str:
    (reports,) = _by_model(model_names, classification_reports, 1)
    return render_markdown(
        comparison,
        strategy_tests,
        reports,
        confidence=float(config.get("confidence", 0.95)),
        bootstrap_samples=int(config.get("bootstrap_samples", 1000)),
    )


def report_markdown_node(model_names: list[str]) -> Callable[..., str]:
    """Node function for ``render_markdown``; inputs: ``comparison``, ``strategy_tests``, ``params:report``,
    then ``model_datasets(names, "classification_report")``."""
    return _for_models(_render_markdown_of, model_names)


def report_figures(
    comparison: pd.DataFrame,
    evaluations: dict[str, dict],
    histories: dict[str, dict],
    *,
    images_test: dict,
    class_names: list[str],
    grid_images: int = 16,
) -> dict[str, Figure]:
    """Every report figure, captioned, in reading order: comparison, then per model curves, matrix, predictions."""
    figures = {"Test accuracy and macro-F1 of every model": plot_model_comparison(comparison)}
    for model in comparison["model"]:
        figures[f"{model}: learning curves"] = plot_learning_curves(histories[model], model)
        figures[f"{model}: confusion matrix"] = plot_confusion_matrix(
            evaluations[model], class_names, model
        )
        figures[f"{model}: test predictions"] = plot_prediction_grid(
            evaluations[model], images_test, class_names, n=grid_images
        )
    return figures


def _render_html_of(  # noqa: PLR0917 - Kedro passes node inputs positionally
    model_names: list[str],
    comparison: pd.DataFrame,
    strategy_tests: pd.DataFrame,
    images_test: dict,
    class_names: list[str],
    config: dict,
    *per_model: Any,
) -> str:
    evaluations, histories, reports = _by_model(model_names, per_model, 3)
    figures = report_figures(
        comparison,
        evaluations,
        histories,
        images_test=images_test,
        class_names=class_names,
        grid_images=int(config.get("grid_images", 16)),
    )
    return render_html(
        comparison,
        strategy_tests,
        figures,
        per_class_reports=reports,
        confidence=float(config.get("confidence", 0.95)),
        bootstrap_samples=int(config.get("bootstrap_samples", 1000)),
    )


def report_html_node(model_names: list[str]) -> Callable[..., str]:
    """Node function for ``render_html``; inputs: ``comparison``, ``strategy_tests``, ``images_test``,
    ``class_names``, ``params:report``, then ``model_datasets(names, "evaluation", "history",
    "classification_report")``.

    Figure datasets are write-only, so the figures are drawn again here from the evaluations and histories.
    """
    return _for_models(_render_html_of, model_names)
