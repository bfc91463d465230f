"""Which models this run trains: read from the parameters so pipelines can be built per model.

The scratch, transfer and finetune pipelines are one namespaced modular pipeline per model (``transfer.mobilenet_v2``),
so their structure depends on the parameters. ``ModelPlanHook`` stores the parameters of the running session here
before Kedro builds the pipelines (so ``--env`` and ``--params`` apply); outside a session (tests, notebooks) they are
read from ``conf/`` of the current directory with ``KEDRO_ENV``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader

STRATEGIES = ("scratch", "transfer", "finetune")

_session_parameters: dict[str, Any] | None = None


def use_parameters(parameters: dict[str, Any] | None) -> None:
    """Makes ``parameters`` the source of the model plan (``None`` goes back to reading ``conf/``)."""
    global _session_parameters  # noqa: PLW0603 - one plan per process, set by the session hook
    _session_parameters = parameters


def project_parameters(conf_source: str | Path = "conf") -> dict[str, Any]:
    """The parameters of the running session, else those in ``conf_source`` for ``KEDRO_ENV``."""
    if _session_parameters is not None:
        return _session_parameters
    loader = OmegaConfigLoader(
        conf_source=str(conf_source),
        env=os.environ.get("KEDRO_ENV"),
        base_env="base",
        default_run_env="local",
        merge_strategy={"parameters": "soft"},  # as in settings.CONFIG_LOADER_ARGS
    )
    return loader["parameters"]


def configured_models(strategy: str, parameters: dict[str, Any] | None = None) -> list[str]:
    """Names of the models configured under ``<strategy>.models``, in the order written.

    Args:
        strategy: One of ``scratch``, ``transfer`` or ``finetune``.
        parameters: All project parameters; read with ``project_parameters()`` when omitted.

    Returns:
        Model names; a model whose settings contain ``enabled: false`` is left out.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy '{strategy}'. Allowed: {', '.join(STRATEGIES)}.")
    parameters = project_parameters() if parameters is None else parameters
    models = (parameters.get(strategy) or {}).get("models") or {}
    if not isinstance(models, dict):
        raise ValueError(
            f"Parameter '{strategy}.models' must map model names to their settings "
            f"(conf/base/parameters_{strategy}.yml), got {type(models).__name__}."
        )
    return [name for name, settings in models.items() if (settings or {}).get("enabled", True)]


def trained_model_namespaces(parameters: dict[str, Any] | None = None) -> list[str]:
    """Every model namespace the training pipelines produce, e.g. ``["scratch.basenet", "transfer.mobilenet_v2"]``."""
    parameters = project_parameters() if parameters is None else parameters
    return [
        f"{strategy}.{name}"
        for strategy in STRATEGIES
        for name in configured_models(strategy, parameters)
    ]
