"""Project hooks: make the model plan follow the session's parameters; check them; export local credentials;
distribute.

The MLflow hooks (parent and child runs, models, registry) are in ``mlflow_runs.py``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException, OmegaConfigLoader
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline
from pydantic import BaseModel

from image_classification.project.model_plan import ModelPlan, use_model_plan

logger = logging.getLogger(__name__)

# credentials.yml key -> environment variable read by the official client
_KAGGLE_VARIABLES = {"username": "KAGGLE_USERNAME", "key": "KAGGLE_KEY", "api_token": "KAGGLE_API_TOKEN"}


class ModelPlanHook:
    """Sets the session's model plan (``--env`` and ``--params`` applied) before Kedro builds the pipelines.

    ``KedroSession.run`` creates the context, then builds the pipelines it runs; this hook runs in between, so
    ``kedro run --pipelines predict --params predict.model=scratch.basenet`` builds ``predict`` for that model.
    """

    @hook_impl(tryfirst=True)  # before any other hook could build the pipelines
    def after_context_created(self, context: KedroContext) -> None:
        # Not context.params: in Kedro 1.7 reading it validates parameters against every pipeline, which builds the
        # pipelines before the plan is known. The config loader already holds --env and --params.
        use_model_plan(ModelPlan.from_parameters(context.config_loader["parameters"]))


class CredentialsToEnvironmentHook:
    """Exports ``kaggle: {username, key}`` from ``conf/local/credentials.yml`` for the Kaggle client.

    Read from ``conf/local`` even when a profile runs (``--env artworks`` loads base + artworks only): credentials
    belong to the machine, not to the profile. Values already in the environment win; they are never logged.
    """

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        kaggle = {}
        for loader in (_local_config_loader(context), context.config_loader):
            try:
                kaggle = {**kaggle, **((loader["credentials"] or {}).get("kaggle") or {})}
            except MissingConfigException:
                continue
        exported = []
        for key, variable in _KAGGLE_VARIABLES.items():
            if kaggle.get(key) and not os.environ.get(variable):
                os.environ[variable] = str(kaggle[key])
                exported.append(variable)
        if exported:
            logger.info("Kaggle credentials taken from credentials.yml (%s).", ", ".join(exported))


def _local_config_loader(context: KedroContext) -> OmegaConfigLoader:
    conf_source = str(Path(context.project_path) / "conf")
    return OmegaConfigLoader(conf_source=conf_source, env="local", base_env="base", default_run_env="local")


class DistributionHook:
    """Runs the whole pipeline inside the configured ``distribution`` (see ``distribution.py``).

    Models are built, compiled and fitted in different nodes, so the distribution must span the run: entered before
    the first node, left after the last one (or when the run fails).
    """

    def __init__(self) -> None:
        self._context = None

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        settings = catalog.load("params:distribution") if "params:distribution" in catalog else None
        if (settings or {}).get("strategy") is None:  # one device: nothing to enter, and no Keras to import
            return
        from image_classification.training.distribution import distribute  # noqa: PLC0415

        self._context = distribute(settings)
        self._context.__enter__()

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        self._leave()

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._leave()

    def _leave(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None


class SettingsParamsHook:
    """Logs each key of a settings block that Kedro's validator made a pydantic model (``params:report`` annotated
    ``ReportSettings``) as its own MLflow parameter, ``report.batch_size``, as kedro-mlflow does for the blocks that
    stay dicts (``flatten: True`` in mlflow.yml); kedro-mlflow itself logs a model as one string."""

    @hook_impl
    def before_node_run(self, node, inputs: dict[str, Any]) -> None:
        blocks = {
            name.removeprefix("params:"): value.model_dump(by_alias=True)
            for name, value in inputs.items()
            if name.startswith("params:") and isinstance(value, BaseModel)
        }
        if not blocks:
            return
        import mlflow  # noqa: PLC0415 - imported by kedro-mlflow already; not at registration

        if mlflow.active_run() is not None:
            mlflow.log_params(_flattened(blocks))


def _flattened(block: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"report": {"registry": {"alias": "champion"}}}`` -> ``{"report.registry.alias": "champion"}``."""
    flat: dict[str, Any] = {}
    for key, value in block.items():
        name = f"{prefix}{key}"
        flat.update(_flattened(value, f"{name}.") if isinstance(value, dict) else {name: value})
    return flat


class RunChecksHook:
    """Checks the parameters of the pipeline about to run before any node (and before the MLflow run) starts."""

    def __init__(self) -> None:
        self._parameters: dict[str, Any] | None = None
        self._conf_source: str | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        # --params and --env applied; not context.params, which builds every pipeline first in Kedro 1.7
        self._parameters = context.config_loader["parameters"]
        self._conf_source = getattr(context.config_loader, "conf_source", None)

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run that the error would leave dangling
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        # Imported here: the checks read the backbones' specifications, which import Keras; registering the hooks
        # (every kedro command) must not.
        from image_classification.project.run_checks import check_runner, validate_run_parameters  # noqa: PLC0415

        check_runner(run_params.get("runner"), pipeline)
        parameters = self._parameters if self._parameters is not None else catalog.load("parameters")
        validate_run_parameters(parameters, pipeline, self._conf_source)
