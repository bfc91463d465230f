"""A validation-report row, shared by the modules that label and check images."""

from __future__ import annotations

from typing import NamedTuple

SKIPPED = "skipped"


class Finding(NamedTuple):
    """One validation-report row: the file concerned, what is wrong, and what ingest did about it."""

    file: str
    problem: str
    action: str
