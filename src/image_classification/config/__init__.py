"""Typed settings: the pydantic base every library's settings block derives from, and the reader that names each
bad key.

The bottom library: it imports no other part of the package, and every library may import it.
"""

from image_classification.config.typed import (
    RuleError,
    SettingProblem,
    StrictSettings,
    load_settings,
    raise_for,
    read_blocks,
    read_settings,
    setting_keys,
    settings_from,
    unknown_keys,
)

__all__ = [
    "RuleError",
    "SettingProblem",
    "StrictSettings",
    "load_settings",
    "raise_for",
    "read_blocks",
    "read_settings",
    "setting_keys",
    "settings_from",
    "unknown_keys",
]
