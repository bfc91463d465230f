"""The study's pooled report: the comparison and McNemar's tests over every tested image, and the fold table.

The tables are the default report's (``compare_models``, ``compare_strategies``) computed on the pooled predictions,
so a reader finds the same columns with 300 test images instead of 60; the fold table adds each fold's accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from image_classification.data.folds import StudySettings, pooled_test_rows
from image_classification.reporting.comparison import (
    BASELINE_STRATEGY,
    compare_models,
    compare_strategies,
    validation_accuracy,
)
from image_classification.reporting.interpretation import (
    TOP_LOSSES,
    confused_pairs_of_best_models,
    plot_top_losses,
)
from image_classification.reporting.render import render_html, render_markdown
from image_classification.reporting.sections import Bullets, Section, Table, report_sections
from image_classification.reporting.settings import ReportSettings

STUDY_TITLE = "Image classification: the comparison over k folds"


def study_tables(study_pooled: dict[str, Any], config: ReportSettings) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The pooled comparison, the fold table and McNemar's tests on the pooled images.

    Each strategy's best model is the one with the best validation accuracy averaged over the folds; no choice
    reads a test label.
    """
    pooled, summaries = study_pooled["pooled"], study_pooled["summaries"]
    comparison = compare_models(pooled, summaries)
    tests = compare_strategies(pooled, summaries, alpha=ReportSettings.from_config(config).alpha)
    return comparison, study_pooled["folds"], tests


def study_error_analysis(
    study_pooled: dict[str, Any], study_images: dict[str, np.ndarray], study_folds: pd.DataFrame, class_names: list[str]
) -> tuple[pd.DataFrame, Figure]:
    """The class pairs each strategy's best model confuses most over every tested image, and the top losses of the
    model with the best mean validation accuracy (a pretrained or scratch network, not a baseline)."""
    pooled, summaries = study_pooled["pooled"], study_pooled["summaries"]
    table = confused_pairs_of_best_models(pooled, summaries, class_names)
    contenders = sorted(model for model in pooled if not model.startswith(f"{BASELINE_STRATEGY}."))
    best = max(contenders, key=lambda model: validation_accuracy(summaries.get(model)))
    rows = pooled_test_rows(study_folds["fold"].to_numpy())
    images = np.asarray(study_images["images"][rows])  # the test rows in pooled order
    figure = plot_top_losses(
        images, pooled[best]["probabilities"], pooled[best]["labels"], class_names, n=TOP_LOSSES,
        title=f"{best}: top losses over all folds",
    )  # fmt: skip
    return table, figure


def _fold_display(fold_table: pd.DataFrame) -> pd.DataFrame:
    percent = "{:.1%}".format
    return pd.DataFrame(
        {
            "Model": fold_table["model"],
            "Pooled accuracy (95% CI)": [
                f"{percent(row.pooled_accuracy)} ({percent(row.pooled_ci_low)} – {percent(row.pooled_ci_high)})"
                for row in fold_table.itertuples()
            ],
            "Per fold": [" / ".join(percent(float(v)) for v in row.split()) for row in fold_table["fold_accuracies"]],
            "Mean ± sd": [f"{percent(m)} ± {percent(s)}" for m, s in zip(
                fold_table["mean_accuracy"], fold_table["sd_accuracy"].fillna(0.0), strict=True)],
            "Lowest fold": fold_table["min_accuracy"].map(percent),
            "Mean validation accuracy": fold_table["mean_validation_accuracy"].map(
                lambda v: "—" if pd.isna(v) else percent(v)
            ),
        }
    )  # fmt: skip


def _study_sections(  # noqa: PLR0913 - the tables, the settings and the figures
    comparison: pd.DataFrame, fold_table: pd.DataFrame, tests: pd.DataFrame, errors: pd.DataFrame, config: ReportSettings,
    study: Any, figures: dict[str, Figure | bytes] | None = None,
) -> list[Section]:  # fmt: skip
    settings, report = StudySettings.read(study), ReportSettings.from_config(config)
    images = int(fold_table["pooled_images"].iloc[0]) if len(fold_table) else 0
    intro = Bullets([
        f"{settings.folds} stratified folds; every one of the {images} images was tested once, by every model, "
        f"each fold's models trained on the other folds ({settings.val_fraction:.0%} of them held out for "
        "validation). Pooled accuracy counts every tested image; its interval is a bootstrap over them.",
        "The spread between folds (sd) shows how much one test split of this size can move a model's accuracy: a "
        "default run tests on one such split.",
    ])  # fmt: skip
    sections = report_sections(
        comparison, tests, figures=figures, confidence=report.confidence, bootstrap_samples=report.bootstrap_samples,
        error_analysis=errors,
    )  # fmt: skip
    folds = Section("Accuracy per fold", (intro, Table(_fold_display(fold_table), ("Model",))))
    return [sections[0], folds, *sections[1:]]


def render_study_markdown(  # noqa: PLR0913 - one input per catalog entry
    study_comparison: pd.DataFrame, study_fold_table: pd.DataFrame, study_tests: pd.DataFrame,
    study_error_analysis: pd.DataFrame, config: ReportSettings, study: StudySettings,
) -> str:  # fmt: skip
    """The pooled report as Markdown (``data/08_reporting/study/report.md``)."""
    sections = _study_sections(study_comparison, study_fold_table, study_tests, study_error_analysis, config, study)
    return render_markdown(sections, title=STUDY_TITLE)


def render_study_html(  # noqa: PLR0913 - one input per catalog entry
    study_comparison: pd.DataFrame, study_fold_table: pd.DataFrame, study_tests: pd.DataFrame,
    study_error_analysis: pd.DataFrame, config: ReportSettings, study: StudySettings,
    study_comparison_figure: Figure | bytes, study_top_losses_figure: Figure | bytes,
) -> str:  # fmt: skip
    """The pooled report as one HTML page with the figures the study saved (PNG bytes; drawn in memory)."""
    figures = {
        "Pooled test accuracy and macro-F1 of every model": study_comparison_figure,
        "Highest-loss test images of the best model, over all folds": study_top_losses_figure,
    }
    sections = _study_sections(
        study_comparison, study_fold_table, study_tests, study_error_analysis, config, study, figures
    )
    return render_html(sections, title=STUDY_TITLE)
