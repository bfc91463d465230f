"""Report figures: learning curves, confusion matrix, prediction grid and model comparison.

Figures are built with ``matplotlib.figure.Figure`` rather than ``pyplot``: they are not registered in pyplot's
global figure list, so they need no closing, cannot leak across nodes, and render with the Agg canvas on headless
machines. Kedro's ``MatplotlibDataset`` and ``Figure.savefig`` save them as usual.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

# Above this many classes per-cell numbers become unreadable and are left out of the confusion matrix.
ANNOTATE_MAX_CLASSES = 20
# Above this many classes tick labels overlap even at the smallest font, so they are hidden.
TICK_LABELS_MAX_CLASSES = 150
_WRONG_COLOUR = "#c0392b"
_RIGHT_COLOUR = "#1e6b34"


def _short(name: str, width: int = 22) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _first_key(history: dict, *candidates: str) -> str | None:
    return next((key for key in candidates if history.get(key)), None)


def plot_learning_curves(history: dict, title: str) -> Figure:
    """Training and validation loss (left) and accuracy (right) per epoch.

    Args:
        history: Metric name -> per-epoch values, e.g. ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``.
        title: Figure title, usually the model namespace.

    Returns:
        Figure with two axes; a metric that was not recorded is marked as such instead of failing.
    """
    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    panels = [
        (loss_axes, "Loss", ("loss",), ("val_loss",)),
        (
            accuracy_axes,
            "Accuracy",
            ("accuracy", "sparse_categorical_accuracy"),
            ("val_accuracy", "val_sparse_categorical_accuracy"),
        ),
    ]
    for axes, label, train_keys, val_keys in panels:
        for keys, split in ((train_keys, "train"), (val_keys, "validation")):
            key = _first_key(history, *keys)
            if key is not None:
                values = np.asarray(history[key], dtype=float)
                axes.plot(
                    np.arange(1, values.size + 1), values, marker="o", markersize=3, label=split
                )
        if axes.lines:
            axes.legend()
        else:
            axes.text(
                0.5,
                0.5,
                f"{label.lower()} not recorded",
                ha="center",
                va="center",
                transform=axes.transAxes,
            )
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(label.lower())
        axes.set_title(label)
        axes.grid(alpha=0.3)
    accuracy_axes.set_ylim(0, 1.02)
    figure.suptitle(title)
    return figure


def plot_confusion_matrix(evaluation: dict, class_names: list[str], title: str) -> Figure:
    """Confusion matrix normalised by true class (each row sums to 1), readable up to 100+ classes.

    Args:
        evaluation: Output of ``evaluate_model`` (uses ``labels`` and ``predictions``).
        class_names: Class names; index i names class i.
        title: Figure title, usually the model namespace.

    Returns:
        Figure with one matrix axes and a colour bar; cells carry numbers only up to ``ANNOTATE_MAX_CLASSES``.
    """
    # Imported here: scikit-learn is needed by this figure only, not to import the reporting library.
    from sklearn.metrics import confusion_matrix  # noqa: PLC0415

    n_classes = len(class_names)
    counts = confusion_matrix(
        evaluation["labels"], evaluation["predictions"], labels=np.arange(n_classes)
    )
    row_totals = counts.sum(axis=1, keepdims=True)
    # Classes absent from the test split keep an all-zero row instead of dividing by zero.
    rates = np.divide(
        counts, row_totals, out=np.zeros(counts.shape, dtype=float), where=row_totals > 0
    )

    side = float(np.clip(3.0 + 0.28 * n_classes, 5.0, 30.0))
    figure = Figure(figsize=(side + 1.0, side), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    figure.colorbar(image, ax=axes, shrink=0.8, label="share of the true class")

    font = 9 if n_classes <= ANNOTATE_MAX_CLASSES else (6 if n_classes <= 60 else 4)
    if n_classes <= TICK_LABELS_MAX_CLASSES:
        names = [_short(str(name)) for name in class_names]
        axes.set_xticks(np.arange(n_classes), names, rotation=90, fontsize=font)
        axes.set_yticks(np.arange(n_classes), names, fontsize=font)
    else:
        axes.set_xticks([])
        axes.set_yticks([])
    if n_classes <= ANNOTATE_MAX_CLASSES:
        for (row, column), rate in np.ndenumerate(rates):
            colour = "white" if rate > 0.5 else "black"
            axes.text(
                column, row, f"{rate:.2f}", ha="center", va="center", fontsize=font, color=colour
            )
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(f"{title}\nconfusion matrix, rows normalised by true class")
    return figure


def _evenly_spaced(indices: np.ndarray, count: int) -> np.ndarray:
    if count <= 0:
        return indices[:0]
    return indices[np.linspace(0, indices.size - 1, count).round().astype(int)]


def select_grid_images(labels: np.ndarray, predictions: np.ndarray, n: int) -> np.ndarray:
    """Deterministic choice of up to n test images: half misclassified (if there are), the rest correct.

    Each group is sampled evenly across the test set, so the grid shows errors without hand-picking.
    """
    wrong = np.flatnonzero(predictions != labels)
    right = np.flatnonzero(predictions == labels)
    n = min(n, labels.size)
    n_wrong = min(wrong.size, n // 2)
    n_right = min(right.size, n - n_wrong)
    n_wrong = min(wrong.size, n - n_right)
    return np.sort(np.concatenate([_evenly_spaced(wrong, n_wrong), _evenly_spaced(right, n_right)]))


def plot_prediction_grid(
    evaluation: dict, images_test: dict, class_names: list[str], n: int = 16
) -> Figure:
    """Grid of test images titled with true and predicted class; wrong predictions in red.

    Args:
        evaluation: Output of ``evaluate_model``.
        images_test: ``{"images": uint8 (N, H, W, 3), "labels": (N,)}`` the evaluation was computed on.
        class_names: Class names; index i names class i.
        n: Maximum number of images shown.

    Returns:
        Figure with one axes per shown image.

    Raises:
        ValueError: If ``images_test`` does not hold as many images as the evaluation has predictions.
    """
    images = np.asarray(images_test["images"])
    labels = np.asarray(evaluation["labels"])
    predictions = np.asarray(evaluation["predictions"])
    if images.shape[0] != labels.size:
        raise ValueError(
            f"images_test holds {images.shape[0]} images but the evaluation has {labels.size} predictions; "
            "re-run the report pipeline so both come from the same images_test."
        )
    chosen = select_grid_images(labels, predictions, n)
    columns = max(1, math.ceil(math.sqrt(chosen.size)))
    rows = max(1, math.ceil(chosen.size / columns))
    figure = Figure(figsize=(2.3 * columns, 2.6 * rows), layout="constrained")
    grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
    confidence = np.asarray(evaluation["probabilities"])
    for axes in grid:
        axes.axis("off")
    for axes, index in zip(grid, chosen):
        image = images[index]
        axes.imshow(
            image.squeeze(-1) if image.shape[-1] == 1 else image,
            cmap="gray" if image.shape[-1] == 1 else None,
        )
        is_right = predictions[index] == labels[index]
        axes.set_title(
            f"true: {_short(str(class_names[labels[index]]))}\n"
            f"pred: {_short(str(class_names[predictions[index]]))} ({confidence[index, predictions[index]]:.0%})",
            fontsize=8,
            color=_RIGHT_COLOUR if is_right else _WRONG_COLOUR,
        )
    n_wrong = int(np.sum(predictions[chosen] != labels[chosen]))
    figure.suptitle(
        f"{n_wrong} misclassified (red) and {chosen.size - n_wrong} correct test images"
    )
    return figure


def plot_model_comparison(comparison: pd.DataFrame) -> Figure:
    """Accuracy (with its bootstrap confidence interval) and macro-F1 of every model, in one chart.

    Args:
        comparison: Output of ``compare_models`` (best first; drawn top to bottom in that order).

    Returns:
        Figure with one axes of horizontal grouped bars.
    """
    n_models = len(comparison)
    figure = Figure(figsize=(9, 1.5 + 0.6 * max(n_models, 1)), layout="constrained")
    axes = figure.subplots()
    positions = np.arange(n_models)[::-1].astype(float)
    accuracy = comparison["accuracy"].to_numpy(dtype=float)
    error = np.vstack(
        [
            accuracy - comparison["accuracy_ci_low"].to_numpy(dtype=float),
            comparison["accuracy_ci_high"].to_numpy(dtype=float) - accuracy,
        ]
    )
    height = 0.38
    axes.barh(
        positions + height / 2,
        accuracy,
        height,
        xerr=np.clip(error, 0, None),
        capsize=3,
        label="accuracy (bootstrap CI)",
        color="#2e86c1",
    )
    axes.barh(
        positions - height / 2,
        comparison["macro_f1"].to_numpy(dtype=float),
        height,
        label="macro-F1",
        color="#f39c12",
    )
    axes.set_yticks(positions, comparison["model"].astype(str).tolist())
    axes.set_xlim(0, 1.0)
    axes.set_xlabel("score on the test split")
    axes.grid(axis="x", alpha=0.3)
    figure.legend(loc="outside lower center", ncol=2)
    axes.set_title("Test accuracy and macro-F1 per model")
    return figure
