"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("IMAGE_CLASSIFICATION_SHARED", PROJECT_ROOT.parent / "shared"))

# Quieter TensorFlow logs in test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the project: real data sets and ImageNet weights (never copied into the repo)."""
    if not (SHARED_DIR / "README.md").is_file():
        pytest.skip(
            f"Real data not found at {SHARED_DIR}: put the shared folder beside the project "
            "or set IMAGE_CLASSIFICATION_SHARED to its path."
        )
    return SHARED_DIR


#: Test files and folders that take half a minute or more each (a whole `kedro run`, a benchmark, a browser session,
#: a subprocess on another backend), longest first.
SLOW_TESTS = (
    "e2e", "benchmarks", "notebooks", "browser", "robustness/test_checkpoints.py", "robustness/test_runs.py",
    "training/test_multi_device.py", "profiles", "pipelines/predict/test_serving.py", "test_model_plan.py",
    "test_housekeeping.py", "test_airflow_dag.py", "test_training.py",
)  # fmt: skip


def _slowness(item: pytest.Item) -> int:
    path = Path(item.path).relative_to(PROJECT_ROOT / "tests").as_posix()
    matches = [rank for rank, slow in enumerate(SLOW_TESTS) if path == slow or path.startswith(f"{slow}/")]
    return matches[0] if matches else len(SLOW_TESTS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow test files first: `make test` spreads files over two workers (pytest-xdist, --dist loadfile) in this
    order, so the longest files start at once instead of leaving one worker busy at the end. Order within a file is
    kept (the sort is stable), and no test depends on another file's."""
    items.sort(key=_slowness)
