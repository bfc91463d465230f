"""End to end: ``kedro run --pipelines train_and_serve`` logs a servable MLflow model, ``--pipelines predict`` writes
the predictions CSV, and ``mlflow models serve`` answers a request with one base64 PNG.

Both runs happen once per module, in a scratch copy of the project's configuration, with a tiny setup: the bundled
digits at 16x16 px and ``scratch.basenet`` trained for one epoch.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tests.scratch_project import make_scratch_project, run_kedro

pytestmark = pytest.mark.e2e

TINY_RUN = {"scratch": {"training": {"epochs": 1}}}
# On the command line: predict.model decides which model train_and_serve trains and predict reads, and the session's
# --params reach the model plan before the pipelines are built.
SERVED_MODEL = "predict.model=scratch.basenet"
SERVER_START_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def project(tmp_path_factory, project_root):
    """A scratch project where train_and_serve ran, then predict on the bundled digits plus two broken files."""
    workdir = make_scratch_project(tmp_path_factory.mktemp("predict_project"), parameters=TINY_RUN, digits=True)
    run_kedro(workdir, "--pipelines", "train_and_serve", "--params", SERVED_MODEL)
    digits = workdir / "data" / "01_raw" / "digits"
    (digits / "0" / "empty.png").write_bytes(b"")
    (digits / "1" / "broken.jpg").write_bytes(b"not a jpeg")
    run_kedro(workdir, "--pipelines", "predict", "--params", SERVED_MODEL)
    return workdir


def _mlflow_client(workdir: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")


def _runs_by_name(workdir: Path) -> dict:
    """Parent runs by the pipelines they ran: run names read ``<pipelines> · <profile> · <start time>``."""
    client = _mlflow_client(workdir)
    experiment = client.get_experiment_by_name("image_classification")
    runs = client.search_runs([experiment.experiment_id])
    return {run.info.run_name.split(" · ")[0]: run for run in runs if "mlflow.parentRunId" not in run.data.tags}


def test_predict_writes_a_csv_of_top_3_labels_for_every_image(project):
    versions = sorted((project / "data" / "07_model_output" / "predictions.csv").glob("*/predictions.csv"))
    assert len(versions) == 1
    predictions = pd.read_csv(versions[0], keep_default_na=False, dtype=str)

    assert list(predictions.columns) == [
        "file", "label_1", "probability_1", "label_2", "probability_2", "label_3", "probability_3", "problem",
    ]
    assert len(predictions) == 1797 + 2
    classified = predictions[predictions["problem"] == ""]
    assert len(classified) == 1797
    assert set(classified["label_1"]) <= {str(digit) for digit in range(10)}
    scores = classified[["probability_1", "probability_2", "probability_3"]].astype(float).to_numpy()
    assert ((scores >= 0) & (scores <= 1)).all() and (scores[:, 0] >= scores[:, 2]).all()
    by_name = predictions.set_index(predictions["file"].map(lambda file: Path(file).name))
    skipped = by_name.loc[["empty.png", "broken.jpg"]]
    assert skipped["problem"].tolist() == ["zero-byte file", "not an image: Pillow cannot identify the file format"]
    assert (skipped["label_1"] == "").all()
    predict_run = _runs_by_name(project)["predict"].info.run_id
    logged = [artifact.path for artifact in _mlflow_client(project).list_artifacts(predict_run, "predictions")]
    assert logged == ["predictions/predictions.csv"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_ready(server: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve exited with {server.returncode}:\n{log.read_text()[-6000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    pytest.fail(f"mlflow models serve not ready after {SERVER_START_TIMEOUT_S} s:\n{log.read_text()[-6000:]}")


def test_the_logged_model_is_served_and_classifies_one_base64_png(project, tmp_path):
    models = project / "data" / "06_models"
    assert sorted(path.name for path in (models / "scratch").iterdir()) == ["basenet.keras"]
    assert not (models / "transfer").exists() and not (models / "finetune").exists()  # only predict.model trained
    run = _runs_by_name(project)["train_and_serve"]
    assert run.outputs.model_outputs, "train_and_serve logged no MLflow model"
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # the model carries the code
    env.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",  # mlflow starts `uvicorn` by name
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", f"runs:/{run.info.run_id}/model",
        "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port),
    ]
    with log.open("w") as output:
        # its own process group, so the uvicorn worker it starts goes down with it
        server = subprocess.Popen(command, cwd=project, env=env, stdout=output, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        _wait_until_ready(server, f"http://127.0.0.1:{port}/ping", log)
        png = next((project / "data" / "01_raw" / "digits" / "7").glob("*.png")).read_bytes()
        row = ["seven.png", base64.b64encode(png).decode("ascii")]
        body = {"dataframe_split": {"columns": ["file", "image"], "data": [row]}}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=15)

    [prediction] = answer["predictions"]
    assert prediction["file"] == "seven.png" and prediction["problem"] == ""
    labels = [prediction[f"label_{rank}"] for rank in (1, 2, 3)]
    scores = [prediction[f"probability_{rank}"] for rank in (1, 2, 3)]
    assert len(set(labels)) == 3 and set(labels) <= {str(digit) for digit in range(10)}
    assert 1 >= scores[0] >= scores[1] >= scores[2] >= 0
