"""Typed settings: one generic reader for the frozen dataclasses that hold each library's parameters and defaults.

The bottom library: it imports no other part of the package, and every library may import it.
"""

from image_classification.config.typed import (
    SettingProblem,
    load_settings,
    raise_for,
    read_blocks,
    read_settings,
    setting_keys,
    settings_from,
    unknown_keys,
)

__all__ = [
    "SettingProblem",
    "load_settings",
    "raise_for",
    "read_blocks",
    "read_settings",
    "setting_keys",
    "settings_from",
    "unknown_keys",
]
