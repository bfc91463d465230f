"""What the comparative report says, independent of its format: a list of sections of tables, bullets and figures.

``report_sections`` builds the list once; ``render.render_markdown`` and ``render.render_html`` only format it.
Every text here is plain (not escaped): escaping belongs to the renderer of each format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

REPORT_TITLE = "Image classification: model comparison"
_SMALL_TEST_SET = 200  # below this, a few images swing accuracy by whole points; the report warns


@dataclass(frozen=True)
class Bullets:
    """A bulleted list; an item that is a list holds the sub-points of the item before it."""

    items: list[str | list[str]]


@dataclass(frozen=True)
class Table:
    """A table of display strings; ``left_aligned`` columns are left-aligned where the format can say so."""

    frame: pd.DataFrame
    left_aligned: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plot:
    """A captioned figure, drawn or as the PNG bytes of a saved one (left out of text-only formats such as Markdown)."""

    caption: str
    figure: Figure | bytes


Block = Bullets | Table | Plot


@dataclass(frozen=True)
class Section:
    """A titled part of the report; ``collapsed`` sections are details a format may fold away (HTML does)."""

    title: str
    blocks: tuple[Block, ...]
    collapsed: bool = False


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _percent(value) -> str:
    return "—" if _is_missing(value) else f"{100 * float(value):.1f}%"


def _number(value, digits: int = 3) -> str:
    return "—" if _is_missing(value) else f"{float(value):.{digits}f}"


def _count(value) -> str:
    return "—" if _is_missing(value) else f"{int(value):,}"


def comparison_display(comparison: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Human-readable version of the ``compare_models`` table (all cells are strings).

    The test-time augmentation column is shown only when some model was scored with it (``report.tta``).
    """
    ci = f"{confidence:.0%} CI"
    with_tta = "tta_accuracy" in comparison and comparison["tta_accuracy"].notna().any()
    rows = [
        {
            "Model": row["model"],
            "Strategy": row["strategy"],
            "Accuracy": _percent(row["accuracy"]),
            ci: f"{_percent(row['accuracy_ci_low'])} – {_percent(row['accuracy_ci_high'])}",
            **({"Accuracy with flip TTA": _percent(row["tta_accuracy"])} if with_tta else {}),
            "Top-5": _percent(row["top5_accuracy"]),
            "Macro-F1": _number(row["macro_f1"]),
            "Log loss": _number(row["log_loss"]),
            "Validation accuracy": _percent(row.get("validation_accuracy")),
            "Train time (s)": _number(row["train_time_s"], 1),
            "Epochs": _count(row["epochs_run"]),
            "Trainable / total params": f"{_count(row['trainable_params'])} / {_count(row['total_params'])}",
            "Images/s": _number(row["inference_images_per_s"], 1),
        }
        for row in comparison.to_dict("records")
    ]
    return pd.DataFrame(rows)


def strategy_display(strategy_tests: pd.DataFrame) -> pd.DataFrame:
    """Human-readable version of the ``compare_strategies`` table (all cells are strings)."""
    rows = [
        {
            "Comparison": row.get("comparison", "strategies"),
            "A": f"{row['model_a']} ({_percent(row['accuracy_a'])})",
            "B": f"{row['model_b']} ({_percent(row['accuracy_b'])})",
            "Only A right": _count(row["only_a_correct"]),
            "Only B right": _count(row["only_b_correct"]),
            "Test": row["method"],
            "p-value": f"{float(row['p_value']):.3g}",
            "Significant": "yes" if row["significant"] else "no",
        }
        for row in strategy_tests.to_dict("records")
    ]
    return pd.DataFrame(rows)


def per_class_display(report: pd.DataFrame) -> pd.DataFrame:
    """Human-readable version of a ``per_class_report`` table (all cells are strings)."""
    return pd.DataFrame(
        {
            "Class": report["class"].astype(str),
            "Precision": report["precision"].map(_number),
            "Recall": report["recall"].map(_number),
            "F1": report["f1"].map(_number),
            "Support": report["support"].map(_count),
        }
    )


def summary_sentences(
    comparison: pd.DataFrame,
    strategy_tests: pd.DataFrame,
    confidence: float = 0.95,
    bootstrap_samples: int = 1000,
) -> list[str | list[str]]:
    """The report's plain-language findings and caveats.

    Returns:
        Sentences in reading order; a nested list holds the sub-points of the sentence before it.
    """
    if comparison.empty:
        return ["No model was evaluated."]
    sizes = sorted({int(size) for size in comparison["test_images"].dropna()})
    best = comparison.iloc[0]
    size_text = (
        f"{sizes[0]} images"
        if len(sizes) == 1
        else f"{', '.join(map(str, sizes))} images (differs by model!)"
    )
    sentences: list[str | list[str]] = [
        f"{len(comparison)} model(s) evaluated on the held-out test split of {size_text}.",
        f"Most accurate: {best['model']} with {_percent(best['accuracy'])} accuracy "
        f"({confidence:.0%} CI {_percent(best['accuracy_ci_low'])} – {_percent(best['accuracy_ci_high'])}).",
        f"Accuracy intervals are {confidence:.0%} percentile bootstrap confidence intervals over {bootstrap_samples} "
        "resamples of the test images: they show how much accuracy could move on another test sample of the same "
        "size, not the variation between training runs.",
    ]
    if sizes and sizes[0] < _SMALL_TEST_SET:
        width = float(best["accuracy_ci_high"] - best["accuracy_ci_low"])
        sentences.append(
            f"With only {sizes[0]} test images one image is worth {100 / sizes[0]:.1f} accuracy points and the best "
            f"model's interval is {100 * width:.0f} points wide: this split can tell a pretrained backbone from a "
            "network trained from scratch when they are far apart, not fine-tuning from transfer or one backbone from "
            "another. `kedro run --pipelines study` tests every image once over k folds and pools them."
        )
    if strategy_tests.empty:
        sentences.append(
            "Only one training strategy was evaluated, so no significance test between strategies ran."
        )
    else:
        sentences.append(
            "McNemar's test compares, on the same test images, the best model of each strategy, each fine-tuned "
            "model with the transfer model it started from, and each transfer head with the linear probe of its "
            "backbone (exact binomial test when fewer than 25 images differ, chi-square with continuity correction "
            "otherwise):"
        )
        sentences.append(strategy_tests["conclusion"].astype(str).tolist())
        sentences.append(
            "Every choice was made without the test split: the best model of a strategy has the best validation "
            "accuracy (the validation split, or the inner cross-validation of train + validation for linear heads "
            "and probes); the test split only reports."
        )
        sentences += _below_probe(strategy_tests)
    sentences.append(
        "Inference speed is images per second of batched model.predict on the machine that ran the report "
        "(after one warm-up batch); it is comparable between models of this run only."
    )
    return sentences


def _below_probe(strategy_tests: pd.DataFrame) -> list[str]:
    """A finding for each transfer head less accurate on the test split than the linear probe of its backbone."""
    if "comparison" not in strategy_tests:
        return []
    rows = strategy_tests[strategy_tests["comparison"] == "head vs probe"]
    return [
        f"{row['model_a']} ({_percent(row['accuracy_a'])}) falls below the linear probe of its backbone, "
        f"{row['model_b']} ({_percent(row['accuracy_b'])}), the floor a transfer head must meet"
        + (" (significantly)." if row["significant"] else " (not significantly).")
        for row in rows.to_dict("records")
        if row["accuracy_a"] < row["accuracy_b"]
    ]


def report_sections(
    comparison: pd.DataFrame,
    strategy_tests: pd.DataFrame,
    per_class_reports: dict[str, pd.DataFrame] | None = None,
    figures: dict[str, Figure | bytes] | None = None,
    *,
    confidence: float = 0.95,
    bootstrap_samples: int = 1000,
    error_analysis: pd.DataFrame | None = None,
) -> list[Section]:
    """The report's sections in reading order: findings, models, paired tests, error analysis, figures, per-class
    scores.

    Args:
        comparison: Output of ``compare_models``.
        strategy_tests: Output of ``compare_strategies``; its section is left out when empty.
        per_class_reports: Model namespace -> output of ``per_class_report``, one collapsed section each.
        figures: Caption -> figure (or its PNG bytes), in this order; the figures are not closed. No section when
            empty.
        confidence: Coverage of the accuracy intervals, for the text.
        bootstrap_samples: Bootstrap resamples behind the intervals, for the text.
        error_analysis: The most-confused class pairs of each strategy's best model (``strategy``, ``model``,
            ``true``, ``predicted``, ``count``); no section when None or empty.
    """
    findings = summary_sentences(comparison, strategy_tests, confidence, bootstrap_samples)
    sections = [
        Section("Findings", (Bullets(findings),)),
        Section(
            "Models (best accuracy first)",
            (Table(comparison_display(comparison, confidence), ("Model", "Strategy")),),
        ),
    ]
    if not strategy_tests.empty:
        tests_table = Table(strategy_display(strategy_tests), ("Comparison", "A", "B", "Test", "Significant"))
        sections.append(Section("Paired comparisons (McNemar's test)", (tests_table,)))
    if error_analysis is not None and not error_analysis.empty:
        pairs = error_analysis.assign(count=error_analysis["count"].map(_count)).rename(columns=str.capitalize)
        note = Bullets([
            "The class pairs each strategy's best model (by validation accuracy) confuses most on the test split: "
            "true class, the class it predicted instead, how many test images. The figures show each model's "
            "highest-loss test images."
        ])  # fmt: skip
        sections.append(Section("Error analysis", (note, Table(pairs, ("Strategy", "Model", "True", "Predicted")))))
    if figures:
        plots = tuple(Plot(caption, figure) for caption, figure in figures.items())
        sections.append(Section("Figures", plots))
    sections += [
        Section(
            f"Per-class scores: {model}",
            (Table(per_class_display(report), ("Class",)),),
            collapsed=True,
        )
        for model, report in (per_class_reports or {}).items()
    ]
    return sections
