"""kedro-mlflow against a real MLflow tracking server on PostgreSQL (``--env server``, conf/server/mlflow.yml).

Two processes log at once: a plain ``kedro run``, and the way the Airflow DAG runs the pipeline, with a parent run
created beforehand and three ``kedro run`` sessions (ingest..preprocess, scratch, report) that log into it through
``IMAGE_CLASSIFICATION_PARENT_RUN_ID``. Both land in one experiment with one child run per model, and the registry's
``champion`` alias and the models' artifacts are served by the server. Two scratch models, one epoch on 16x16 digits.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from image_classification.project.mlflow_shared_parent import PARENT_RUN_VARIABLE
from tests.scratch_project import kedro_env, make_scratch_project

pytestmark = [pytest.mark.scale_out, pytest.mark.e2e]

EXPERIMENT = "image_classification"
MODELS = ["scratch.basenet", "scratch.cnn3_dropout"]
OFF = {"enabled": False}
TINY = {
    "scratch": {"training": {"epochs": 1}},
    "transfer": {"models": {"mobilenet_v2": OFF, "mobilenet_v1_075": OFF}},
    "finetune": {"models": {"mobilenet_v2": OFF, "mobilenet_v1_075": OFF}},
    "report": {"bootstrap_samples": 50, "registry": {"model_name": "digits"}},
}
ALL = "ingest,split,preprocess,scratch,report"
IN_STEPS = ("ingest,split,preprocess", "scratch", "report")


def server_project(workdir: Path, parameters: dict) -> Path:
    """A scratch project whose ``server`` environment has ``parameters`` (``--env server`` skips conf/local)."""
    project = make_scratch_project(workdir, digits=True, parameters=parameters)
    (project / "conf" / "server" / "parameters.yml").write_text((project / "conf/local/parameters.yml").read_text())
    return project


def kedro_run(project: Path, pipelines: str, tracking_uri: str, **env: str) -> subprocess.Popen:
    """Starts ``kedro run --env server``; its output goes to a file (a pipe nobody reads would block it)."""
    log = (project / f"kedro-{pipelines.replace(',', '+')}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--env", "server", "--pipelines", pipelines],
        cwd=project, env=kedro_env(MLFLOW_TRACKING_URI=tracking_uri, **env), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    process.log = Path(log.name)
    log.close()
    return process


def finish(process: subprocess.Popen, timeout: int = 1200) -> None:
    process.wait(timeout=timeout)
    assert process.returncode == 0, process.log.read_text()[-6000:]


@pytest.fixture(scope="module")
def logged(services, tmp_path_factory):
    from mlflow import MlflowClient

    tmp = tmp_path_factory.mktemp("server_runs")
    plain, shared = server_project(tmp / "plain", TINY), server_project(tmp / "shared", TINY)
    client = MlflowClient(services.tracking_uri)
    experiment_id = client.create_experiment(EXPERIMENT)  # as the DAG's first task does
    parent = client.create_run(experiment_id, run_name="dag-like").info.run_id
    alone = kedro_run(plain, ALL, services.tracking_uri)
    for pipelines in IN_STEPS:  # at the same time as `alone`
        finish(kedro_run(shared, pipelines, services.tracking_uri, **{PARENT_RUN_VARIABLE: parent}))
    client.set_terminated(parent, "FINISHED")
    finish(alone)
    return {"client": client, "experiment_id": experiment_id, "parent": parent, "projects": (plain, shared),
            "services": services}  # fmt: skip


def _runs(logged):
    return logged["client"].search_runs([logged["experiment_id"]], max_results=1000)


def test_both_processes_log_into_one_experiment_with_a_child_run_per_model(logged):
    runs = _runs(logged)
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert len(parents) == 2
    assert logged["parent"] in {run.info.run_id for run in parents}
    for parent in parents:
        children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert sorted(run.info.run_name for run in children) == MODELS, parent.info.run_name
        assert all(run.info.status == "FINISHED" for run in children)
        assert all("test_accuracy" in run.data.metrics for run in children)


def test_sessions_sharing_a_parent_run_log_each_model_into_one_child(logged):
    """Training (one session) and evaluation (another) of a model end up in the same child run."""
    client, runs = logged["client"], _runs(logged)
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == logged["parent"]]
    assert len(children) == len(MODELS)
    for child in children:
        assert len(client.get_metric_history(child.info.run_id, "val_accuracy")) == 1  # trained in `scratch`
        assert 0.0 <= child.data.metrics["test_accuracy"] <= 1.0  # scored in `report`
        assert child.data.params["backbone"] == child.data.tags["model"]
    parent = client.get_run(logged["parent"])
    assert parent.info.run_name == "dag-like"  # named by its creator, not renamed by each session
    assert parent.data.tags["best_model"] in MODELS


def test_champion_alias_and_artifacts_are_served_by_the_tracking_server(logged, tmp_path):
    import mlflow

    client, runs = logged["client"], _runs(logged)
    version = client.get_model_version_by_alias("digits", "champion")
    child_ids = {run.info.run_id for run in runs if "mlflow.parentRunId" in run.data.tags}
    assert version.run_id in child_ids
    assert len(client.search_model_versions("name = 'digits'")) == 2  # one per parent run
    mlflow.set_tracking_uri(logged["services"].tracking_uri)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri="models:/digits@champion", dst_path=str(tmp_path)))
    finally:
        mlflow.set_tracking_uri(None)
    assert (local / "MLmodel").exists()
    for project in logged["projects"]:  # everything went over HTTP to the server's store
        assert not (project / "mlartifacts").exists() and not (project / "mlflow.db").exists()
    assert any(Path(logged["services"].state, "artifacts").rglob("MLmodel"))
