"""Report nodes of the error analysis (fastai's ``Interpretation``): top losses per model, and the class pairs the
best model of each strategy confuses most."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from image_classification.pipelines.report.inputs import by_kind, images_and_labels
from image_classification.reporting.interpretation import (
    TOP_LOSSES,
    confused_pairs_of_best_models,
    plot_top_losses,
)


def plot_model_top_losses(evaluation: dict, images_test: dict, class_names: list[str], title: str = "") -> Figure:
    """The test images ``evaluation``'s model got most wrong (highest cross-entropy), fastai's ``plot_top_losses``."""
    images, _ = images_and_labels(images_test)
    return plot_top_losses(
        images, evaluation["probabilities"], evaluation["labels"], class_names, n=TOP_LOSSES,
        title=f"{title}: top losses" if title else "Top losses",
    )  # fmt: skip


def error_analysis_node(class_names: list[str], **per_model: Any) -> pd.DataFrame:
    """``confused_pairs_of_best_models`` on ``per_model_inputs(names, "evaluation", "training_summary")``."""
    evaluations, summaries = by_kind(per_model, "evaluation", "training_summary")
    return confused_pairs_of_best_models(evaluations, summaries, class_names)
