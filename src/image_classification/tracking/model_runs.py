"""One MLflow child run per model under the active run, each model's servable MLflow model, and the registry.

A ``kedro run`` has one parent run (kedro-mlflow's). ``log_model_runs``, the report's last MLflow node (and each
study fold's), gives every model it reports on a child run named after its namespace (``transfer.mobilenet_v2``; ``fold_0.transfer.mobilenet_v2`` in the study,
tagged with its ``fold``) holding its training parameters, per-epoch curves, test metrics, figures and tables; a
trained model outside the study is also logged as an MLflow pyfunc (``models/serving_code.py``), and the best of them
by validation accuracy is registered (``tracking/registry.py``). Everything is logged by run id through
``MlflowClient``, so the active run stays the parent.

The tasks of an orchestrator share one parent run (``project/mlflow_shared_parent.py``): a child of the same name
left ``RUNNING`` there belongs to an attempt of the report that died, and is marked ``KILLED``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from image_classification.reporting.settings import ReportSettings
from image_classification.tracking.registry import Candidate, register_best_model

logger = logging.getLogger(__name__)

#: The per-model datasets ``log_model_runs`` reads, each ``<namespace>.<kind>`` passed as a keyword argument; only
#: ``training_summary`` is required (a study fold passes ``history`` and ``test_metrics`` besides).
RUN_INPUTS = (
    "training_summary", "history", "test_metrics", "evaluation", "classification_report",
    "learning_curves_figure", "confusion_matrix_figure", "predictions_figure", "top_losses_figure",
)  # fmt: skip
RUN_COLUMNS = ["namespace", "fold", "run_id", "model_uri", "registered"]

#: Training summary key -> child run parameter.
SUMMARY_PARAMS = {
    "strategy": "strategy", "model_name": "model", "backbone": "backbone", "image_size": "image_size",
    "learning_rate": "learning_rate", "epochs_run": "epochs", "trainable_params": "trainable_params",
    "total_params": "total_params", "optimizer": "optimizer", "lr_schedule": "lr_schedule",
    "unfreeze_from": "unfreeze_from",
}  # fmt: skip
_BATCH = 1000  # MLflow's limit of metrics per log_batch


@dataclass(frozen=True)
class ModelRecord:
    """What one model's child run holds.

    Attributes:
        namespace: ``<strategy>.<name>`` (``baseline.linear_probe.<backbone>`` for a probe).
        summary: Its training summary (the parameters; ``backbone`` names the backbone or scratch architecture).
        history: Metric name -> one value per epoch (or per regularisation strength, for a probe).
        metrics: Its test metrics, ``validation_accuracy`` included (``report.<ns>.test_metrics``).
        artifacts: Artifact path in the run (``figures/confusion_matrix.png``) -> the file's bytes.
        model_file: The ``.keras`` file the report evaluated, to log as an MLflow model; None: no MLflow model.
    """

    namespace: str
    summary: dict[str, Any]
    history: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    model_file: str | None = None


@dataclass(frozen=True)
class LoggedRun:
    """A child run the node logged: its model, run id, fold (None outside the study) and ``models:/`` URI."""

    namespace: str
    run_id: str
    fold: int | None = None
    model_uri: str | None = None
    registered: str | None = None  # ``<registered name>/<version>`` for the model registered


def log_model_runs(
    config: ReportSettings,
    test_split: str | None = None,
    serving_spec: dict | None = None,
    fold: int | None = None,
    scratch_models: dict[str, Any] | None = None,
    transfer_models: dict[str, Any] | None = None,
    **per_model: Any,
) -> pd.DataFrame:
    """Logs one MLflow child run per model under the active run (kedro-mlflow's parent run of this ``kedro run``).

    Each child holds the model's training parameters, per-epoch curves, test metrics, per-class table and figures;
    a trained model (one whose evaluation names its ``model_file``) is also logged as a servable MLflow model, and
    the one with the best validation accuracy is registered under ``report.registry``.

    Args:
        config: ``params:report`` (its ``registry`` block).
        test_split: ``report.test_split``, the fingerprint every child and registered version is tagged with.
        serving_spec: ``report.serving_spec``; None: no MLflow model is logged.
        fold: The study's fold: its children are tagged with it, and no model is logged or registered.
        scratch_models: ``params:scratch.models``, for each scratch net's ``architecture`` (the ``backbone``
            parameter of its run).
        transfer_models: ``params:transfer.models``, for the ``backbone`` of each transfer model, of the fine-tuned
            model and the linear probe of the same name.
        **per_model: ``<namespace>.<kind>`` for each kind of ``RUN_INPUTS`` (``training_summary`` required).

    Returns:
        One row per child run: ``namespace``, ``fold``, ``run_id``, ``model_uri`` (empty without an MLflow model)
        and ``registered`` (``<name>/<version>`` for the model registered); no row outside an MLflow run.

    Raises:
        ValueError: A keyword that is not ``<namespace>.<kind>`` of ``RUN_INPUTS``.
    """
    import mlflow  # noqa: PLC0415 - MLflow at run time only

    parent = mlflow.active_run()
    if parent is None:
        logger.info("No active MLflow run: the models' child runs are not logged.")
        return pd.DataFrame(columns=RUN_COLUMNS)
    registry = ReportSettings.from_config(config).registry_settings()
    records = model_records(per_model, scratch_models or {}, transfer_models or {})
    logged = log_child_runs(mlflow.MlflowClient(), parent.info, records, serving_spec=serving_spec,
                            test_split=test_split, registry=registry, fold=fold)  # fmt: skip
    rows = [[run.namespace, run.fold, run.run_id, run.model_uri or "", run.registered or ""] for run in logged]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def _backbone(namespace: str, scratch_models: dict[str, Any], transfer_models: dict[str, Any]) -> str:
    """The configured backbone of a model (transfer, fine-tuned and probe: that of the transfer model of the same
    name) or its scratch architecture; ``none`` where the parameters do not say."""
    strategy, name = namespace.split(".", 1)[0], namespace.rpartition(".")[2]
    if strategy == "scratch":
        return str(dict(scratch_models.get(name) or {}).get("architecture") or name)
    return str(dict(transfer_models.get(name) or {}).get("backbone") or "none")


def model_records(
    per_model: dict[str, Any], scratch_models: dict[str, Any], transfer_models: dict[str, Any]
) -> list[ModelRecord]:
    """``{"<namespace>.<kind>": value}`` (``RUN_INPUTS``) as one ``ModelRecord`` per namespace with a summary; the
    model's configured ``backbone`` joins the summary's parameters."""
    grouped: dict[str, dict[str, Any]] = {}
    for dataset, value in per_model.items():
        namespace, _, kind = dataset.rpartition(".")
        if kind not in RUN_INPUTS or not namespace:
            raise ValueError(f"Unexpected input '{dataset}': expected <namespace>.<kind> with kind one of {RUN_INPUTS}.")
        grouped.setdefault(namespace, {})[kind] = value
    records = []
    for namespace, inputs in grouped.items():
        if "training_summary" not in inputs:
            continue
        artifacts = {f"figures/{kind.removesuffix('_figure')}.png": payload
                     for kind, payload in inputs.items() if kind.endswith("_figure")}  # fmt: skip
        if "classification_report" in inputs:
            artifacts["reports/classification_report.csv"] = inputs["classification_report"].to_csv(index=False).encode()
        summary = {**inputs["training_summary"], "backbone": _backbone(namespace, scratch_models, transfer_models)}
        records.append(ModelRecord(
            namespace, summary, inputs.get("history") or {}, inputs.get("test_metrics") or {},
            artifacts, (inputs.get("evaluation") or {}).get("model_file"),
        ))  # fmt: skip
    return records


def log_child_runs(
    client: Any,
    parent: Any,
    records: list[ModelRecord],
    *,
    serving_spec: dict[str, Any] | None = None,
    test_split: str | None = None,
    registry: Any = None,
    fold: int | None = None,
) -> list[LoggedRun]:
    """Logs one child run per record under ``parent``, their MLflow models, and registers the best one.

    Args:
        client: An ``mlflow.MlflowClient``.
        parent: The parent run's ``RunInfo`` (``run_id``, ``experiment_id``).
        records: One per model.
        serving_spec: What every MLflow pyfunc needs besides its Keras file (``models.serving.ServingSpec`` as a
            dict); None: no MLflow model is logged.
        test_split: Fingerprint of the test split, tagged on every child and registered version.
        registry: ``RegistrySettings``; None or ``register_model: false``: nothing is registered.
        fold: The study's fold the models belong to: tagged, and their models are neither logged nor registered (a
            fold's model is evidence for the comparison, not a model to serve).

    Returns:
        The child runs, in the order of ``records``.
    """
    started, logged, children = time.perf_counter(), [], []
    _close_dead_attempts(client, parent, {_run_name(record.namespace, fold) for record in records})
    try:
        for record in records:
            run_id = _child_run(client, parent, _run_name(record.namespace, fold), record.namespace, fold)
            children.append(run_id)
            _log_record(client, run_id, record, test_split)
            model_uri = None
            if fold is None and serving_spec is not None and record.model_file:
                model_uri = _log_model(run_id, record.model_file, serving_spec)
            logged.append(LoggedRun(record.namespace, run_id, fold, model_uri))
        logged = _register(client, parent, records, logged, registry, test_split)
    except BaseException:
        for run_id in children:
            client.set_terminated(run_id, "FAILED")
        raise
    for run_id in children:
        client.set_terminated(run_id, "FINISHED")
    served = sum(run.model_uri is not None for run in logged)
    logger.info("Logged %d MLflow child runs (%d with a model) in %.1f s.", len(logged), served,
                time.perf_counter() - started)  # fmt: skip
    return logged


def _run_name(namespace: str, fold: int | None) -> str:
    return namespace if fold is None else f"fold_{fold}.{namespace}"


def _close_dead_attempts(client: Any, parent: Any, names: set[str]) -> None:
    """Marks ``KILLED`` the children of ``parent`` named in ``names`` still ``RUNNING``: an earlier attempt of the
    same task made them and died (a run ends its children before it ends)."""
    running = client.search_runs(
        [parent.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.run_id}' and attributes.status = 'RUNNING'",
    )
    for run in running:
        if run.info.run_name in names:
            client.set_terminated(run.info.run_id, "KILLED")
            logger.warning("MLflow run %s of %s was left running by a dead task: marked KILLED.",
                           run.info.run_id, run.info.run_name)  # fmt: skip


def _child_run(client: Any, parent: Any, name: str, namespace: str, fold: int | None) -> str:
    strategy, model = namespace.split(".", 1)
    tags = {"mlflow.parentRunId": parent.run_id, "strategy": strategy, "model": model}
    if fold is not None:
        tags["fold"] = str(fold)
    return client.create_run(parent.experiment_id, run_name=name, tags=tags).info.run_id


def _log_record(client: Any, run_id: str, record: ModelRecord, test_split: str | None) -> None:
    from mlflow.entities import Metric, Param  # noqa: PLC0415

    now = int(time.time() * 1000)
    curves = [
        Metric(name, float(value), now, step)
        for name, values in record.history.items() for step, value in enumerate(values)
    ]  # fmt: skip
    metrics = curves + [Metric(name, float(value), now, 0) for name, value in record.metrics.items()]
    params = {name: record.summary[key] for key, name in SUMMARY_PARAMS.items() if record.summary.get(key) is not None}
    client.log_batch(run_id, params=[Param(name, str(value)) for name, value in params.items()])
    for start in range(0, len(metrics), _BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + _BATCH])
    if test_split:
        client.set_tag(run_id, "test_split", test_split)
    with tempfile.TemporaryDirectory(prefix="mlflow-artifacts-") as scratch:
        for artifact, payload in record.artifacts.items():
            folder, _, name = artifact.rpartition("/")
            path = Path(scratch, folder, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload)
            client.log_artifact(run_id, str(path), folder or None)


def _log_model(run_id: str, model_file: str, spec: dict[str, Any]) -> str:
    import pandas as pd  # noqa: PLC0415
    from mlflow.models import Model  # noqa: PLC0415

    from image_classification.models import serving  # noqa: PLC0415
    from image_classification.models.prediction_table import pinned_requirements, serving_signature  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="mlflow-model-") as scratch:
        class_names = Path(scratch, "class_names.json")
        class_names.write_text(json.dumps(spec["class_names"]))
        info = Model.log(
            artifact_path=None,  # deprecated in favour of name, yet still a required argument
            name="model",
            flavor=_PYFUNC_WITHOUT_VALIDATION,
            run_id=run_id,
            python_model=str(Path(serving.__file__).with_name("serving_code.py")),  # models-from-code: not a pickle
            artifacts={"model": model_file, "class_names": str(class_names)},
            model_config={key: spec[key] for key in ("image_size", "resize_method", "top_k")},
            signature=serving_signature(min(spec["top_k"], len(spec["class_names"]))),
            input_example=pd.DataFrame({"image": [spec["input_example"]]}),
            pip_requirements=pinned_requirements(),
            validate_serving_input=False,  # loading each model again costs seconds; tests serve one
        )
    return info.model_uri


def _save_pyfunc(validate_serving_input: bool = True, **kwargs: Any) -> None:
    import mlflow.pyfunc  # noqa: PLC0415

    mlflow.pyfunc.save_model(**kwargs)


#: ``mlflow.pyfunc`` as ``Model.log`` sees a flavor, taking its ``validate_serving_input`` switch, which
#: ``mlflow.pyfunc.save_model`` itself rejects (MLflow 3.17).
_PYFUNC_WITHOUT_VALIDATION = SimpleNamespace(__name__="mlflow.pyfunc", save_model=_save_pyfunc)


def _register(
    client: Any, parent: Any, records: list[ModelRecord], logged: list[LoggedRun], registry: Any, test_split: str | None
) -> list[LoggedRun]:
    """Registers the logged model with the best validation accuracy; returns ``logged`` with it marked."""
    candidates = [
        Candidate(run.namespace, run.run_id, run.model_uri, record.metrics.get("validation_accuracy", float("-inf")),
                  record.metrics.get("test_accuracy", float("nan")))
        for record, run in zip(records, logged, strict=True) if run.model_uri
    ]  # fmt: skip
    if not candidates or registry is None or not registry.register_model:
        return logged
    version = register_best_model(client, parent.run_id, candidates, registry, test_split)
    registered = f"{registry.model_name}/{version.version}"
    return [replace(run, registered=registered) if run.run_id == version.run_id else run for run in logged]
