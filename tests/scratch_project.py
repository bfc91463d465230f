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

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def make_scratch_project(workdir: Path, local_files: dict[str, str] | None = None) -> Path:
    """Copies the project's configuration into ``workdir``; ``local_files`` (name -> YAML text) go to conf/local."""
    workdir = Path(workdir)
    shutil.copytree(PROJECT_ROOT / "conf", workdir / "conf", ignore=shutil.ignore_patterns("local"))
    (workdir / "conf" / "local").mkdir()
    for name, text in (local_files or {}).items():
        (workdir / "conf" / "local" / name).write_text(text)
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
