"""Shared pieces of the scale-out tests: which interpreter can run the MLflow server and Airflow, and the services.

These tests need PostgreSQL's binaries and a Python with a PostgreSQL driver (the ``server`` extra) for the MLflow
server, and Airflow 3 (the ``airflow`` extra, ``make airflow-venv``) for the DAG. Without them they skip, saying which.
They take minutes (the DAG test 15-20 on 2 cores), so they also run only when asked for by their marker:
``pytest tests/scale_out -m scale_out``; ``make test`` and CI skip them.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from deploy import tracking_server

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_VENV = ROOT / ".venv-airflow"


def _has(python: Path, module: str) -> bool:
    if Path(python) == Path(sys.executable):
        return importlib.util.find_spec(module) is not None
    if not Path(python).exists():
        return False
    probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, check=False, timeout=120)
    return probe.returncode == 0


def server_python() -> Path | None:
    """An interpreter with MLflow and psycopg: this one (``pip install -e .[server]``) or ``.venv-airflow``'s."""
    for python in (Path(sys.executable), AIRFLOW_VENV / "bin" / "python"):
        if _has(python, "psycopg"):
            return python
    return None


def airflow_python() -> Path | None:
    """An interpreter with Airflow and the project: this one, or ``.venv-airflow``'s (``make airflow-venv``)."""
    for python in (Path(sys.executable), AIRFLOW_VENV / "bin" / "python"):
        if (python.parent / "airflow").exists() and _has(python, "airflow.sdk"):
            return python
    return None


def require_selected(config: pytest.Config) -> None:
    if "scale_out" not in (config.getoption("markexpr") or ""):
        pytest.skip("scale-out tests run only when selected: pytest tests/scale_out -m scale_out")


def require_server() -> Path:
    if not tracking_server.postgres_available():
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (Debian: apt-get install postgresql)")
    python = server_python()
    if python is None:
        pytest.skip("no PostgreSQL driver for the MLflow server: pip install -e '.[server]' (or make airflow-venv)")
    return python


@pytest.fixture(scope="module")
def services(request):
    """A throw-away PostgreSQL and MLflow server for the module, stopped at its end."""
    require_selected(request.config)
    python = require_server()
    # Not under pytest's tmp folders: those are private to root, and the database runs as an unprivileged user.
    state = Path(tempfile.mkdtemp(prefix="ic-services-"))
    with tracking_server.running(state, python=python) as running:  # removes the folder when it stops
        yield running
