"""Read a labels CSV as people save them: comma, semicolon, tab or pipe separated, UTF-8 (with or without BOM) or not.

The separator is ``ingest.labels.csv_separator``, or sniffed when that is null: first the separator that splits the
header into the configured id and label columns, else :class:`csv.Sniffer`'s guess among ``,;\\t|``, else a comma.
The encoding is ``ingest.labels.csv_encoding`` (``utf-8`` by default); a file that does not decode fails with the
byte concerned and the setting to change, since guessing an 8-bit encoding would silently garble labels.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pandas as pd

SEPARATORS = (",", ";", "\t", "|")
#: How much of the file csv.Sniffer looks at.
_SNIFF_CHARS = 64 * 1024


def read_label_table(
    csv_file: Path, id_column: str, label_column: str, separator: str | None = None, encoding: str = "utf-8"
) -> pd.DataFrame:
    """Reads the id and label columns of a labels CSV as stripped strings.

    Args:
        csv_file: The CSV file.
        id_column: Column holding the image id.
        label_column: Column holding the class label.
        separator: The column separator; None (or empty) sniffs it.
        encoding: The file's text encoding (``utf-8`` also reads a file starting with a byte order mark).

    Returns:
        The table, every value a string, with ``id_column`` and ``label_column`` stripped of surrounding spaces.

    Raises:
        ValueError: The file does not decode, cannot be parsed, or lacks one of the two columns; the message names
            the setting to change.
    """
    text = _decode(csv_file, encoding or "utf-8")
    separator = {"\\t": "\t", "tab": "\t"}.get(separator or "", separator)  # '\t' single-quoted in YAML is 2 characters
    sep = separator or sniff_separator(text, (id_column, label_column))
    how = f"separator {sep!r}" + ("" if separator else " (sniffed; set ingest.labels.csv_separator to choose)")
    try:
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except ValueError as error:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise ValueError(f"Cannot read labels CSV {csv_file} with {how}: {error}") from error
    table.columns = [str(column).strip() for column in table.columns]
    for setting, column in (("id_column", id_column), ("label_column", label_column)):
        if column not in table.columns:
            raise ValueError(
                f"Labels CSV {csv_file} has no column {column!r} (ingest.labels.{setting}); its columns are "
                f"{list(table.columns)}, read with {how}. Set ingest.labels.{setting} to one of them, or "
                "ingest.labels.csv_separator (e.g. ';' or '\\t') if the columns were split wrongly."
            )
    return table.assign(
        **{id_column: table[id_column].str.strip(), label_column: table[label_column].str.strip()}
    )


def sniff_separator(text: str, columns: tuple[str, ...]) -> str:
    """The separator that splits the header into ``columns``, else csv.Sniffer's guess, else ``,``."""
    header = text.split("\n", 1)[0].rstrip("\r")
    for separator in SEPARATORS:
        names = {name.strip().strip('"') for name in header.split(separator)}
        if set(columns) <= names:
            return separator
    try:
        return csv.Sniffer().sniff(text[:_SNIFF_CHARS], delimiters="".join(SEPARATORS)).delimiter
    except csv.Error:  # one column, or nothing consistent to go by
        return ","


def _decode(csv_file: Path, encoding: str) -> str:
    try:
        codec = codecs.lookup(encoding).name
    except LookupError as error:
        raise ValueError(
            f"ingest.labels.csv_encoding {encoding!r} is not a text encoding Python knows; use e.g. utf-8, cp1252 "
            "or latin-1."
        ) from error
    data = csv_file.read_bytes()
    try:
        return data.decode("utf-8-sig" if codec == "utf-8" else codec)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"Labels CSV {csv_file} is not valid {encoding} text: byte {data[error.start]:#04x} at position "
            f"{error.start} cannot be decoded. If it was saved by Excel on Windows, set ingest.labels.csv_encoding: "
            "cp1252 (or the file's own encoding, e.g. latin-1)."
        ) from error
