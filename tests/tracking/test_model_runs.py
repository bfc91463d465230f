"""``log_model_runs``, the report's node that gives every model its MLflow child run, its MLflow model and the
registry's champion: run as a node under an active run, against a real (SQLite) MLflow store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from image_classification.tracking.model_runs import RUN_COLUMNS, log_model_runs

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16  # the bytes a saved figure loads back as
SPEC = {"class_names": ["cat", "dog"], "image_size": 8, "resize_method": "stretch", "top_k": 1, "input_example": "AA=="}
REPORT = {"registry": {"register": False}}
TRANSFER_MODELS = {"mobilenet_v2": {"backbone": "mobilenet_v2"}}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"  # created once: MLflow's migrations


@pytest.fixture
def mlflow_run(store):
    """An active parent run, as kedro-mlflow opens one for a ``kedro run``; yields (client, parent run)."""
    import mlflow

    mlflow.set_tracking_uri(store)
    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name("models") or client.get_experiment(client.create_experiment("models"))
    try:  # the experiment by id: mlflow.set_experiment would stay the process's active one for later tests
        with mlflow.start_run(experiment_id=experiment.experiment_id, run_name="default") as parent:
            yield client, parent
    finally:
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory) -> str:
    import keras

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return str(path)


def _model_inputs(namespace: str, validation: float, test: float, model_file: str | None) -> dict:
    """The per-model datasets the report passes, as the catalog loads them."""
    return {
        f"{namespace}.training_summary": {"strategy": namespace.split(".", maxsplit=1)[0], "model_name": "mobilenet_v2",
                                          "epochs_run": 2, "validation_accuracy": validation},  # fmt: skip
        f"{namespace}.history": {"loss": [0.9, 0.5], "val_accuracy": [0.6, validation]},
        f"{namespace}.test_metrics": {"test_accuracy": test, "validation_accuracy": validation},
        f"{namespace}.evaluation": {"metrics": {}, "model_file": model_file},
        f"{namespace}.classification_report": pd.DataFrame({"class": ["cat", "dog"], "f1": [0.8, 0.9]}),
        f"{namespace}.confusion_matrix_figure": PNG,
    }


def _children(client, parent) -> dict:
    runs = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    return {run.info.run_name: run for run in runs}


def test_each_model_gets_a_finished_child_run_with_its_params_curves_metrics_and_files(mlflow_run, keras_file):
    client, parent = mlflow_run
    inputs = {
        **_model_inputs("transfer.mobilenet_v2", 0.80, 0.75, keras_file),
        **_model_inputs("baseline.linear_probe.mobilenet_v2", 0.78, 0.70, None),
    }
    table = log_model_runs(REPORT, "split-1", SPEC, transfer_models=TRANSFER_MODELS, **inputs)

    children = _children(client, parent)
    assert set(children) == {"transfer.mobilenet_v2", "baseline.linear_probe.mobilenet_v2"}
    assert list(table.columns) == RUN_COLUMNS
    assert dict(zip(table["namespace"], table["run_id"], strict=True)) == {
        name: run.info.run_id for name, run in children.items()
    }
    child = children["transfer.mobilenet_v2"]
    assert child.info.status == "FINISHED"
    assert child.data.tags["strategy"] == "transfer" and child.data.tags["model"] == "mobilenet_v2"
    assert child.data.tags["test_split"] == "split-1"
    assert child.data.params["backbone"] == "mobilenet_v2" and child.data.params["epochs"] == "2"
    assert child.data.metrics["test_accuracy"] == 0.75
    assert [m.value for m in client.get_metric_history(child.info.run_id, "val_accuracy")] == [0.6, 0.8]
    files = {artifact.path for folder in ("figures", "reports", "model")
             for artifact in client.list_artifacts(child.info.run_id, folder)}  # fmt: skip
    assert {"figures/confusion_matrix.png", "reports/classification_report.csv", "model/MLmodel"} <= files
    assert children["baseline.linear_probe.mobilenet_v2"].data.params["backbone"] == "mobilenet_v2"


def test_the_trained_model_is_logged_and_registered_and_the_probe_is_not(mlflow_run, keras_file):
    client, parent = mlflow_run
    inputs = {
        **_model_inputs("transfer.mobilenet_v2", 0.80, 0.75, keras_file),
        **_model_inputs("finetune.mobilenet_v2", 0.85, 0.70, keras_file),
        **_model_inputs("baseline.linear_probe.mobilenet_v2", 0.90, 0.95, None),
    }
    report = {"registry": {"model_name": "registry_test", "alias": "champion"}}
    table = log_model_runs(report, "split-1", SPEC, **inputs).set_index("namespace")

    assert table.loc["baseline.linear_probe.mobilenet_v2", "model_uri"] == ""  # evidence, not a model to serve
    assert table.loc["transfer.mobilenet_v2", "model_uri"].startswith("models:/")
    # The champion is chosen by validation accuracy (finetune, 0.85), not by test accuracy (transfer, 0.75).
    registered = table.loc["finetune.mobilenet_v2", "registered"]
    assert registered == "registry_test/1" and table["registered"].tolist().count("") == 2
    version = client.get_model_version_by_alias("registry_test", "champion")
    assert version.run_id == table.loc["finetune.mobilenet_v2", "run_id"]
    assert client.get_run(parent.info.run_id).data.tags["best_model"] == "finetune.mobilenet_v2"


def test_a_fold_tags_its_children_and_logs_no_model(mlflow_run, keras_file):
    client, parent = mlflow_run
    table = log_model_runs(REPORT, fold=3, **_model_inputs("transfer.mobilenet_v2", 0.8, 0.7, keras_file))

    (child,) = _children(client, parent).values()
    assert child.info.run_name == "fold_3.transfer.mobilenet_v2" and child.data.tags["fold"] == "3"
    assert table["model_uri"].tolist() == [""] and table["fold"].tolist() == [3]
    assert "registered_model" not in client.get_run(parent.info.run_id).data.tags


def test_a_child_left_running_by_a_dead_attempt_is_marked_killed_and_replaced(mlflow_run):
    client, parent = mlflow_run
    tags = {"mlflow.parentRunId": parent.info.run_id}
    dead = client.create_run(parent.info.experiment_id, run_name="transfer.mobilenet_v2", tags=tags).info.run_id
    other = client.create_run(parent.info.experiment_id, run_name="scratch.basenet", tags=tags).info.run_id

    table = log_model_runs(REPORT, **_model_inputs("transfer.mobilenet_v2", 0.8, 0.7, None))

    assert client.get_run(dead).info.status == "KILLED"
    assert client.get_run(other).info.status == "RUNNING"  # not this report's model: left alone
    (run_id,) = table["run_id"]
    assert run_id != dead and client.get_run(run_id).info.status == "FINISHED"


def test_without_an_active_run_nothing_is_logged():
    import mlflow

    assert mlflow.active_run() is None
    table = log_model_runs(REPORT, **_model_inputs("transfer.mobilenet_v2", 0.8, 0.7, None))
    assert table.empty and list(table.columns) == RUN_COLUMNS


def test_an_input_that_is_not_a_models_dataset_is_refused(mlflow_run):
    with pytest.raises(ValueError, match="transfer.mobilenet_v2.weights"):
        log_model_runs(REPORT, **{"transfer.mobilenet_v2.weights": np.zeros(2)})

