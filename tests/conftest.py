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


#: Test folders whose files each take a minute or more (a whole `kedro run`, a benchmark, a browser session).
SLOW_FOLDERS = ("e2e", "notebooks", "benchmarks", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow test files first: `make test` spreads files over two workers (pytest-xdist, --dist loadfile) in this
    order, so the longest files start at once instead of leaving one worker busy at the end. Order within a file is
    kept, and no test depends on another file's."""
    items.sort(key=lambda item: Path(item.path).relative_to(PROJECT_ROOT / "tests").parts[0] not in SLOW_FOLDERS)
