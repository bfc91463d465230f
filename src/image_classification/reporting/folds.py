"""Pooling the folds of a k-fold study: per-fold accuracies, their mean and spread, and every tested image at once.

Each fold's models are scored on that fold's test images; the folds' test sets are disjoint, so the predictions of
one model over all folds, concatenated in fold order, cover every image once. Two models' pooled predictions are
paired image by image (the same fold order), which is what McNemar's test needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from image_classification.reporting.metrics import classification_metrics

FOLD_TABLE_COLUMNS = [
    "model", "strategy", "folds", "fold_accuracies", "mean_accuracy", "sd_accuracy", "min_accuracy",
    "pooled_images", "pooled_accuracy", "pooled_ci_low", "pooled_ci_high", "mean_validation_accuracy",
]  # fmt: skip


def pool_evaluations(
    evaluations_by_fold: Mapping[int, Mapping[str, dict]],
    *,
    bootstrap_samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict]:
    """One evaluation per model over every fold's test images, in the format of ``evaluate_model``.

    Args:
        evaluations_by_fold: Fold number -> model namespace -> that fold's evaluation.
        bootstrap_samples: Resamples behind the pooled accuracy's interval.
        confidence: Coverage of that interval.
        seed: Seed of the bootstrap.

    Returns:
        Model namespace -> ``{"probabilities", "labels", "predictions", "metrics"}`` pooled in fold order.

    Raises:
        ValueError: A model is missing from a fold, or two models of a fold were scored on different labels.
    """
    folds = sorted(evaluations_by_fold)
    models = sorted({model for fold in folds for model in evaluations_by_fold[fold]})
    missing = [(fold, model) for fold in folds for model in models if model not in evaluations_by_fold[fold]]
    if missing:
        raise ValueError(f"Every model must be evaluated in every fold; missing (fold, model): {missing}.")
    pooled = {}
    for model in models:
        parts = [evaluations_by_fold[fold][model] for fold in folds]
        probabilities = np.concatenate([np.asarray(part["probabilities"]) for part in parts])
        labels = np.concatenate([np.asarray(part["labels"]) for part in parts]).astype(np.int64)
        metrics = classification_metrics(
            probabilities, labels, bootstrap_samples=bootstrap_samples, confidence=confidence, seed=seed
        )
        tta = [part["metrics"].get("tta_accuracy") for part in parts]
        sizes = [len(np.asarray(part["labels"])) for part in parts]
        metrics["tta_accuracy"] = (
            None if any(value is None for value in tta) else float(np.average(tta, weights=sizes))
        )
        metrics["inference_images_per_s"] = float(np.mean([part["metrics"]["inference_images_per_s"] for part in parts]))
        pooled[model] = {
            "probabilities": probabilities,
            "labels": labels,
            "predictions": probabilities.argmax(axis=1).astype(np.int64),
            "metrics": metrics,
        }
    reference = next(iter(pooled.values()))["labels"] if pooled else None
    for model, evaluation in pooled.items():
        if not np.array_equal(evaluation["labels"], reference):
            raise ValueError(f"{model} was scored on other test labels than the other models of the same folds.")
    return pooled


def mean_summaries(summaries_by_fold: Mapping[int, Mapping[str, dict]]) -> dict[str, dict]:
    """One training summary per model: numeric values averaged over the folds, others from the first fold.

    ``validation_accuracy`` is then the mean validation accuracy over the folds: what picks a strategy's best model
    in the pooled comparison, as on a single split.
    """
    folds = sorted(summaries_by_fold)
    merged: dict[str, dict] = {}
    for model in sorted({model for fold in folds for model in summaries_by_fold[fold]}):
        parts = [summaries_by_fold[fold][model] for fold in folds if model in summaries_by_fold[fold]]
        summary = dict(parts[0])
        for key, value in parts[0].items():
            values = [part.get(key) for part in parts]
            if all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
                summary[key] = float(np.mean(values))
        merged[model] = summary
    return merged


def fold_table(
    evaluations_by_fold: Mapping[int, Mapping[str, dict]],
    pooled: Mapping[str, dict],
    summaries: Mapping[str, dict] | None = None,
) -> pd.DataFrame:
    """Per model: each fold's test accuracy, their mean, standard deviation and minimum, and the pooled accuracy
    with its interval; the most accurate (pooled) first.

    Args:
        evaluations_by_fold: Fold number -> model namespace -> evaluation.
        pooled: ``pool_evaluations``'s output.
        summaries: Model -> ``mean_summaries`` output (for the mean validation accuracy), optional.
    """
    rows = []
    for model, evaluation in pooled.items():
        accuracies = [float(evaluations_by_fold[fold][model]["metrics"]["accuracy"]) for fold in sorted(evaluations_by_fold)]
        metrics = evaluation["metrics"]
        rows.append({
            "model": model,
            "strategy": model.split(".", 1)[0],
            "folds": len(accuracies),
            "fold_accuracies": " ".join(f"{value:.4f}" for value in accuracies),
            "mean_accuracy": float(np.mean(accuracies)),
            "sd_accuracy": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else float("nan"),
            "min_accuracy": float(np.min(accuracies)),
            "pooled_images": int(metrics["test_images"]),
            "pooled_accuracy": float(metrics["accuracy"]),
            "pooled_ci_low": float(metrics["accuracy_ci_low"]),
            "pooled_ci_high": float(metrics["accuracy_ci_high"]),
            "mean_validation_accuracy": (summaries or {}).get(model, {}).get("validation_accuracy", float("nan")),
        })  # fmt: skip
    table = pd.DataFrame(rows, columns=FOLD_TABLE_COLUMNS)
    return table.sort_values(["pooled_accuracy", "model"], ascending=[False, True], kind="mergesort").reset_index(
        drop=True
    )
