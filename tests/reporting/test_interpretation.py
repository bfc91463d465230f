"""Error analysis as fastai's Interpretation: most-confused pairs, top losses and their figure."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from image_classification.reporting.interpretation import (
    image_losses,
    most_confused_pairs,
    plot_top_losses,
    top_loss_indices,
)

CLASSES = ["cat", "dog", "fox"]
# True -> predicted: dog -> cat twice, cat -> dog once, fox -> cat once, fox -> dog once; four right.
LABELS = np.array([0, 0, 1, 1, 1, 2, 2, 2, 0])
PREDICTIONS = np.array([0, 1, 0, 0, 1, 0, 1, 2, 0])
PROBABILITIES = np.array(
    [
        [0.9, 0.05, 0.05],
        [0.3, 0.6, 0.1],
        [0.7, 0.2, 0.1],
        [0.5, 0.4, 0.1],
        [0.1, 0.8, 0.1],
        [0.6, 0.3, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.1, 0.8],
        [0.6, 0.2, 0.2],
    ]
)


def test_most_confused_pairs_count_the_mistakes_most_frequent_first() -> None:
    pairs = most_confused_pairs(LABELS, PREDICTIONS, CLASSES)
    assert list(pairs.columns) == ["true", "predicted", "count"]
    assert pairs.to_dict("records") == [
        {"true": "dog", "predicted": "cat", "count": 2},
        {"true": "cat", "predicted": "dog", "count": 1},  # ties: by the true, then the predicted name
        {"true": "fox", "predicted": "cat", "count": 1},
        {"true": "fox", "predicted": "dog", "count": 1},
    ]
    assert most_confused_pairs(LABELS, PREDICTIONS, CLASSES, top=2)["count"].tolist() == [2, 1]
    assert most_confused_pairs(LABELS, LABELS, CLASSES).empty


def test_most_confused_pairs_refuse_mismatched_arrays() -> None:
    with pytest.raises(ValueError):
        most_confused_pairs(LABELS, PREDICTIONS[:-1], CLASSES)


def test_top_losses_are_the_lowest_true_class_probabilities() -> None:
    np.testing.assert_allclose(image_losses(PROBABILITIES, LABELS)[[0, 6]], [-np.log(0.9), -np.log(0.1)])
    # p(true class): .9 .3 .2 .4 .8 .1 .1 .8 .6 -> 5 and 6 (0.1, a tie: the lower index first), 2, 1, 3
    np.testing.assert_array_equal(top_loss_indices(PROBABILITIES, LABELS, 5), [5, 6, 2, 1, 3])
    assert top_loss_indices(PROBABILITIES, LABELS, 50).size == LABELS.size
    assert np.isfinite(image_losses(np.array([[1.0, 0.0]]), np.array([1]))).all()  # p = 0 is clipped
    with pytest.raises(ValueError):
        top_loss_indices(PROBABILITIES, LABELS[:-1], 3)
    with pytest.raises(ValueError):
        top_loss_indices(PROBABILITIES, np.full(LABELS.size, 3), 3)


def test_the_figure_shows_the_top_losses_with_fastai_captions() -> None:
    images = np.random.default_rng(0).integers(0, 256, (LABELS.size, 8, 8, 3)).astype(np.uint8)
    figure = plot_top_losses(images, PROBABILITIES, LABELS, CLASSES, n=4, title="finetune.mobilenet_v2")
    assert isinstance(figure, Figure) and len(figure.axes) == 4
    assert [axes.get_title() for axes in figure.axes] == [
        "cat / fox\n2.30 / 0.10",
        "dog / fox\n2.30 / 0.10",
        "cat / dog\n1.61 / 0.20",
        "dog / cat\n1.20 / 0.30",
    ]
    assert "finetune.mobilenet_v2" in figure.get_suptitle()
    grey = plot_top_losses(images[..., :1], PROBABILITIES, LABELS, CLASSES, n=20)
    assert len(grey.axes) == LABELS.size
    with pytest.raises(ValueError):
        plot_top_losses(images[:3], PROBABILITIES, LABELS, CLASSES)
