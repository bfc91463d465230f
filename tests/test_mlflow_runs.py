"""The MLflow side of a run without a whole ``kedro run``: run names, the champion decision, and a project copied elsewhere logging into its own store (a real SQLite store, real files)."""

from __future__ import annotations

import shutil
from datetime import datetime
from types import SimpleNamespace

import pytest

from image_classification.project.mlflow_runs import parent_run_name
from image_classification.project.mlflow_store import (
    set_aside_moved_experiment,
    stale_artifact_root,
)
from image_classification.tracking.registry import alias_decision

WHEN = datetime(2026, 12, 1, 10, 15)


@pytest.mark.parametrize(
    ("pipelines", "env", "name"),
    [
        (None, None, "default · base · 2026-12-01 10:15"),
        (["__default__"], "local", "default · base · 2026-12-01 10:15"),
        (["ingest", "report"], "artworks", "ingest+report · artworks · 2026-12-01 10:15"),
        ("predict", None, "predict · base · 2026-12-01 10:15"),
    ],
)
def test_the_parent_run_is_named_after_pipelines_profile_and_time(pipelines, env, name):
    assert parent_run_name(pipelines, env, WHEN) == name


def _holder(accuracy: str | None, split: str | None):
    tags = {key: value for key, value in (("validation_accuracy", accuracy), ("test_split", split)) if value is not None}
    return SimpleNamespace(version="3", tags=tags)


def test_the_alias_moves_only_to_a_model_with_a_strictly_better_validation_accuracy_on_the_same_split():
    assert alias_decision(None, 0.5, "abc")[0]
    assert alias_decision(_holder("0.80", "abc"), 0.81, "abc")[0]
    assert not alias_decision(_holder("0.80", "abc"), 0.80, "abc")[0]
    assert not alias_decision(_holder("0.80", "abc"), 0.70, "abc")[0]
    takes, reason = alias_decision(_holder("0.50", "old"), 0.99, "new")
    assert not takes and "not compared" in reason and "old" in reason and "new" in reason


def test_only_another_folders_mlartifacts_counts_as_moved(tmp_path):
    assert stale_artifact_root(f"file://{tmp_path.resolve()}/mlartifacts", tmp_path) is None
    assert stale_artifact_root("/elsewhere/project/mlartifacts", tmp_path) == "/elsewhere/project/mlartifacts"
    assert stale_artifact_root("s3://bucket/mlartifacts", tmp_path) is None
    assert stale_artifact_root("/elsewhere/custom_root", tmp_path) is None


def test_a_copied_project_logs_into_its_own_mlartifacts_and_keeps_its_old_runs(tmp_path):
    from mlflow import MlflowClient

    original, copy = tmp_path / "original", tmp_path / "moved" / "copy"
    original.mkdir()
    client = MlflowClient(f"sqlite:///{original / 'mlflow.db'}")
    old_experiment = client.create_experiment("image_classification", artifact_location=str(original / "mlartifacts"))
    old_run = client.create_run(old_experiment).info.run_id
    client.log_metric(old_run, "test_accuracy", 0.75)
    client.set_terminated(old_run)
    shutil.copytree(original, copy)
    shutil.rmtree(original)  # nothing may still point there
    uri = f"sqlite:///{copy / 'mlflow.db'}"

    aside = set_aside_moved_experiment(uri, "image_classification", copy)

    moved = MlflowClient(uri)
    assert moved.get_experiment(old_experiment).name == aside != "image_classification"
    assert moved.get_run(old_run).data.metrics == {"test_accuracy": 0.75}
    assert moved.get_experiment_by_name("image_classification") is None  # kedro-mlflow creates it afresh:
    new_experiment = moved.create_experiment("image_classification", artifact_location=str(copy / "mlartifacts"))
    new_run = moved.create_run(new_experiment).info.run_id
    (tmp_path / "report.md").write_text("new run")
    moved.log_artifact(new_run, str(tmp_path / "report.md"), "reports")
    assert (copy / "mlartifacts" / new_run / "artifacts" / "reports" / "report.md").is_file()
    assert not original.exists()
    assert set_aside_moved_experiment(uri, "image_classification", copy) is None  # the next session: nothing to do
