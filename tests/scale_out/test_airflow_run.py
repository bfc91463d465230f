"""The DAG that ``kedro airflow create --group-by namespace`` writes, run by a real Airflow 3 scheduler.

``LocalExecutor`` with ``core.parallelism`` 2, Airflow's metadata and MLflow's store in one throw-away PostgreSQL,
the MLflow tracking server with ``--serve-artifacts`` (``deploy/airflow_local.py``). While the ``scratch`` task trains,
its process is killed with SIGKILL right after an epoch's checkpoint (so inside the next epoch); Airflow retries the
task. The DAG run must then succeed with exactly one finished MLflow child run per model (made by the report's
task: the killed training attempt leaves none behind), the retry resuming the killed model from its checkpoint, the latest saved version of each model a
complete one, and the same test accuracies as an uninterrupted ``kedro run`` with the same seed (within one test
image).

Needs Airflow (``make airflow-venv``); skips without it. About 6 minutes on 2 shared cores: not in CI.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from deploy import tracking_server
from tests.scale_out.conftest import airflow_python, require_selected, require_server
from tests.scale_out.test_tracking_server import OFF, server_project
from tests.scratch_project import kedro_env, make_scratch_project, run_kedro

pytestmark = [pytest.mark.scale_out, pytest.mark.e2e]

MODELS = ["scratch.basenet", "scratch.cnn3_dropout"]
KILLED = "scratch.cnn3_dropout"
PARAMETERS = {
    "preprocess": {"image_size": 32},
    "scratch": {"training": {"epochs": 3}, "models": {"basenet": {"input_size": 32},
                                                       "cnn3_dropout": {"input_size": 32}}},
    "transfer": {"models": {"mobilenet_v2": OFF, "mobilenet_v1_075": OFF}},
    "finetune": {"models": {"mobilenet_v2": OFF, "mobilenet_v1_075": OFF}},
    "report": {"bootstrap_samples": 50, "registry": {"model_name": "digits"}},
}  # fmt: skip


def _holders(path: Path) -> list[int]:
    """Processes with ``path`` open (the training process holds its checkpoint folder's lock)."""
    pids = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir()):
                pids.append(int(fd_dir.parent.name))
        except OSError:
            continue
    return pids


class Killer(threading.Thread):
    """SIGKILLs the process training ``namespace`` once it has checkpointed an epoch (so inside the next one)."""

    def __init__(self, project: Path, namespace: str) -> None:
        super().__init__(daemon=True)
        self.folder = project / "data" / "06_models" / "checkpoints" / namespace
        self.killed: int | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set() and self.killed is None:
            if (self.folder / "backup" / "history.json").exists():
                time.sleep(0.3)
                for pid in _holders((self.folder / "lock").resolve()):
                    os.kill(pid, signal.SIGKILL)
                    self.killed = pid
            time.sleep(0.1)


@pytest.fixture(scope="module")
def dag_run(request, tmp_path_factory):
    require_selected(request.config)
    python = airflow_python()
    if python is None:
        pytest.skip("Airflow 3 is not installed: make airflow-venv (the `airflow` extra in .venv-airflow)")
    require_server()
    import tempfile

    from deploy.airflow_local import LocalAirflow

    tmp = tmp_path_factory.mktemp("airflow")
    project = server_project(tmp / "dag", PARAMETERS)
    state = Path(tempfile.mkdtemp(prefix="ic-airflow-"))
    state.chmod(0o755)  # the database's unprivileged user works in state/services
    with tracking_server.running(state / "services", python=python) as services:
        airflow = LocalAirflow(project, services, state / "airflow", parallelism=2, bin_dir=python.parent)
        with airflow:
            killer = Killer(project, KILLED)
            killer.start()
            try:
                result = airflow.run_dag(timeout=2400)
            finally:
                killer.done.set()
        from mlflow import MlflowClient

        client = MlflowClient(services.tracking_uri)
        experiment = client.get_experiment_by_name("image_classification")
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        holder = client.get_model_version_by_alias("digits", "champion")
        yield {"result": result, "airflow": airflow, "runs": runs, "killed": killer.killed, "project": project,
               "champion": holder, "tmp": tmp}  # fmt: skip


def test_the_dag_runs_on_the_scheduler_with_one_task_per_strategy(dag_run):
    result = dag_run["result"]
    states = {task["task_id"]: task["state"] for task in result.tasks}
    assert result.state == "success", states
    assert set(states.values()) == {"success"}
    assert {"mlflow_parent_run", "scratch", "report", "mlflow_end_run"} <= set(states)


def test_the_killed_training_task_was_retried_and_the_others_ran_once(dag_run):
    result, logs = dag_run["result"], dag_run["airflow"].logs
    assert dag_run["killed"] is not None, "the training process was never seen checkpointing"
    assert result.attempts(logs, "scratch") == 2
    retry = result.log(logs, "scratch", attempt=2)
    assert "Resuming the interrupted run" in retry  # the killed model resumed from its checkpoint, not from scratch
    assert result.attempts(logs, "report") == 1


def test_one_finished_child_run_per_model_and_none_from_the_killed_attempt(dag_run):
    runs = dag_run["runs"]
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    # Child runs are made by the report's task (log_model_runs), after training: the killed training attempt made
    # none, so every child is a finished one, one per model.
    assert sorted(run.info.run_name for run in children) == MODELS
    assert all(run.info.status == "FINISHED" for run in children)
    assert dag_run["champion"].run_id in {run.info.run_id for run in children}


def test_the_latest_model_versions_are_complete(dag_run):
    import keras

    import image_classification.models.custom_layers  # noqa: F401 - registers the custom layers the models hold

    for namespace in MODELS:
        strategy, model = namespace.split(".")
        folder = dag_run["project"] / "data" / "06_models" / strategy / f"{model}.keras"
        latest = max(folder.iterdir(), key=lambda version: version.name)
        files = list(latest.iterdir())
        assert [file.name for file in files] == [f"{model}.keras"]  # no temporary file left beside it
        assert keras.saving.load_model(files[0]).count_params() > 0


def test_metrics_equal_an_uninterrupted_sequential_run_with_the_same_seed(dag_run):
    from mlflow import MlflowClient

    reference = make_scratch_project(dag_run["tmp"] / "sequential", digits=True, parameters=PARAMETERS)
    run_kedro(reference, "--pipelines", "ingest,split,preprocess,scratch,report", env=kedro_env(), timeout=1200)
    client = MlflowClient(f"sqlite:///{reference / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("image_classification")
    expected = {run.info.run_name: run.data.metrics["test_accuracy"]
                for run in client.search_runs([experiment.experiment_id]) if "mlflow.parentRunId" in run.data.tags}
    got = {run.info.run_name: run.data.metrics["test_accuracy"]
           for run in dag_run["runs"] if run.info.status == "FINISHED" and "mlflow.parentRunId" in run.data.tags}
    splits = pd.read_parquet(reference / "data" / "03_primary" / "splits.parquet")
    test_images = int((splits["split"] == "test").sum())
    assert sorted(got) == sorted(expected) == MODELS
    print({name: (got[name], expected[name]) for name in MODELS})  # noqa: T201 - the figures, shown with -rA
    for name in MODELS:
        assert abs(got[name] - expected[name]) <= 1 / test_images + 1e-9, (name, got[name], expected[name])
