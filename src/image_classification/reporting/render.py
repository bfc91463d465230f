"""The comparative report as Markdown and as one self-contained HTML page (figures inlined as base64 PNG)."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable

import pandas as pd
from matplotlib.figure import Figure

REPORT_TITLE = "Image classification: model comparison"
_SMALL_TEST_SET = 200  # below this, a few images swing accuracy by whole points; the report warns


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _percent(value) -> str:
    return "—" if _is_missing(value) else f"{100 * float(value):.1f}%"


def _number(value, digits: int = 3) -> str:
    return "—" if _is_missing(value) else f"{float(value):.{digits}f}"


def _count(value) -> str:
    return "—" if _is_missing(value) else f"{int(value):,}"


def comparison_display(comparison: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Human-readable version of the ``compare_models`` table (all cells are strings)."""
    ci = f"{confidence:.0%} CI"
    rows = [
        {
            "Model": row["model"],
            "Strategy": row["strategy"],
            "Accuracy": _percent(row["accuracy"]),
            ci: f"{_percent(row['accuracy_ci_low'])} – {_percent(row['accuracy_ci_high'])}",
            "Top-5": _percent(row["top5_accuracy"]),
            "Macro-F1": _number(row["macro_f1"]),
            "Log loss": _number(row["log_loss"]),
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


def markdown_table(frame: pd.DataFrame, left_aligned: Iterable[str] = ()) -> str:
    """GitHub-flavoured Markdown table of a DataFrame; columns are right-aligned unless listed.

    A small formatter instead of ``DataFrame.to_markdown``, which needs the optional ``tabulate`` package.
    """
    left = set(left_aligned)

    def cell(value) -> str:
        return str(value).replace("|", r"\|").replace("\n", " ")

    header = "| " + " | ".join(cell(column) for column in frame.columns) + " |"
    rule = "|" + "|".join(":---" if column in left else "---:" for column in frame.columns) + "|"
    body = [
        "| " + " | ".join(cell(value) for value in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def html_table(frame: pd.DataFrame) -> str:
    """HTML table of a DataFrame with every header and cell escaped."""
    header = "".join(f"<th>{html.escape(str(column))}</th>" for column in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(value))}</td>" for value in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def summary_sentences(
    comparison: pd.DataFrame,
    strategy_tests: pd.DataFrame,
    confidence: float = 0.95,
    bootstrap_samples: int = 1000,
) -> list[str | list[str]]:
    """The report's plain-language findings and caveats, shared by the Markdown and HTML versions.

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
        sentences.append(
            f"With only {sizes[0]} test images one image is worth {100 / sizes[0]:.1f} accuracy points, so small "
            "differences between models are within noise."
        )
    if strategy_tests.empty:
        sentences.append(
            "Only one training strategy was evaluated, so no significance test between strategies ran."
        )
    else:
        sentences.append(
            "Strategies are compared with McNemar's test on the best model of each strategy (paired, same test "
            "images; exact binomial test when fewer than 25 images differ, chi-square with continuity correction "
            "otherwise):"
        )
        sentences.append(strategy_tests["conclusion"].astype(str).tolist())
        if comparison["strategy"].value_counts().max() > 1:
            sentences.append(
                "The best model of a strategy was chosen by its test accuracy, which makes these p-values somewhat "
                "optimistic."
            )
    sentences.append(
        "Inference speed is images per second of batched model.predict on the machine that ran the report "
        "(after one warm-up batch); it is comparable between models of this run only."
    )
    return sentences


def _markdown_list(sentences: list[str | list[str]]) -> list[str]:
    return [
        line
        for sentence in sentences
        for line in (
            [f"  - {point}" for point in sentence]
            if isinstance(sentence, list)
            else [f"- {sentence}"]
        )
    ]


def _html_list(sentences: list[str | list[str]]) -> str:
    items: list[str] = []
    for sentence in sentences:
        if isinstance(sentence, list):  # sub-points belong inside the previous item
            points = "".join(f"<li>{html.escape(point)}</li>" for point in sentence)
            items[-1] = items[-1].removesuffix("</li>") + f"<ul>{points}</ul></li>"
        else:
            items.append(f"<li>{html.escape(sentence)}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def render_markdown(
    comparison: pd.DataFrame,
    strategy_tests: pd.DataFrame,
    per_class_reports: dict[str, pd.DataFrame],
    *,
    confidence: float = 0.95,
    bootstrap_samples: int = 1000,
) -> str:
    """The report as Markdown: findings, model table, strategy tests and per-class scores.

    Args:
        comparison: Output of ``compare_models``.
        strategy_tests: Output of ``compare_strategies``.
        per_class_reports: Model namespace -> output of ``per_class_report``.
        confidence: Coverage of the accuracy intervals, for the text.
        bootstrap_samples: Bootstrap resamples behind the intervals, for the text.

    Returns:
        Markdown text.
    """
    findings = summary_sentences(comparison, strategy_tests, confidence, bootstrap_samples)
    models_table = markdown_table(
        comparison_display(comparison, confidence), left_aligned=("Model", "Strategy")
    )
    lines = [f"# {REPORT_TITLE}", "", "## Findings", "", *_markdown_list(findings), ""]
    lines += ["## Models (best accuracy first)", "", models_table, ""]
    if not strategy_tests.empty:
        tests_table = markdown_table(
            strategy_display(strategy_tests), left_aligned=("A", "B", "Test", "Significant")
        )
        lines += ["## Strategy comparison (McNemar's test)", "", tests_table, ""]
    for model, report in per_class_reports.items():
        class_table = markdown_table(per_class_display(report), left_aligned=("Class",))
        lines += [f"## Per-class scores: {model}", "", class_table, ""]
    return "\n".join(lines)


def figure_to_base64_png(figure: Figure, dpi: int = 100) -> str:
    """PNG bytes of a figure, base64-encoded for a ``data:`` URI; the figure stays open for the caller."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1.5em 0; } img { max-width: 100%; height: auto; } figcaption { color: #555; }
"""


def render_html(
    comparison: pd.DataFrame,
    strategy_tests: pd.DataFrame,
    figures: dict[str, Figure],
    *,
    per_class_reports: dict[str, pd.DataFrame] | None = None,
    confidence: float = 0.95,
    bootstrap_samples: int = 1000,
) -> str:
    """The report as one self-contained HTML page; every figure is inlined as a base64 PNG.

    Args:
        comparison: Output of ``compare_models``.
        strategy_tests: Output of ``compare_strategies``.
        figures: Caption -> figure, shown in this order; the figures are not closed.
        per_class_reports: Optional model namespace -> ``per_class_report`` table, in collapsible sections.
        confidence: Coverage of the accuracy intervals, for the text.
        bootstrap_samples: Bootstrap resamples behind the intervals, for the text.

    Returns:
        HTML text with no external resources.
    """
    escape = html.escape
    findings = summary_sentences(comparison, strategy_tests, confidence, bootstrap_samples)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(REPORT_TITLE)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(REPORT_TITLE)}</h1>",
        "<h2>Findings</h2>",
        _html_list(findings),
        "<h2>Models (best accuracy first)</h2>",
        html_table(comparison_display(comparison, confidence)),
    ]
    if not strategy_tests.empty:
        parts += [
            "<h2>Strategy comparison (McNemar's test)</h2>",
            html_table(strategy_display(strategy_tests)),
        ]
    if figures:
        parts.append("<h2>Figures</h2>")
    for caption, figure in figures.items():
        parts.append(
            f'<figure><img src="data:image/png;base64,{figure_to_base64_png(figure)}" alt="{escape(caption)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>"
        )
    for model, report in (per_class_reports or {}).items():
        parts.append(
            f"<details><summary>Per-class scores: {escape(model)}</summary>{html_table(per_class_display(report))}"
            "</details>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
