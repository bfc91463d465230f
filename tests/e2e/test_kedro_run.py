"""End to end: ``kedro run`` on the bundled sample in a scratch copy of the project, then what it left behind.

The run happens once per module (in a subprocess, as a user would type it); the tests read its outputs, the
versioned catalog files and the MLflow store.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.scratch_project import kedro_env, make_scratch_project, run_kedro

pytestmark = pytest.mark.e2e

# The default study on the bundled paintings, shrunk to one epoch per model at 64 px to stay quick.
ONE_EPOCH = "scratch.training.epochs=1,transfer.training.epochs=1,finetune.training.epochs=1,preprocess.image_size=64"
PAINTERS = ["Cezanne", "Degas", "Gauguin", "Hassam", "Matisse", "Monet", "Pissarro", "Renoir", "Sargent", "VanGogh"]


@pytest.fixture(scope="module")
def project_run(tmp_path_factory, project_root):
    """A copy of the project's configuration, run once with every pipeline for one epoch per model.

    No KERAS_HOME and no ../shared: the ImageNet weights are the bundled files, as on a fresh offline clone.
    """
    workdir = make_scratch_project(tmp_path_factory.mktemp("project"))
    env = kedro_env()
    env.pop("KERAS_HOME", None)
    params = ONE_EPOCH
    first = run_kedro(workdir, "--params", params, env=env)
    second = run_kedro(workdir, "--pipelines", "finetune", "--params", params, env=env)
    return workdir, first, second


def _versions(path: Path) -> list[Path]:
    """The files saved under a versioned dataset path (one sub-folder per version)."""
    return sorted(path.glob("*/" + path.name))


def test_the_run_leaves_manifest_splits_arrays_figures_and_reports(project_run):
    workdir, _, _ = project_run
    data = workdir / "data"
    for dataset in (
        "02_intermediate/manifest.parquet",
        "08_reporting/validation_report.csv",
        "08_reporting/class_counts.png",
        "08_reporting/sample_grid.png",
        "08_reporting/image_sizes.png",
        "03_primary/splits.parquet",
        "03_primary/class_names.json",
        "05_model_input/images_train",  # a folder per version: images.npy, labels.npy, arrays.json
        "05_model_input/images_val",
        "05_model_input/images_test",
        "08_reporting/augmentation_preview.png",
        "06_models/scratch/basenet.keras",
        "06_models/transfer/mobilenet_v2.keras",
        "06_models/transfer/mobilenet_v1_075.keras",
        "06_models/finetune/mobilenet_v1_075.keras",
        "08_reporting/comparison.csv",
        "08_reporting/report.md",
        "08_reporting/report.html",
    ):
        assert _versions(data / dataset), f"{dataset} was not written"
    class_names = json.loads(_versions(data / "03_primary/class_names.json")[0].read_text())
    assert class_names == PAINTERS
    splits = pd.read_parquet(_versions(data / "03_primary/splits.parquet")[0])
    assert splits["split"].value_counts().to_dict() == {"train": 204, "test": 60, "val": 36}  # 50+ test paintings
    html = _versions(data / "08_reporting/report.html")[0].read_text()
    assert html.count("data:image/png;base64,") >= 3


def test_a_second_run_adds_versions_and_never_overwrites(project_run):
    workdir, _, _ = project_run
    models = workdir / "data" / "06_models"
    assert len(_versions(models / "finetune" / "mobilenet_v2.keras")) == 2
    assert len(_versions(models / "transfer" / "mobilenet_v2.keras")) == 1  # read, not retrained, by --pipeline=finetune


def test_mlflow_has_a_parent_run_per_kedro_run_and_a_child_run_per_model(project_run):
    from mlflow.tracking import MlflowClient

    workdir, _, _ = project_run
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("image_classification")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert len(parents) == 2
    full_run = parents[0]
    assert full_run.info.run_name.startswith("default · base · ")
    assert full_run.data.params["transfer.training.epochs"] == "1"
    assert full_run.data.params["preprocess.image_size"] == "64"
    children = {run.info.run_name: run for run in runs if run.data.tags.get("mlflow.parentRunId") == full_run.info.run_id}
    assert {"scratch.basenet", "transfer.mobilenet_v2", "finetune.mobilenet_v1_075"} <= set(children)
    assert "baseline.linear_probe.mobilenet_v2" in children  # the floor, beside the models
    child = children["transfer.mobilenet_v2"]
    # A linear head is fitted by L-BFGS: its curve is the inner cross-validation over the grid of C.
    history = client.get_metric_history(child.info.run_id, "cv_accuracy")
    assert len(history) == 7 and all(0.0 <= point.value <= 1.0 for point in history)
    assert 0.0 <= child.data.metrics["validation_accuracy"] <= 1.0
    assert 0.0 <= child.data.metrics["test_accuracy"] <= 1.0 and child.data.params["backbone"] == "mobilenet_v2"
    assert child.outputs.model_outputs, "the child run logs its model as an MLflow model"
    reports = {artifact.path for artifact in client.list_artifacts(full_run.info.run_id, "reports")}
    assert {"reports/comparison.csv", "reports/report.html"} <= reports
    assert client.get_model_version_by_alias("image_classification", "champion").tags["namespace"] in children
