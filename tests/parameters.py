"""Test helper: a copy of the project's parameters with one setting changed."""

from __future__ import annotations

import copy
from typing import Any


def with_setting(parameters: dict, block: str, key: str, value: Any) -> dict:
    """A deep copy of ``parameters`` whose ``<block>.<key>`` (``block`` dotted, e.g. ``transfer.models.x``) is ``value``."""
    changed = copy.deepcopy(parameters)
    target = changed
    for part in block.split("."):
        target = target[part]
    target[key] = value
    return changed
