"""Tasks that share an orchestrator's parent run: kedro-mlflow is pointed at it (a dead attempt's child runs are
closed by ``log_model_runs``: tests/tracking). Against a real (SQLite) MLflow store; the whole path through Airflow
and a tracking server is tests/scale_out.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from image_classification.project.mlflow_shared_parent import PARENT_RUN_VARIABLE, use_shared_parent


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"  # created once: MLflow's migrations


@pytest.fixture
def client(store):
    from mlflow import MlflowClient

    return MlflowClient(store)


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
