"""Report figures: the right axes, readable at many classes, deterministic choice of images."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from image_classification.reporting.figures import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_model_comparison,
    plot_prediction_grid,
    select_grid_images,
)

WRONG_RED = (0.7529411764705882, 0.2235294117647059, 0.16862745098039217)


def _evaluation(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> dict:
    probabilities = np.full((labels.size, n_classes), 0.1 / (n_classes - 1), dtype=np.float32)
    probabilities[np.arange(labels.size), predictions] = 0.9
    return {"labels": labels, "predictions": predictions, "probabilities": probabilities}


def test_learning_curves_have_loss_and_accuracy_panels_with_train_and_validation():
    history = {
        "loss": [1.0, 0.6, 0.4],
        "accuracy": [0.5, 0.7, 0.8],
        "val_loss": [1.1, 0.8, 0.7],
        "val_accuracy": [0.4, 0.6, 0.7],
        "learning_rate": [1e-3] * 3,
    }

    figure = plot_learning_curves(history, "scratch.basenet")

    assert isinstance(figure, Figure)
    loss_axes, accuracy_axes = figure.axes
    assert loss_axes.get_title() == "Loss" and accuracy_axes.get_title() == "Accuracy"
    assert [line.get_label() for line in loss_axes.lines] == ["train", "validation"]
    np.testing.assert_allclose(accuracy_axes.lines[1].get_ydata(), [0.4, 0.6, 0.7])
    np.testing.assert_array_equal(accuracy_axes.lines[0].get_xdata(), [1, 2, 3])


def test_learning_curves_survive_a_history_without_validation():
    figure = plot_learning_curves({"loss": [1.0, 0.5]}, "scratch.basenet")

    assert len(figure.axes[0].lines) == 1
    assert not figure.axes[1].lines and "not recorded" in figure.axes[1].texts[0].get_text()


def test_confusion_matrix_is_normalised_by_true_class_and_annotated_for_few_classes():
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    predictions = np.array([0, 0, 0, 1, 1, 1, 0, 2])

    figure = plot_confusion_matrix(
        _evaluation(labels, predictions, 3), ["a", "b", "c"], "scratch.basenet"
    )

    matrix_axes = figure.axes[0]
    rates = matrix_axes.images[0].get_array()
    np.testing.assert_allclose(rates, [[0.75, 0.25, 0], [0, 1, 0], [0.5, 0, 0.5]])
    assert len(matrix_axes.texts) == 9
    assert len(figure.axes) == 2  # matrix and colour bar


def test_confusion_matrix_with_sixty_classes_drops_cell_numbers_and_grows():
    n_classes = 60
    labels = np.arange(n_classes).repeat(2)
    evaluation = _evaluation(labels, np.roll(labels, 1), n_classes)

    figure = plot_confusion_matrix(
        evaluation, [f"class_{i}" for i in range(n_classes)], "transfer.b"
    )

    matrix_axes = figure.axes[0]
    assert not matrix_axes.texts
    assert len(matrix_axes.get_xticklabels()) == n_classes
    assert matrix_axes.get_xticklabels()[0].get_fontsize() < 8
    assert figure.get_size_inches()[1] > 15


def test_prediction_grid_shows_wrong_predictions_in_red_and_is_deterministic(
    images_test, class_names
):
    labels = images_test["labels"]
    predictions = labels.copy()
    predictions[[1, 12, 25]] = (labels[[1, 12, 25]] + 1) % 3
    evaluation = _evaluation(labels, predictions, 3)

    figure = plot_prediction_grid(evaluation, images_test, class_names, n=8)

    shown = [axes for axes in figure.axes if axes.images]
    assert len(shown) == 8
    red_titles = [axes for axes in shown if axes.title.get_color() == "#c0392b"]
    assert len(red_titles) == 3  # all three errors fit in half of the grid
    assert "true: green" in red_titles[1].get_title() and "pred: red" in red_titles[1].get_title()
    np.testing.assert_array_equal(
        select_grid_images(labels, predictions, 8), select_grid_images(labels, predictions, 8)
    )
    assert set(select_grid_images(labels, predictions, 8)) >= {1, 12, 25}


def test_model_comparison_draws_accuracy_with_error_bars_and_macro_f1_for_every_model():
    comparison = pd.DataFrame(
        {
            "model": ["transfer.b", "scratch.a"],
            "accuracy": [0.9, 0.6],
            "accuracy_ci_low": [0.85, 0.5],
            "accuracy_ci_high": [0.94, 0.7],
            "macro_f1": [0.88, 0.55],
        }
    )

    figure = plot_model_comparison(comparison)

    (axes,) = figure.axes
    assert len(axes.patches) == 4  # two bars per model
    assert [label.get_text() for label in axes.get_yticklabels()] == ["transfer.b", "scratch.a"]
    accuracy_bars, f1_bars = [c for c in axes.containers if isinstance(c, BarContainer)]
    assert accuracy_bars.errorbar is not None and f1_bars.errorbar is None


def test_grad_cam_examples_are_half_right_half_wrong_and_spread_over_the_test_set():
    from image_classification.reporting.gradcam_figure import gradcam_figure, pick_examples

    true = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    predicted = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])  # wrong: rows 6 and 7 only
    picked = pick_examples(true, predicted, per_kind=3)
    assert picked.tolist() == [0, 4, 9, 6, 7]  # 3 right, spread from first to last; both wrong ones
    images = np.zeros((5, 8, 8, 3), dtype=np.uint8)
    figure = gradcam_figure(images, np.ones((5, 2, 2)), true[picked], predicted[picked], ["a", "b"], "title")
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert titles[-1] == "predicted a\ntrue b" and len(titles) == 5
