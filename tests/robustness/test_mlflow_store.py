"""Issue 14 case 14: a locked or read-only ``mlflow.db`` is named with the fix before kedro-mlflow opens it, and a
run killed with -9 does not stay ``RUNNING`` for ever: the next run marks it ``KILLED`` (only if its process is gone).

Real SQLite stores written by MLflow itself; one is created per module and copied per test (creating one runs
MLflow's migrations, which takes seconds).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
from types import SimpleNamespace

import mlflow
import pytest

from image_classification import settings
from image_classification.project.mlflow_store_guard import (
    HOST_TAG,
    PARENT_TAG,
    PID_TAG,
    PROCESS_START_TAG,
    MlflowStoreError,
    MlflowStoreHook,
    check_store,
    run_tags,
)

EXPERIMENT = "image_classification"


@pytest.fixture(scope="module")
def template_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("template")
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    client.create_experiment(EXPERIMENT, artifact_location=str(folder / "mlartifacts"))
    return folder / "mlflow.db"


@pytest.fixture
def store(template_store, tmp_path):
    """A copy of a real MLflow store with one experiment: (path, tracking URI)."""
    path = tmp_path / "project" / "mlflow.db"
    path.parent.mkdir()
    shutil.copy(template_store, path)
    return path, f"sqlite:///{path}"


def _context(uri: str) -> SimpleNamespace:
    """What the hook reads of a Kedro context: the session's mlflow.yml."""
    return SimpleNamespace(config_loader={"mlflow": {"server": {"mlflow_tracking_uri": uri}}})


def test_the_hook_is_registered_checks_first_and_tags_after_kedro_mlflow_started_the_run():
    assert any(isinstance(hook, MlflowStoreHook) for hook in settings.HOOKS)
    assert MlflowStoreHook.after_context_created.kedro_impl["tryfirst"]
    assert MlflowStoreHook.before_pipeline_run.kedro_impl["trylast"]


def test_a_locked_store_names_the_file_and_what_holds_it(store):
    path, uri = store
    holder = sqlite3.connect(path, isolation_level=None)  # another process's open write transaction
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(MlflowStoreError) as caught:
            MlflowStoreHook(lock_wait_s=0.2).after_context_created(_context(uri))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    message = str(caught.value)
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)  # SQLite's "database is locked"
    assert str(path) in message and "`kedro run`" in message and "`mlflow ui`" in message  # what may hold it
    assert "server.mlflow_tracking_uri" in message and "conf/local/mlflow.yml" in message
    check_store(uri, wait_s=0.2)  # released: the store is usable again


def test_a_write_that_ends_within_the_wait_is_waited_for(store):
    path, uri = store
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        check_store(uri, wait_s=30)
    finally:
        release.join()
        holder.close()


@pytest.mark.skipif(
    os.geteuid() == 0,
    reason="running as root: chmod 444 does not stop root from writing, so the store is not read-only here",
)
@pytest.mark.parametrize("read_only", ["file", "folder"])
def test_a_read_only_store_names_the_file_and_the_fix(store, read_only):
    path, uri = store
    target = path if read_only == "file" else path.parent
    mode = target.stat().st_mode
    target.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH | (stat.S_IXUSR if read_only == "folder" else 0))
    try:
        with pytest.raises(MlflowStoreError) as caught:
            MlflowStoreHook().after_context_created(_context(uri))
    finally:
        target.chmod(mode)
    message = str(caught.value)
    assert f"chmod u+w {path}" in message  # the file, in the command that fixes it
    assert "server.mlflow_tracking_uri" in message and "conf/local/mlflow.yml" in message


def test_other_stores_are_left_to_mlflow(tmp_path):
    check_store(None)
    check_store("http://127.0.0.1:5000")
    check_store(f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}")  # not there yet: MLflow creates it


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_runs_of_dead_processes_on_this_host_are_marked_killed_when_the_next_run_starts(store):
    _, uri = store
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    host, dead_pid = socket.gethostname(), str(_dead_pid())

    def run(name: str, **tags: str) -> str:
        return client.create_run(experiment, run_name=name, tags=tags).info.run_id

    killed = run("killed -9", **{HOST_TAG: host, PID_TAG: dead_pid})
    child = run("transfer.mobilenet_v2", **{PARENT_TAG: killed})
    reused = run("pid reused", **{HOST_TAG: host, PID_TAG: str(os.getpid()), PROCESS_START_TAG: "1"})
    alive = run("still running", **run_tags())  # this very process
    elsewhere = run("other host", **{HOST_TAG: "elsewhere.example", PID_TAG: dead_pid})
    untagged = run("untagged")
    finished = run("finished", **{HOST_TAG: host, PID_TAG: dead_pid})
    client.set_terminated(finished, "FINISHED")

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(experiment_id=experiment, run_name="next") as new:  # as kedro-mlflow starts it
            MlflowStoreHook().before_pipeline_run({}, None, None)
    finally:
        mlflow.set_tracking_uri(previous)

    status = {run_id: client.get_run(run_id).info.status for run_id in
              (killed, child, reused, alive, elsewhere, untagged, finished, new.info.run_id)}  # fmt: skip
    assert status == {
        killed: "KILLED", child: "KILLED", reused: "KILLED",  # process gone (or its pid now another process's)
        alive: "RUNNING", elsewhere: "RUNNING", untagged: "RUNNING",  # alive, or cannot be checked from here
        finished: "FINISHED", new.info.run_id: "FINISHED",
    }  # fmt: skip
    tags = client.get_run(new.info.run_id).data.tags
    assert tags[HOST_TAG] == host and tags[PID_TAG] == str(os.getpid())  # so the run after this one can tell
