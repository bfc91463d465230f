"""Runs that fail, follow each other or carry secrets: ``kedro run`` in a subprocess on a scratch copy.

One module fixture makes three runs in the same copy: a good one (ingest, split, preprocess), one that fails inside
a node after saving some outputs, and one with a wrong parameter that must stop before any node. Each test reads
what they left behind.
"""

from __future__ import annotations

import hashlib
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog

from image_classification.models.backbones import BACKBONES
from tests.scratch_project import kedro_env, make_scratch_project, run_kedro

pytestmark = pytest.mark.e2e
BUNDLED_PAINTERS = Path(__file__).resolve().parents[2] / "src" / "image_classification" / "bundled" / "impressionists"

GOOD = ("--pipelines", "ingest,split,preprocess", "--params", "preprocess.image_size=16")
# No class has 100000 images: select_classes fails after ingest saved its outputs (a data-dependent failure
# that no up-front check can see).
FAILS_MID_WAY = ("--pipelines", "ingest,split", "--params", "split.selection.min_images_per_class=100000")
WRONG_PARAMETER = ("--params", "transfer.models.mobilenet_v2.backbone=resnet5000")


@dataclass
class Runs:
    workdir: Path
    secrets: list[str]
    good: subprocess.CompletedProcess
    failed: subprocess.CompletedProcess
    wrong: subprocess.CompletedProcess
    after_good: dict[str, str]  # data file -> sha256, after the good run
    after_failed: dict[str, str]  # the same after the run that failed mid-way


def _kedro(workdir: Path, arguments: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_kedro(workdir, *arguments, env=env, check=False, timeout=300)


def _output(result: subprocess.CompletedProcess) -> str:
    return " ".join((result.stdout + result.stderr).split())  # Rich may still wrap long lines


def _data_files(workdir: Path) -> dict[str, str]:
    """sha256 of every versioned output (data/01_raw holds the acquired images, not versions)."""
    return {
        path.relative_to(workdir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((workdir / "data").rglob("*"))
        if path.is_file() and "01_raw" not in path.parts
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory, project_root) -> Runs:
    values = [secrets.token_hex(16) for _ in range(3)]
    credentials = f"kaggle:\n  username: user{values[0]}\n  key: {values[1]}\n  api_token: KGAT_{values[2]}\n"
    workdir = make_scratch_project(tmp_path_factory.mktemp("robust_project"), {"credentials.yml": credentials})
    env = {key: value for key, value in kedro_env().items() if not key.startswith(("KAGGLE_", "MLFLOW_"))}
    env["COLUMNS"] = "250"  # fewer wrapped log lines
    good = _kedro(workdir, GOOD, env)
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-5000:]
    after_good = _data_files(workdir)
    failed = _kedro(workdir, FAILS_MID_WAY, env)
    after_failed = _data_files(workdir)
    wrong = _kedro(workdir, WRONG_PARAMETER, env)
    return Runs(workdir, values, good, failed, wrong, after_good, after_failed)


def _versions(workdir: Path, dataset_path: str) -> list[str]:
    return sorted(folder.name for folder in (workdir / "data" / dataset_path).iterdir())


def _catalog(workdir: Path, monkeypatch) -> DataCatalog:
    monkeypatch.chdir(workdir)  # the catalog's paths are relative to the project
    return DataCatalog.from_config(OmegaConfigLoader(str(workdir / "conf"), default_run_env="local")["catalog"])


def test_a_wrong_parameter_fails_before_any_node_with_the_allowed_values(runs):
    output = _output(runs.wrong)
    assert runs.wrong.returncode != 0
    assert "RunParametersError" in output and "transfer.models.mobilenet_v2.backbone = 'resnet5000'" in output
    assert ", ".join(BACKBONES) in output  # the backbones it may be
    assert "Completed node" not in output and "Running node" not in output
    assert _data_files(runs.workdir) == runs.after_failed  # nothing saved
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{runs.workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("image_classification")
    statuses = [run.info.status for run in client.search_runs([experiment.experiment_id])]
    assert sorted(statuses) == ["FAILED", "FINISHED"]  # no MLflow run opened (and left dangling) for it


def test_a_failed_run_leaves_every_earlier_version_intact_and_loadable(runs, monkeypatch):
    failed = _output(runs.failed)  # select_classes names the selection and the class sizes
    assert runs.failed.returncode != 0 and "ValueError" in failed and "split.selection.min_images_per_class" in failed
    assert "'Cezanne': 30" in failed
    assert "Completed node: build_manifest" in _output(runs.failed)  # it failed after saving outputs
    for name, digest in runs.after_good.items():
        assert runs.after_failed[name] == digest, f"{name} changed"
    first = _versions(runs.workdir, "02_intermediate/manifest.parquet")[0]
    catalog = _catalog(runs.workdir, monkeypatch)
    manifest = catalog.load("manifest", version=first)
    splits = catalog.load("splits", version=first)
    assert len(manifest) == len(splits) > 0 and set(splits["split"]) == {"train", "val", "test"}
    assert catalog.load("class_names", version=first) == sorted(path.name for path in BUNDLED_PAINTERS.iterdir() if path.is_dir())
    for split in ("train", "val", "test"):
        arrays = catalog.load(f"images_{split}", version=first)
        assert arrays["images"].shape[1:] == (16, 16, 3) and len(arrays["labels"]) == (splits["split"] == split).sum()


def test_two_runs_in_a_row_never_overwrite_each_others_versions(runs, monkeypatch):
    versions = _versions(runs.workdir, "02_intermediate/manifest.parquet")
    assert len(versions) == 2 and _versions(runs.workdir, "08_reporting/validation_report.csv") == versions
    assert len(_versions(runs.workdir, "03_primary/splits.parquet")) == 1  # the second run never got there
    catalog = _catalog(runs.workdir, monkeypatch)
    first, second = (catalog.load("manifest", version=version) for version in versions)
    assert first.equals(second)  # both complete, side by side


def test_credentials_never_reach_mlflow_params_tags_logs_or_files(runs):
    from mlflow.tracking import MlflowClient

    assert "Kaggle credentials taken from credentials.yml" in _output(runs.good)  # the secrets were loaded
    client = MlflowClient(tracking_uri=f"sqlite:///{runs.workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("image_classification")
    mlflow_runs = client.search_runs([experiment.experiment_id])
    assert len(mlflow_runs) == 2 and mlflow_runs[0].data.params  # params and tags were logged
    logged = [
        f"{key}={value}" for run in mlflow_runs for key, value in {**run.data.params, **run.data.tags}.items()
    ]
    outputs = [result.stdout + result.stderr for result in (runs.good, runs.failed, runs.wrong)]
    # Every file the runs wrote (MLflow's database, ./mlartifacts, data/, any log), conf/local aside.
    files = [path for path in runs.workdir.rglob("*") if path.is_file() and "local" not in path.parts]
    assert any("mlartifacts" in path.parts for path in files)
    for secret in runs.secrets:
        assert not any(secret in text for text in logged + outputs)
        leaked = [path for path in files if secret.encode() in path.read_bytes()]
        assert not leaked, f"secret found in {leaked}"
