"""Error analysis as fastai's ``ClassificationInterpretation``: the most-confused class pairs and the top losses.

Figures are ``matplotlib.figure.Figure`` objects, never pyplot's global state (see ``reporting.figures``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from image_classification.reporting.comparison import best_model_per_strategy

__all__ = [
    "confused_pairs_of_best_models", "image_losses", "most_confused_pairs", "plot_top_losses", "top_loss_indices",
]  # fmt: skip

#: Images in a top-losses grid; class pairs listed per model in the error analysis.
TOP_LOSSES, CONFUSED_PAIRS = 9, 5
ERROR_ANALYSIS_COLUMNS = ["strategy", "model", "true", "predicted", "count"]

# Keeps the loss of an image whose true class got probability 0 finite (as Keras's cross-entropy clips).
_EPSILON = 1e-7
_WRONG_COLOUR = "#c0392b"
_RIGHT_COLOUR = "#1e6b34"


def _checked(probabilities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probabilities, labels = np.asarray(probabilities, dtype=float), np.asarray(labels)
    if probabilities.ndim != 2 or labels.shape != (probabilities.shape[0],):
        raise ValueError(
            f"probabilities must be (N, classes) and labels (N,), got {probabilities.shape} and {labels.shape}."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= probabilities.shape[1]):
        raise ValueError(f"labels range {labels.min()}..{labels.max()}, outside 0..{probabilities.shape[1] - 1}.")
    return probabilities, labels.astype(int)


def most_confused_pairs(
    labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str], top: int = 5
) -> pd.DataFrame:
    """The (true, predicted) class pairs the model confuses most often, like fastai's ``most_confused``.

    Args:
        labels: True class indices (N,).
        predictions: Predicted class indices (N,).
        class_names: Class names; index i names class i.
        top: Most pairs returned.

    Returns:
        Columns ``true``, ``predicted`` (class names) and ``count``: only mistakes (off the diagonal, count > 0),
        most frequent first, ties in order of the true then the predicted name.

    Raises:
        ValueError: Labels and predictions of different lengths, or ``top`` below 0.
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or top < 0:
        raise ValueError(
            f"labels {labels.shape} and predictions {predictions.shape} must match, and top ({top}) be 0 or more."
        )
    # Imported here: scikit-learn is needed by this table only, not to import the reporting library.
    from sklearn.metrics import confusion_matrix  # noqa: PLC0415

    counts = confusion_matrix(labels, predictions, labels=np.arange(len(class_names)))
    np.fill_diagonal(counts, 0)
    true_index, predicted_index = np.nonzero(counts)
    pairs = pd.DataFrame(
        {
            "true": [str(class_names[i]) for i in true_index],
            "predicted": [str(class_names[j]) for j in predicted_index],
            "count": counts[true_index, predicted_index].astype(int),
        }
    )
    pairs = pairs.sort_values(["count", "true", "predicted"], ascending=[False, True, True], kind="stable")
    return pairs.head(top).reset_index(drop=True)


def image_losses(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of every image: ``-log p(true class)``, the probability clipped at 1e-7."""
    probabilities, labels = _checked(probabilities, labels)
    return -np.log(np.clip(probabilities[np.arange(labels.size), labels], _EPSILON, 1.0))


def top_loss_indices(probabilities: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` images with the highest cross-entropy, highest first (ties: the lower index first).

    Args:
        probabilities: Predicted probabilities (N, classes).
        labels: True class indices (N,).
        n: How many; more than N gives all N.

    Raises:
        ValueError: Mismatched shapes, labels out of range, or a negative ``n``.
    """
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}.")
    losses = image_losses(probabilities, labels)
    return np.argsort(-losses, kind="stable")[:n]


def plot_top_losses(  # noqa: PLR0913 - the images, their predictions and how many to show
    images: np.ndarray,
    probabilities: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    n: int = 9,
    title: str = "Top losses",
) -> Figure:
    """A grid of the images with the highest loss, captioned as fastai's ``plot_top_losses`` does.

    Args:
        images: uint8 images (N, H, W, C) the probabilities were predicted for (C = 1 is drawn in grey).
        probabilities: Predicted probabilities (N, classes).
        labels: True class indices (N,).
        class_names: Class names; index i names class i.
        n: Most images shown (fewer when there are fewer images).
        title: Figure title, usually the model namespace.

    Returns:
        A figure with one axes per shown image, highest loss first, each titled
        ``predicted / actual`` over ``loss / probability of the actual class``; mistakes in red.

    Raises:
        ValueError: Images, probabilities and labels of different lengths, or class names not matching.
    """
    probabilities, labels = _checked(probabilities, labels)
    images = np.asarray(images)
    if images.shape[0] != labels.size or probabilities.shape[1] != len(class_names):
        raise ValueError(
            f"{images.shape[0]} images, {labels.size} labels and {probabilities.shape} probabilities for "
            f"{len(class_names)} classes do not belong together."
        )
    chosen = top_loss_indices(probabilities, labels, n)
    losses = image_losses(probabilities, labels)
    predictions = probabilities.argmax(axis=1)
    columns = max(1, math.ceil(math.sqrt(chosen.size)))
    rows = max(1, math.ceil(chosen.size / columns))
    figure = Figure(figsize=(2.4 * columns, 2.7 * rows), layout="constrained")
    for position, index in enumerate(chosen):
        axes = figure.add_subplot(rows, columns, position + 1)
        image = images[index]
        grey = image.ndim == 3 and image.shape[-1] == 1
        axes.imshow(image.squeeze(-1) if grey else image, cmap="gray" if grey else None)
        axes.axis("off")
        predicted, actual = int(predictions[index]), int(labels[index])
        axes.set_title(
            f"{class_names[predicted]} / {class_names[actual]}\n"
            f"{losses[index]:.2f} / {probabilities[index, actual]:.2f}",
            fontsize=8,
            color=_RIGHT_COLOUR if predicted == actual else _WRONG_COLOUR,
        )
    figure.suptitle(f"{title}\nprediction / actual / loss / probability of the actual class")
    return figure


def confused_pairs_of_best_models(evaluations: dict[str, dict], summaries: dict[str, dict],
                                  class_names: list[str]) -> pd.DataFrame:  # fmt: skip
    """The most-confused class pairs of each strategy's best model (chosen on validation accuracy)."""
    tables = []
    for strategy, model in best_model_per_strategy({name: summaries.get(name) or {} for name in evaluations}).items():
        evaluation = evaluations[model]
        pairs = most_confused_pairs(
            np.asarray(evaluation["labels"]), np.asarray(evaluation["predictions"]), class_names, top=CONFUSED_PAIRS
        )
        tables.append(pairs.assign(strategy=strategy, model=model))
    if not tables:
        return pd.DataFrame(columns=ERROR_ANALYSIS_COLUMNS)
    return pd.concat(tables, ignore_index=True)[ERROR_ANALYSIS_COLUMNS]
