"""Report sections and their Markdown and HTML renderings: tables, honest notes, conclusions, figures, escaping."""

from __future__ import annotations

import re

import pandas as pd
from matplotlib.figure import Figure

from image_classification.reporting.render import markdown_table, render_html, render_markdown
from image_classification.reporting.sections import Bullets, Plot, Section, Table, report_sections


def _comparison() -> pd.DataFrame:
    row = {
        "test_images": 60,
        "top5_accuracy": float("nan"),
        "train_time_s": 12.5,
        "epochs_run": 4,
        "trainable_params": 1_234,
        "total_params": 2_345_678,
        "inference_images_per_s": 512.0,
    }
    return pd.DataFrame(
        [
            {
                **row,
                "model": "transfer.mobilenet_v2",
                "strategy": "transfer",
                "accuracy": 0.95,
                "accuracy_ci_low": 0.9,
                "accuracy_ci_high": 1.0,
                "macro_f1": 0.949,
                "log_loss": 0.12,
            },
            {
                **row,
                "model": "scratch.basenet",
                "strategy": "scratch",
                "accuracy": 0.5,
                "accuracy_ci_low": 0.37,
                "accuracy_ci_high": 0.63,
                "macro_f1": 0.48,
                "log_loss": 1.05,
            },
        ]
    )


def _strategy_tests() -> pd.DataFrame:
    conclusion = (
        "transfer.mobilenet_v2 (95.0%) is significantly more accurate than scratch.basenet (50.0%)"
    )
    return pd.DataFrame(
        [
            {
                "strategy_a": "scratch",
                "model_a": "scratch.basenet",
                "accuracy_a": 0.5,
                "strategy_b": "transfer",
                "model_b": "transfer.mobilenet_v2",
                "accuracy_b": 0.95,
                "only_a_correct": 0,
                "only_b_correct": 27,
                "statistic": 25.04,
                "p_value": 5.6e-7,
                "method": "chi-square with continuity correction",
                "alpha": 0.05,
                "significant": True,
                "conclusion": conclusion,
            }
        ]
    )


def _figure() -> Figure:
    figure = Figure(figsize=(2, 2))
    figure.subplots().plot([0, 1], [0, 1])
    return figure


def test_markdown_table_formats_header_alignment_and_escapes_pipes():
    table = markdown_table(pd.DataFrame({"name": ["a|b"], "value": ["1"]}), left_aligned=["name"])

    assert table.splitlines() == ["| name | value |", "|:---|---:|", r"| a\|b | 1 |"]


def test_markdown_report_has_the_model_table_conclusions_and_honest_notes():
    per_class = {
        "scratch.basenet": pd.DataFrame(
            {
                "class": ["cat", "dog"],
                "precision": [0.5, 0.5],
                "recall": [0.4, 0.6],
                "f1": [0.44, 0.55],
                "support": [30, 30],
            }
        )
    }

    text = render_markdown(
        report_sections(
            _comparison(), _strategy_tests(), per_class, confidence=0.95, bootstrap_samples=1000
        )
    )

    assert "| Model | Strategy | Accuracy | 95% CI |" in text
    assert "| transfer.mobilenet_v2 | transfer | 95.0% | 90.0% – 100.0% | — | 0.949 |" in text
    assert "2,345,678" in text
    assert "test split of 60 images" in text
    assert "95% percentile bootstrap confidence intervals over 1000 resamples" in text
    assert "is significantly more accurate than scratch.basenet" in text
    assert (
        "## Per-class scores: scratch.basenet" in text
        and "| cat | 0.500 | 0.400 | 0.440 | 30 |" in text
    )
    assert text.index("transfer.mobilenet_v2 | transfer") < text.index("scratch.basenet | scratch")


def test_markdown_report_says_when_no_strategy_test_was_possible():
    text = render_markdown(
        report_sections(_comparison().iloc[:1], pd.DataFrame(columns=_strategy_tests().columns))
    )

    assert "Only one training strategy was evaluated" in text


def test_html_report_inlines_every_figure_and_escapes_text():
    comparison = _comparison()
    comparison.loc[1, "model"] = "scratch.<script>alert(1)</script>"
    figures = {
        "Model comparison": _figure(),
        "scratch.basenet: learning curves": _figure(),
        "a <b> & c": _figure(),
    }

    page = render_html(report_sections(comparison, _strategy_tests(), figures=figures))

    assert page.startswith("<!DOCTYPE html>")
    assert page.count('<img src="data:image/png;base64,') == 3
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<figcaption>a &lt;b&gt; &amp; c</figcaption>" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # no external resources
    assert "95% percentile bootstrap" in page and "significantly more accurate" in page
    assert all(figure.axes for figure in figures.values())  # figures were not closed or cleared


def _per_class(class_names: list[str]) -> pd.DataFrame:
    n = len(class_names)
    return pd.DataFrame(
        {
            "class": class_names,
            "precision": [0.5] * n,
            "recall": [0.5] * n,
            "f1": [0.5] * n,
            "support": [3] * n,
        }
    )


def test_sections_are_built_once_in_reading_order():
    figures = {"Model comparison": _figure()}
    per_class = {
        "scratch.basenet": _per_class(["cat"]),
        "transfer.mobilenet_v2": _per_class(["dog"]),
    }

    sections = report_sections(_comparison(), _strategy_tests(), per_class, figures)

    assert [section.title for section in sections] == [
        "Findings",
        "Models (best accuracy first)",
        "Paired comparisons (McNemar's test)",
        "Figures",
        "Per-class scores: scratch.basenet",
        "Per-class scores: transfer.mobilenet_v2",
    ]
    assert [section.collapsed for section in sections] == [False] * 4 + [True] * 2
    findings, models, _, plots, *_ = sections
    assert isinstance(findings.blocks[0], Bullets) and isinstance(models.blocks[0], Table)
    assert models.blocks[0].frame["Model"].tolist() == ["transfer.mobilenet_v2", "scratch.basenet"]
    assert plots.blocks == (Plot("Model comparison", figures["Model comparison"]),)


def test_both_renderers_format_the_same_sections():
    sections = [
        Section("Notes", (Bullets(["first", ["sub a", "sub b"], "second"]),)),
        Section("Pictures", (Plot("only a figure", _figure()),)),
        Section(
            "Details", (Table(pd.DataFrame({"k": ["x"], "v": ["1"]}), ("k",)),), collapsed=True
        ),
    ]

    markdown = render_markdown(sections, title="T")
    page = render_html(sections, title="T")

    assert markdown == (
        "# T\n\n## Notes\n\n- first\n  - sub a\n  - sub b\n- second\n\n"
        "## Details\n\n| k | v |\n|:---|---:|\n| x | 1 |\n"
    )  # the Markdown report is text only: a section of figures only is left out
    assert (
        "<h2>Notes</h2>\n<ul><li>first<ul><li>sub a</li><li>sub b</li></ul></li><li>second</li></ul>"
        in page
    )
    assert (
        "<h2>Pictures</h2>\n<figure><img" in page
        and "<figcaption>only a figure</figcaption>" in page
    )
    assert "<details><summary>Details</summary><table>" in page


def test_markdown_report_escapes_html_in_class_and_model_names():
    comparison = _comparison()
    comparison.loc[1, "model"] = "scratch.<script>alert(1)</script>"
    per_class = {"scratch.<b>": _per_class(["<img src=x onerror=alert(1)>", "cats & dogs"])}

    text = render_markdown(report_sections(comparison, _strategy_tests(), per_class))

    assert "<script>" not in text and "<img" not in text and "<b>" not in text
    assert "| scratch.&lt;script&gt;alert(1)&lt;/script&gt; | scratch |" in text
    assert "## Per-class scores: scratch.&lt;b&gt;" in text
    assert (
        "| &lt;img src=x onerror=alert(1)&gt; | 0.500 |" in text and "| cats &amp; dogs |" in text
    )
    assert "McNemar's test" in text  # quotes are not HTML-escaped in Markdown text
