"""Tasks that share an orchestrator's parent run reuse a model's finished child run and close a dead attempt's.

Against a real (SQLite) MLflow store; the whole path through Airflow and a tracking server is tests/scale_out.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from image_classification.project.mlflow_shared_parent import (
    PARENT_RUN_VARIABLE,
    shared_child,
    use_shared_parent,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"  # created once: MLflow's migrations


@pytest.fixture
def client(store):
    from mlflow import MlflowClient

    return MlflowClient(store)


def _child(client, parent, name):
    tags = {"mlflow.parentRunId": parent.info.run_id}
    return client.create_run(parent.info.experiment_id, run_name=name, tags=tags).info.run_id


def test_a_finished_child_is_reused_and_a_running_one_is_marked_killed(client):
    experiment = client.create_experiment("children")
    parent = client.create_run(experiment, run_name="dag run")
    assert shared_child(client, parent.info, "scratch.basenet") is None  # none yet: the caller creates it

    finished = _child(client, parent, "scratch.basenet")
    client.set_terminated(finished, "FINISHED")
    dead = _child(client, parent, "scratch.cnn3_dropout")  # its task was killed: never ended
    other_parent = client.create_run(experiment, run_name="another run")
    elsewhere = _child(client, other_parent, "scratch.cnn3_dropout")

    assert shared_child(client, parent.info, "scratch.basenet") == finished
    assert shared_child(client, parent.info, "scratch.cnn3_dropout") is None
    assert client.get_run(dead).info.status == "KILLED"
    assert client.get_run(elsewhere).info.status == "RUNNING"  # another parent's child is left alone


def test_kedro_mlflow_is_pointed_at_the_named_parent_run_under_its_own_name(client, store, monkeypatch):
    import mlflow

    experiment = client.create_experiment("parent")
    parent = client.create_run(experiment, run_name="default · server · airflow manual-1")
    config = SimpleNamespace(tracking=SimpleNamespace(run=SimpleNamespace(id=None, name=None)))
    monkeypatch.delenv(PARENT_RUN_VARIABLE, raising=False)
    assert use_shared_parent(config) is False and config.tracking.run.id is None

    monkeypatch.setenv(PARENT_RUN_VARIABLE, parent.info.run_id)
    mlflow.set_tracking_uri(store)
    try:
        assert use_shared_parent(config) is True
    finally:
        mlflow.set_tracking_uri(None)
    assert config.tracking.run.id == parent.info.run_id
    assert config.tracking.run.name == "default · server · airflow manual-1"
