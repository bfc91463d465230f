"""MLflow runs of a ``kedro run``: kedro-mlflow's parent run, and one nested child run per trained model.

kedro-mlflow starts one run per ``kedro run`` (the parent) and logs the parameters there. ``MlflowRunsHook`` names it
after what ran (``default · base · 2026-12-01 10:15``), drops kedro-mlflow's ``runner`` tag (an object's repr), and
creates a child run per model namespace (``transfer.mobilenet_v2``) the first time a dataset of that model is saved.
A dataset belongs to the model whose namespace its node runs in (``transfer.mobilenet_v2`` or
``report.transfer.mobilenet_v2``); the catalog's ``metadata`` says what to log:

* ``mlflow_artifact_path``: the saved file, as an artifact of the child run (or of the parent, outside a model);
* ``mlflow_log: metric_history``: per-epoch curves, one ``log_batch`` per model;
* ``mlflow_log: metrics`` / ``params``: the child's metrics (``test_accuracy``, ...) and parameters;
* ``mlflow_log: test_split`` / ``serving_spec``: read at the end of the run.

When the run ends, each evaluated model is logged as an MLflow pyfunc model in its child run
(``models/serving.py``), the best one is registered (``mlflow_registry.py``), and the children end with the parent's
status. Everything is logged by run id: the active run stays kedro-mlflow's parent. Tasks of an orchestrator that
share one parent run: ``mlflow_shared_parent.py``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kedro.framework.hooks import hook_impl

from image_classification.project.mlflow_registry import Candidate, register_best_model
from image_classification.project.mlflow_shared_parent import shared_child, use_shared_parent

logger = logging.getLogger(__name__)

REPORT_NAMESPACE = "report"
#: Linear probes get a child run for their metrics, but no MLflow model and no place in the registry.
BASELINE_STRATEGY = "baseline"
#: The study's folds (``fold_<i>``): each model of each fold gets a child run tagged with its fold; none is logged as
#: an MLflow model or registered (a fold's model is evidence for the comparison, not a model to serve).
FOLD_PREFIX = "fold_"
#: Training summary key -> child run parameter; the model's ``backbone`` is added from the parameters.
_SUMMARY_PARAMS = {
    "strategy": "strategy", "model_name": "model", "image_size": "image_size", "learning_rate": "learning_rate",
    "epochs_run": "epochs", "trainable_params": "trainable_params", "total_params": "total_params",
    "optimizer": "optimizer", "lr_schedule": "lr_schedule", "unfreeze_from": "unfreeze_from",
}  # fmt: skip
_BATCH = 1000  # MLflow's limit of metrics per log_batch


def model_namespace(node_namespace: str | None) -> str | None:
    """The model a node works for: ``report.transfer.mobilenet_v2`` or ``transfer.mobilenet_v2`` -> the latter;
    a baseline has three parts (``baseline.linear_probe.mobilenet_v2``); a fold of the study keeps its prefix
    (``fold_0.report.transfer.mobilenet_v2`` -> ``fold_0.transfer.mobilenet_v2``)."""
    parts = (node_namespace or "").split(".")
    fold = [parts.pop(0)] if parts and parts[0].startswith(FOLD_PREFIX) else []
    if parts and parts[0] == REPORT_NAMESPACE:
        parts = parts[1:]
    depth = 3 if parts and parts[0] == BASELINE_STRATEGY else 2
    return ".".join(fold + parts[:depth]) if len(parts) >= depth and all(parts[:depth]) else None


def parent_run_name(pipeline_names: list[str] | str | None, env: str | None, when: datetime) -> str:
    """``default · base · 2026-12-01 10:15``: pipelines (``__default__`` -> ``default``), profile, start time."""
    names = [pipeline_names] if isinstance(pipeline_names, str) else list(pipeline_names or ["__default__"])
    pipelines = "+".join(name.strip("_") or name for name in names)
    profile = "base" if env in (None, "", "local") else env
    return f"{pipelines} · {profile} · {when:%Y-%m-%d %H:%M}"


@dataclass
class _Child:
    run_id: str
    metrics: dict[str, float] = field(default_factory=dict)
    has_params: bool = False


class MlflowRunsHook:
    """Parent run naming, child runs per model, their metrics, parameters, artifacts, models and the registry."""

    def __init__(self) -> None:
        self._catalog = None
        self._env: str | None = None
        self._client = None
        self._parent = None
        self._children: dict[str, _Child] = {}
        self._read: dict[str, Any] = {}
        self._shared_parent = False  # an orchestrator's parent run, shared by its tasks

    @hook_impl
    def after_context_created(self, context) -> None:
        self._env = context.env
        mlflow_config = getattr(context, "mlflow", None)  # set by kedro-mlflow's hook, which runs first
        if mlflow_config is not None:
            self._shared_parent = use_shared_parent(mlflow_config)

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        import mlflow  # noqa: PLC0415 - projects without a run pay nothing

        self._children, self._read, self._parent = {}, {}, mlflow.active_run()
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
        metadata = getattr(self._catalog.get(dataset_name), "metadata", None) or {}
        namespace = model_namespace(node.namespace)
        kind = metadata.get("mlflow_log")
        if kind in ("test_split", "serving_spec"):
            self._read[kind] = data
        elif namespace and kind:
            self._log_value(namespace, kind, data)
        if metadata.get("mlflow_artifact_path"):
            run_id = self._child(namespace).run_id if namespace else self._parent.info.run_id
            self._client.log_artifact(run_id, saved_file_path(self._catalog.get(dataset_name)),
                                      metadata["mlflow_artifact_path"])  # fmt: skip

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any, node) -> None:
        """A model trained in an earlier run still gets its parameters when this run reports on it."""
        if self._parent is None or self._catalog is None or not isinstance(data, dict):
            return
        namespace = model_namespace(node.namespace)
        metadata = getattr(self._catalog.get(dataset_name), "metadata", None) or {}
        if namespace and metadata.get("mlflow_log") == "params" and namespace == dataset_name.rsplit(".", 1)[0]:
            self._log_value(namespace, "params", data)

    @hook_impl(tryfirst=True)  # before kedro-mlflow ends the parent run
    def after_pipeline_run(self, run_params, pipeline, catalog) -> None:
        if self._parent is None:
            return
        try:
            self._log_models_and_register(catalog)
        finally:
            self._end_children("FINISHED")

    @hook_impl(tryfirst=True)
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        if self._parent is not None:
            self._end_children("FAILED")

    def _child(self, namespace: str) -> _Child:
        if namespace not in self._children and self._shared_parent:
            if reused := shared_child(self._client, self._parent.info, namespace):
                self._children[namespace] = _Child(reused)
        if namespace not in self._children:
            fold, _, rest = namespace.partition(".") if namespace.startswith(FOLD_PREFIX) else ("", "", namespace)
            strategy, model = rest.split(".", 1)
            tags = {"mlflow.parentRunId": self._parent.info.run_id, "strategy": strategy, "model": model}
            if fold:
                tags["fold"] = fold.removeprefix(FOLD_PREFIX)
            run = self._client.create_run(self._parent.info.experiment_id, run_name=namespace, tags=tags)
            self._children[namespace] = _Child(run.info.run_id)
        return self._children[namespace]

    def _log_value(self, namespace: str, kind: str, data: Any) -> None:
        from mlflow.entities import Metric, Param  # noqa: PLC0415

        child, now = self._child(namespace), int(time.time() * 1000)
        if kind == "metric_history":
            metrics = [
                Metric(name, float(point["value"]), now, int(point["step"]))
                for name, points in data.items() for point in points
            ]  # fmt: skip
            for start in range(0, len(metrics), _BATCH):
                self._client.log_batch(child.run_id, metrics=metrics[start : start + _BATCH])
        elif kind == "metrics":
            child.metrics.update(data)
            self._client.log_batch(child.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in data.items()])
        elif kind == "params" and not child.has_params:
            child.has_params = True
            params = {name: data[key] for key, name in _SUMMARY_PARAMS.items() if data.get(key) is not None}
            params["backbone"] = self._backbone(namespace)
            self._client.log_batch(child.run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def _backbone(self, namespace: str) -> str:
        """``backbone`` (transfer, and finetune through its transfer model) or ``architecture`` (scratch)."""
        if namespace.startswith(FOLD_PREFIX):
            namespace = namespace.split(".", 1)[1]
        strategy, model = namespace.split(".", 1)
        if strategy == BASELINE_STRATEGY:  # baseline.linear_probe.<name> probes transfer.<name>
            strategy, model = "finetune", model.rsplit(".", 1)[-1]
        owner = "transfer" if strategy == "finetune" else strategy
        name = f"params:{owner}.models.{model}"
        # A dict, or the model's settings class where Kedro's validator made one: both read as (key, value) pairs.
        settings = dict((self._catalog.load(name) if name in self._catalog else None) or {})
        return str(settings.get("backbone") or settings.get("architecture") or "none")

    def _log_models_and_register(self, catalog) -> None:
        spec, test_split = self._read.get("serving_spec"), self._read.get("test_split")
        evaluated = {ns: child for ns, child in self._children.items() if "test_accuracy" in child.metrics}
        if spec is None or not evaluated:
            return
        started = time.perf_counter()
        candidates = []
        for namespace, child in sorted(evaluated.items()):
            if test_split:
                self._client.set_tag(child.run_id, "test_split", test_split)
            if namespace.startswith((f"{BASELINE_STRATEGY}.", FOLD_PREFIX)):
                continue
            model_uri = self._log_model(namespace, child.run_id, spec, catalog)
            if model_uri:
                validation = child.metrics.get("validation_accuracy", float("-inf"))
                candidates.append(
                    Candidate(namespace, child.run_id, model_uri, validation, child.metrics["test_accuracy"])
                )
        logger.info("Logged %d MLflow models in %.1f s.", len(candidates), time.perf_counter() - started)
        settings = _registry_settings(catalog)
        if candidates and settings.register_model:
            register_best_model(self._client, self._parent.info.run_id, candidates, settings, test_split)

    def _log_model(self, namespace: str, run_id: str, spec: dict, catalog) -> str | None:
        import pandas as pd  # noqa: PLC0415
        from mlflow.models import Model  # noqa: PLC0415

        from image_classification.models import serving  # noqa: PLC0415
        from image_classification.models.prediction_table import (  # noqa: PLC0415
            pinned_requirements,
            serving_signature,
        )

        dataset_name = f"{namespace}.model"
        if dataset_name not in catalog:
            return None
        keras_file = str(catalog.get(dataset_name)._get_load_path())  # noqa: SLF001 - the version the report read
        with tempfile.TemporaryDirectory(prefix="mlflow-model-") as scratch:
            class_names = Path(scratch, "class_names.json")
            class_names.write_text(json.dumps(spec["class_names"]))
            info = Model.log(
                artifact_path=None,  # deprecated in favour of name, yet still a required argument
                name="model",
                flavor=_PYFUNC_WITHOUT_VALIDATION,
                run_id=run_id,
                python_model=str(Path(serving.__file__).with_name("serving_code.py")),  # models-from-code: not a pickle
                artifacts={"model": keras_file, "class_names": str(class_names)},
                model_config={key: spec[key] for key in ("image_size", "resize_method", "top_k")},
                signature=serving_signature(min(spec["top_k"], len(spec["class_names"]))),
                input_example=pd.DataFrame({"image": [spec["input_example"]]}),
                pip_requirements=pinned_requirements(),
                validate_serving_input=False,  # loading each model again costs seconds; tests serve one
            )
        return info.model_uri

    def _end_children(self, status: str) -> None:
        for child in self._children.values():
            self._client.set_terminated(child.run_id, status)
        self._children = {}


def _save_pyfunc(validate_serving_input: bool = True, **kwargs: Any) -> None:
    import mlflow.pyfunc  # noqa: PLC0415

    mlflow.pyfunc.save_model(**kwargs)


#: ``mlflow.pyfunc`` as ``Model.log`` sees a flavor, taking its ``validate_serving_input`` switch, which
#: ``mlflow.pyfunc.save_model`` itself rejects (MLflow 3.17).
_PYFUNC_WITHOUT_VALIDATION = SimpleNamespace(__name__="mlflow.pyfunc", save_model=_save_pyfunc)


def _registry_settings(catalog):
    from image_classification.reporting.settings import ReportSettings  # noqa: PLC0415

    config = catalog.load("params:report") if "params:report" in catalog else None
    return ReportSettings.from_config(config).registry_settings()


def saved_file_path(dataset) -> str:
    """The local file a (possibly versioned) file dataset has just written in this run."""
    if getattr(dataset, "_version", None) is not None:
        path = dataset._get_versioned_path(dataset.resolve_save_version())  # noqa: SLF001
    else:
        path = dataset._filepath  # noqa: SLF001
    return str(path)
