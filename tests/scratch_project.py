"""A scratch copy of the project for tests that run ``kedro run`` as a user would, keeping the repository's data/ clean.

The copy holds ``conf/`` (without the developer's ``conf/local``), ``pyproject.toml`` and an empty ``src/`` (Kedro
insists on the folder); the package itself comes from ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]


# The fastest real data for runs that test the plumbing rather than the study: the bundled digits (no mirroring:
# digits are not symmetric). Tests add their own settings over these (``parameters=``).
DIGITS = {
    "ingest": {"source": {"type": "bundled", "name": "digits"}},
    "preprocess": {"image_size": 16, "augmentation": {"flip": None}},
    "predict": {"images_dir": "data/01_raw/digits"},
}


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _deep_merge(merged[key], value) if isinstance(merged.get(key), dict) else value
    return merged


def make_scratch_project(
    workdir: Path,
    local_files: dict[str, str] | None = None,
    *,
    parameters: dict[str, Any] | None = None,
    digits: bool = False,
) -> Path:
    """Copies the project's configuration into ``workdir``.

    Args:
        workdir: The new project folder.
        local_files: File name -> YAML text, written to conf/local.
        parameters: Written to conf/local/parameters.yml (over ``DIGITS`` with ``digits``).
        digits: Run on the bundled digits (``DIGITS``) instead of the default paintings.
    """
    workdir = Path(workdir)
    shutil.copytree(PROJECT_ROOT / "conf", workdir / "conf", ignore=shutil.ignore_patterns("local"))
    (workdir / "conf" / "local").mkdir()
    for name, text in (local_files or {}).items():
        (workdir / "conf" / "local" / name).write_text(text)
    if parameters or digits:
        merged = _deep_merge(DIGITS if digits else {}, parameters or {})
        (workdir / "conf" / "local" / "parameters.yml").write_text(yaml.safe_dump(merged, sort_keys=False))
    shutil.copy(PROJECT_ROOT / "pyproject.toml", workdir / "pyproject.toml")
    (workdir / "src").mkdir()
    return workdir


def kedro_env(**overrides: str) -> dict[str, str]:
    """This process's environment with the package on the path, no telemetry, quiet TensorFlow and no profile."""
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT / "src"),
        "KEDRO_DISABLE_TELEMETRY": "true",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    env.pop("KEDRO_ENV", None)  # a profile set in the caller's shell would change the run
    env.update(overrides)
    return env


def run_kedro(
    workdir: Path, *arguments: str, env: dict[str, str] | None = None, check: bool = True, timeout: int = 900
) -> subprocess.CompletedProcess:
    """``kedro run <arguments>`` in ``workdir``; with ``check`` a failure fails the test with the output's tail."""
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "run", *arguments],
        cwd=workdir,
        env=kedro_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert result.returncode == 0, (
            f"kedro run {' '.join(arguments)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result
