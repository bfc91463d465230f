"""What the benchmark smoke tests share: the photos they run on and how a script is run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_DIR

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


BUNDLED_PAINTINGS = Path(__file__).resolve().parents[2] / "src" / "image_classification" / "bundled" / "impressionists"


@pytest.fixture(scope="module")
def tiny_photos(tmp_path_factory) -> Path:
    """Real images in one folder per class: ../shared's 40 cats and dogs, else two bundled painters (60 paintings)."""
    folder = SHARED_DIR / "datasets" / "cats_dogs_tiny"
    if folder.is_dir():
        return folder
    two_painters = tmp_path_factory.mktemp("two_painters")
    for painter in ("Monet", "VanGogh"):  # 2 classes, so the benchmarks' small --limit still splits by class
        shutil.copytree(BUNDLED_PAINTINGS / painter, two_painters / painter)  # copies: ingest follows no symlink
    return two_painters


@pytest.fixture(scope="module")
def shared_tiny_photos(shared_dir: Path) -> Path:
    """../shared's 40 cats and dogs: the accuracy study knows that set by name."""
    return shared_dir / "datasets" / "cats_dogs_tiny"


def run_script(script: str, *arguments: str, tmp_path: Path) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KEDRO_DISABLE_TELEMETRY": "true"}
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result.stdout


def assert_described(stdout: str, results: Path, section: str) -> None:
    assert "- Machine: " in stdout and "- Load average (1/5/15 min): " in stdout and "- Command: `python " in stdout
    text = results.read_text()
    assert f"<!-- {section}:start -->" in text and f"<!-- {section}:end -->" in text
