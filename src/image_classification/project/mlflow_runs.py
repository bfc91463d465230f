"""The MLflow parent run of a ``kedro run``: its name, and the run's reports and figures as its artifacts.

kedro-mlflow starts one run per ``kedro run`` (the parent) and logs the parameters there. ``MlflowRunsHook`` names it
after what ran (``default · base · 2026-12-01 10:15``), drops kedro-mlflow's ``runner`` tag (an object's repr), and
logs each saved file whose catalog entry has ``metadata.mlflow_artifact_path`` as an artifact of the parent run.
Each model's own child run (its parameters, curves, metrics, figures, MLflow model and the registry) is logged by a
node, ``tracking.log_model_runs``, at the end of the report. Tasks of an orchestrator that share one parent run:
``mlflow_shared_parent.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kedro.framework.hooks import hook_impl

from image_classification.project.mlflow_shared_parent import use_shared_parent


def parent_run_name(pipeline_names: list[str] | str | None, env: str | None, when: datetime) -> str:
    """``default · base · 2026-12-01 10:15``: pipelines (``__default__`` -> ``default``), profile, start time."""
    names = [pipeline_names] if isinstance(pipeline_names, str) else list(pipeline_names or ["__default__"])
    pipelines = "+".join(name.strip("_") or name for name in names)
    profile = "base" if env in (None, "", "local") else env
    return f"{pipelines} · {profile} · {when:%Y-%m-%d %H:%M}"


class MlflowRunsHook:
    """Names the parent run and logs the files catalog entries mark with ``mlflow_artifact_path`` to it."""

    def __init__(self) -> None:
        self._catalog = None
        self._client = None
        self._parent = None
        self._shared_parent = False  # an orchestrator's parent run, shared by its tasks

    @hook_impl
    def after_context_created(self, context) -> None:
        mlflow_config = getattr(context, "mlflow", None)  # set by kedro-mlflow's hook, which runs first
        if mlflow_config is not None:
            self._shared_parent = use_shared_parent(mlflow_config)

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        import mlflow  # noqa: PLC0415 - projects without a run pay nothing

        self._parent = mlflow.active_run()
        if self._parent is None:
            return
        self._client = mlflow.MlflowClient()
        run_id = self._parent.info.run_id
        if self._shared_parent:
            return  # named by the orchestrator
        names = run_params.get("pipeline_names") or run_params.get("pipeline_name")
        self._client.set_tag(run_id, "mlflow.runName", parent_run_name(names, run_params.get("env"), datetime.now()))
        if "runner" in self._client.get_run(run_id).data.tags:
            self._client.delete_tag(run_id, "runner")  # kedro-mlflow logs the runner object's repr

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        if self._parent is None or self._catalog is None:
            return
        dataset = self._catalog.get(dataset_name)
        artifact_path = (getattr(dataset, "metadata", None) or {}).get("mlflow_artifact_path")
        if artifact_path:
            self._client.log_artifact(self._parent.info.run_id, saved_file_path(dataset), artifact_path)


def saved_file_path(dataset) -> str:
    """The local file a (possibly versioned) file dataset has just written in this run."""
    if getattr(dataset, "_version", None) is not None:
        path = dataset._get_versioned_path(dataset.resolve_save_version())  # noqa: SLF001
    else:
        path = dataset._filepath  # noqa: SLF001
    return str(path)
