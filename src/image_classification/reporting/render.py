"""The comparative report's sections as Markdown and as one self-contained HTML page (figures inlined as PNG).

The sections come from ``sections.report_sections``; this module only formats them, escaping every text for its
format (class names come from folder names and model names from configuration, so they may hold ``<`` or ``&``).
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterable, Sequence

import pandas as pd
from matplotlib.figure import Figure

from image_classification.reporting.sections import (
    REPORT_TITLE,
    Block,
    Bullets,
    Plot,
    Section,
    Table,
)

# Markdown syntax a name could carry into the report: a `|` ends a table cell, `[..](..)` makes a link or image,
# `*`, `~`, backticks and word-edge `_` format text, a backslash escapes what follows. `<` and `&` are HTML-escaped.
_MARKDOWN_INLINE = re.compile(r"[\\`*\[\]|~]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])|(?<!\S)#")
# At the start of a list item or heading, these would start a nested list, heading or thematic break.
_MARKDOWN_BLOCK_START = re.compile(r"^(?:[-+]|(\d{1,9})([.)]))(?=\s|$)")


def _markdown_text(text: object) -> str:
    """Text for Markdown, shown as it is: HTML and Markdown syntax in it are escaped, whitespace made one line."""
    plain = " ".join(str(text).split())  # a line break in a name would end a table row or list item
    escaped = _MARKDOWN_INLINE.sub(lambda match: "\\" + match.group(0), html.escape(plain, quote=False))
    return _MARKDOWN_BLOCK_START.sub(
        lambda match: f"{match.group(1)}\\{match.group(2)}" if match.group(1) else "\\" + match.group(0),
        escaped,
    )


def markdown_table(frame: pd.DataFrame, left_aligned: Iterable[str] = ()) -> str:
    """GitHub-flavoured Markdown table of a DataFrame; columns are right-aligned unless listed.

    A small formatter instead of ``DataFrame.to_markdown``, which needs the optional ``tabulate`` package. Cells are
    escaped by ``_markdown_text`` (HTML, ``|`` and other Markdown syntax).
    """
    left = set(left_aligned)
    cell = _markdown_text
    header = "| " + " | ".join(cell(column) for column in frame.columns) + " |"
    rule = "|" + "|".join(":---" if column in left else "---:" for column in frame.columns) + "|"
    body = [
        "| " + " | ".join(cell(value) for value in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def _markdown_list(items: list[str | list[str]]) -> str:
    return "\n".join(
        line
        for item in items
        for line in (
            [f"  - {_markdown_text(point)}" for point in item]
            if isinstance(item, list)
            else [f"- {_markdown_text(item)}"]
        )
    )


def _markdown_block(block: Block) -> str | None:
    if isinstance(block, Bullets):
        return _markdown_list(block.items)
    if isinstance(block, Table):
        return markdown_table(block.frame, block.left_aligned)
    if isinstance(block, Plot):
        # The Markdown report is text only; the figures are saved as PNG files beside it.
        return None
    raise TypeError(f"Unknown report block {type(block).__name__}.")


def render_markdown(sections: Sequence[Section], title: str = REPORT_TITLE) -> str:
    """The report as Markdown: one ``##`` heading per section; figures and sections of figures only are left out.

    Args:
        sections: Output of ``report_sections``.
        title: The ``#`` heading.

    Returns:
        Markdown text.
    """
    lines = [f"# {_markdown_text(title)}", ""]
    for section in sections:
        blocks = [text for text in map(_markdown_block, section.blocks) if text is not None]
        if blocks:
            lines += [f"## {_markdown_text(section.title)}", ""]
            lines += [line for text in blocks for line in (text, "")]
    return "\n".join(lines)


def html_table(frame: pd.DataFrame) -> str:
    """HTML table of a DataFrame with every header and cell escaped."""
    header = "".join(f"<th>{html.escape(str(column))}</th>" for column in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(value))}</td>" for value in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _html_list(items: list[str | list[str]]) -> str:
    rendered: list[str] = []
    for item in items:
        if isinstance(item, list):  # sub-points belong inside the previous item
            points = "".join(f"<li>{html.escape(point)}</li>" for point in item)
            rendered[-1] = rendered[-1].removesuffix("</li>") + f"<ul>{points}</ul></li>"
        else:
            rendered.append(f"<li>{html.escape(item)}</li>")
    return "<ul>" + "".join(rendered) + "</ul>"


def figure_to_base64_png(figure: Figure | bytes, dpi: int = 100) -> str:
    """A figure (or the PNG bytes of one already saved) base64-encoded for a ``data:`` URI; a figure stays open."""
    if isinstance(figure, bytes):
        return base64.b64encode(figure).decode("ascii")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _html_block(block: Block) -> str:
    if isinstance(block, Bullets):
        return _html_list(block.items)
    if isinstance(block, Table):
        return html_table(block.frame)
    if not isinstance(block, Plot):
        raise TypeError(f"Unknown report block {type(block).__name__}.")
    caption = html.escape(block.caption)
    return (
        f'<figure><img src="data:image/png;base64,{figure_to_base64_png(block.figure)}" alt="{caption}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _html_section(section: Section) -> list[str]:
    # Headings are text, not attributes: quotes stay as they are ("McNemar's test").
    title, blocks = (
        html.escape(section.title, quote=False),
        [_html_block(block) for block in section.blocks],
    )
    if section.collapsed:
        return [f"<details><summary>{title}</summary>{''.join(blocks)}</details>"]
    return [f"<h2>{title}</h2>", *blocks]


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1.5em 0; } img { max-width: 100%; height: auto; } figcaption { color: #555; }
"""


def render_html(sections: Sequence[Section], title: str = REPORT_TITLE) -> str:
    """The report as one self-contained HTML page; figures are inlined as base64 PNG, collapsed sections folded.

    Args:
        sections: Output of ``report_sections``; its figures are not closed.
        title: Page title and ``<h1>`` heading.

    Returns:
        HTML text with no external resources.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *(part for section in sections for part in _html_section(section)),
        "</body></html>",
    ]
    return "\n".join(parts)
