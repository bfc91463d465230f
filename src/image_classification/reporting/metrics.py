"""Classification metrics computed from predicted probabilities and true labels (pure numpy / scikit-learn).

scikit-learn is imported by the functions that use it, so importing this module (the report pipeline's wiring)
does not load it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from image_classification.reporting.statistics import bootstrap_accuracy_ci

TOP_K = 5
# Softmax rows sum to 1 up to float rounding; anything further off is logits or a broken head.
_PROBABILITY_SUM_TOLERANCE = 1e-3


def check_probabilities(probabilities: np.ndarray, labels: np.ndarray, n_classes: int) -> None:
    """Fail early, with the fix, when predictions and labels cannot be scored together.

    Args:
        probabilities: Model output, shape (N, C).
        labels: True class indices, shape (N,).
        n_classes: Number of classes (``len(class_names)``).

    Raises:
        ValueError: On a shape mismatch, labels outside ``range(n_classes)`` or rows that are not probabilities.
    """
    if probabilities.ndim != 2 or probabilities.shape[1] != n_classes:
        raise ValueError(
            f"The model outputs shape {probabilities.shape[1:]} per image but class_names lists {n_classes} "
            "classes; the model was trained for a different class list. Retrain it or re-run the split pipeline."
        )
    if labels.shape != (probabilities.shape[0],):
        raise ValueError(
            f"images_test holds {labels.shape[0] if labels.ndim else 0} labels for {probabilities.shape[0]} images; "
            "re-run the preprocess pipeline to rebuild images_test."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"images_test labels range over {labels.min()}..{labels.max()} but there are only {n_classes} "
            "class names; class_names and images_test come from different runs of the split pipeline."
        )
    row_sums = probabilities.sum(axis=1)
    if probabilities.size and (
        probabilities.min() < 0 or np.abs(row_sums - 1.0).max() > _PROBABILITY_SUM_TOLERANCE
    ):
        raise ValueError(
            "The model's outputs are not probabilities (rows must be >= 0 and sum to 1); its last layer must use a "
            "softmax activation."
        )


def top_k_accuracy(probabilities: np.ndarray, labels: np.ndarray, k: int = TOP_K) -> float | None:
    """Share of images whose true class is among the k most probable, or None when k >= number of classes.

    With k or fewer classes every image is trivially right, so the number would only mislead.
    """
    from sklearn.metrics import top_k_accuracy_score  # noqa: PLC0415

    n_classes = probabilities.shape[1]
    if n_classes <= k:
        return None
    return float(top_k_accuracy_score(labels, probabilities, k=k, labels=np.arange(n_classes)))


def classification_metrics(
    probabilities: np.ndarray,
    labels: np.ndarray,
    *,
    bootstrap_samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float | int | None]:
    """Summary metrics of one model on the test images.

    Args:
        probabilities: Predicted class probabilities, shape (N, C).
        labels: True class indices, shape (N,).
        bootstrap_samples: Resamples for the accuracy confidence interval.
        confidence: Coverage of the accuracy interval.
        seed: Seed of the bootstrap.

    Returns:
        Plain-python dict: ``test_images``, ``accuracy``, ``accuracy_ci_low``, ``accuracy_ci_high``,
        ``top5_accuracy`` (None with 5 classes or fewer), ``macro_f1`` (over classes present in the labels or
        predictions) and ``log_loss`` (over all C classes).
    """
    from sklearn.metrics import f1_score, log_loss  # noqa: PLC0415

    probabilities = np.asarray(probabilities, dtype=np.float32)
    labels = np.asarray(labels).astype(np.int64)
    n_classes = probabilities.shape[1] if probabilities.ndim == 2 else 0
    check_probabilities(probabilities, labels, n_classes)
    if labels.size == 0:
        raise ValueError(
            "The test split is empty, so there is nothing to evaluate; check parameters_split.yml."
        )
    predictions = probabilities.argmax(axis=1)
    correct = predictions == labels
    ci_low, ci_high = bootstrap_accuracy_ci(
        correct, n_samples=bootstrap_samples, confidence=confidence, seed=seed
    )
    return {
        "test_images": int(labels.size),
        "accuracy": float(correct.mean()),
        "accuracy_ci_low": ci_low,
        "accuracy_ci_high": ci_high,
        "top5_accuracy": top_k_accuracy(probabilities, labels, TOP_K),
        "macro_f1": float(f1_score(labels, predictions, average="macro", zero_division=0)),
        # float32 input: scikit-learn checks that rows sum to 1 with a float32 tolerance.
        "log_loss": float(log_loss(labels, probabilities, labels=np.arange(n_classes))),
    }


def per_class_table(
    labels: np.ndarray, predictions: np.ndarray, class_names: list[str]
) -> pd.DataFrame:
    """Precision, recall, F1 and support of every class (the rows of scikit-learn's classification report).

    Args:
        labels: True class indices, shape (N,).
        predictions: Predicted class indices, shape (N,).
        class_names: Class names; index i names class i.

    Returns:
        DataFrame with columns ``class``, ``precision``, ``recall``, ``f1``, ``support``, one row per class in
        class-index order; classes never predicted or never present score 0 instead of raising.
    """
    from sklearn.metrics import precision_recall_fscore_support  # noqa: PLC0415

    precision, recall, f1, support = precision_recall_fscore_support(
        np.asarray(labels),
        np.asarray(predictions),
        labels=np.arange(len(class_names)),
        average=None,
        zero_division=0,
    )
    return pd.DataFrame(
        {
            "class": [str(name) for name in class_names],
            "precision": precision.astype(float),
            "recall": recall.astype(float),
            "f1": f1.astype(float),
            "support": support.astype(int),
        }
    )
