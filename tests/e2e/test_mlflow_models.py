"""A tiny ``kedro run`` on digits, then its MLflow store: one parent run, a child run per model, the registry's
champion, and ``mlflow models serve`` answering a base64 image with the champion.

Two scratch models, one epoch on 16x16 digits (transfer and finetune models switched off), so the run takes seconds
of training; a second ``--pipelines report`` run on the same test split exercises the champion decision.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.scratch_project import kedro_env, make_scratch_project, run_kedro

pytestmark = pytest.mark.e2e

MODELS = ("scratch.basenet", "scratch.cnn3_dropout")
OFF = {"enabled": False}
TINY = {
    "scratch": {"training": {"epochs": 1}},
    "transfer": {"models": {"mobilenet_v2": OFF, "mobilenet_v1_075": OFF}},
    "finetune": {"models": {"mobilenet_v2": OFF, "mobilenet_v1_075": OFF}},
    "report": {"bootstrap_samples": 50, "registry": {"model_name": "digits"}},
}
PIPELINES = ("--pipelines", "ingest,split,preprocess,scratch,report")
CHILD_METRICS = {"test_accuracy", "test_macro_f1", "test_top5_accuracy", "test_log_loss", "train_time_s", "images_per_s"}
CHILD_PARAMS = {"strategy", "model", "backbone", "image_size", "learning_rate", "epochs", "trainable_params",
                "total_params"}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory):
    workdir = make_scratch_project(tmp_path_factory.mktemp("mlflow_models"), digits=True, parameters=TINY)
    run_kedro(workdir, *PIPELINES, timeout=600)
    second = run_kedro(workdir, "--pipelines", "report", timeout=600)
    return workdir, second


@pytest.fixture(scope="module")
def client(tiny_project):
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{tiny_project[0] / 'mlflow.db'}")


def _runs(client):
    experiment = client.get_experiment_by_name("image_classification")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


def test_each_kedro_run_is_a_parent_run_with_one_child_run_per_model(client):
    runs = _runs(client)
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert len(parents) == 2
    first = parents[0]
    assert re.fullmatch(r"[a-z+]+ · base · \d{4}-\d\d-\d\d \d\d:\d\d", first.info.run_name)
    assert "runner" not in first.data.tags
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == first.info.run_id]
    assert sorted(run.info.run_name for run in children) == list(MODELS)
    for child in children:
        assert child.info.status == "FINISHED"
        assert CHILD_METRICS <= set(child.data.metrics), child.info.run_name
        assert CHILD_PARAMS <= set(child.data.params)
        assert child.data.params["backbone"] == child.data.tags["model"]  # scratch: the architecture's name
        assert len(client.get_metric_history(child.info.run_id, "val_accuracy")) == 1  # one epoch
        figures = {item.path for item in client.list_artifacts(child.info.run_id, "figures")}
        assert "figures/confusion_matrix.png" in figures
        assert child.data.tags["test_split"] == children[0].data.tags["test_split"]
    reports = {item.path for item in client.list_artifacts(first.info.run_id, "reports")}
    assert {"reports/comparison.csv", "reports/report.html"} <= reports
    assert first.data.tags["best_model"] in MODELS


def test_the_best_model_is_registered_and_the_champion_moves_only_when_beaten(client, tiny_project):
    versions = sorted(client.search_model_versions("name='digits'"), key=lambda version: int(version.version))
    assert [str(version.version) for version in versions] == ["1", "2"]
    champion = client.get_model_version_by_alias("digits", "champion")
    assert str(champion.version) == "1"  # the report-only run scored the same models on the same split: no better
    assert versions[1].tags["test_split"] == versions[0].tags["test_split"]
    assert "does not beat" in versions[1].tags["champion_decision"]


def test_mlflow_models_serve_answers_a_base64_image_with_the_champion(tiny_project, tmp_path):
    from mlflow import MlflowClient

    from image_classification.models.serving import encode_png
    from tests.browser.conftest import free_port, running_server, venv_script

    workdir, _ = tiny_project
    data = workdir / "data"
    arrays = {"images": np.load(next((data / "05_model_input" / "images_test").glob("*/images_test/images.npy")))}
    class_names = json.loads(next((data / "03_primary" / "class_names.json").glob("*/*")).read_text())
    champion = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}").get_model_version_by_alias("digits", "champion")
    strategy, model = champion.tags["namespace"].split(".")
    evaluation_file = min((data / "07_model_output" / strategy / model / "evaluation.pkl").glob("*/evaluation.pkl"))
    evaluation = pickle.loads(evaluation_file.read_bytes())
    # A test image the champion got right in the report (the first one if it got none right: then its own answer).
    right = np.flatnonzero(evaluation["predictions"] == evaluation["labels"])
    index = int(right[0]) if right.size else 0
    image, expected = arrays["images"][index], class_names[int(evaluation["predictions"][index])]
    port = free_port()
    command = [venv_script("mlflow"), "models", "serve", "-m", "models:/digits@champion", "--env-manager", "local",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    # mlflow models serve runs `uvicorn` from PATH: the environment's bin folder first, as an activated venv has it.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = kedro_env(MLFLOW_TRACKING_URI=f"sqlite:///{workdir / 'mlflow.db'}", PATH=path)
    with running_server(command, workdir, env, tmp_path / "serve.log") as server:
        server.wait_until_serving(f"http://127.0.0.1:{port}/ping")
        body = json.dumps({"dataframe_records": [{"image": encode_png(image)}]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - our own localhost server
            predictions = json.load(response)["predictions"]
    assert len(predictions) == 1
    assert predictions[0]["label_1"] == expected
    assert 0.0 <= predictions[0]["probability_1"] <= 1.0
