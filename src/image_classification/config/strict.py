"""The base of the settings that Kedro's own parameter validator checks: pydantic models with a "did you mean".

A node parameter annotated with a subclass (``def fit_linear_probe(..., linear_probe: LinearProbeSettings)``) is
instantiated by ``kedro.validation`` before the run, scoped to the pipelines being run; a bad value stops the run
with the parameter's name. Unknown keys are refused with the closest known key, as the project's other settings do.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class StrictSettings(BaseModel):
    """Frozen, no unknown keys; an unknown key names the closest known one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, values: Any) -> Any:
        if isinstance(values, dict):
            for key in values:
                if key not in cls.model_fields:
                    close = difflib.get_close_matches(str(key), list(cls.model_fields), n=1)
                    hint = f"did you mean '{close[0]}'? " if close else ""
                    raise ValueError(f"unknown setting '{key}'; {hint}Allowed: {', '.join(cls.model_fields)}.")
        return values

    @classmethod
    def read(cls, value: Any) -> StrictSettings:
        """``value`` as these settings: kept when Kedro's validator already made it one, else validated."""
        return value if isinstance(value, cls) else cls.model_validate(value or {})
