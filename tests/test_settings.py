"""Settings: the MLflow store is the project's, whichever project folder Kedro is started from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from image_classification.settings import CONFIG_LOADER_ARGS, project_root

from .scratch_project import make_scratch_project, run_kedro


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = make_scratch_project(tmp_path / "project")
    (project / "notebooks").mkdir()
    return project


@pytest.mark.parametrize("start_in", [".", "notebooks"])
def test_mlflow_store_and_artifacts_are_in_the_project_root(project: Path, monkeypatch, start_in: str) -> None:
    monkeypatch.chdir(project / start_in)
    mlflow = OmegaConfigLoader(conf_source=str(project / "conf"), **CONFIG_LOADER_ARGS)["mlflow"]
    assert mlflow["server"]["mlflow_tracking_uri"] == f"sqlite:///{project}/mlflow.db"
    assert mlflow["tracking"]["experiment"]["create_experiment_kwargs"]["artifact_location"] == f"{project}/mlartifacts"


def test_outside_any_project_the_root_is_the_current_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert project_root() == os.fspath(tmp_path)


@pytest.mark.e2e
def test_kedro_run_from_notebooks_writes_the_projects_store(project: Path) -> None:
    run_kedro(project / "notebooks", "--pipelines", "ingest")
    assert (project / "mlflow.db").is_file() and (project / "mlartifacts").is_dir()
    assert not (project / "notebooks" / "mlflow.db").exists()
