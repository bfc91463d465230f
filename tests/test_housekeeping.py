"""Housekeeping a user notices: kedro commands leave tracked files alone, `make` reinstalls only for new
dependencies, `make mlflow-ui` is a light server, `kedro jupyter lab` starts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.browser.conftest import free_port, running_server
from tests.scratch_project import PROJECT_ROOT, kedro_env, make_scratch_project

MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="GNU make is not installed")


def test_kedro_telemetry_finds_the_committed_project_id_and_leaves_pyproject_alone(tmp_path):
    from kedro_telemetry.plugin import _get_or_create_project_id

    pyproject = tmp_path / "pyproject.toml"
    shutil.copy(PROJECT_ROOT / "pyproject.toml", pyproject)
    before = pyproject.read_bytes()

    project_id = _get_or_create_project_id(pyproject)

    assert project_id and project_id in before.decode()
    assert pyproject.read_bytes() == before


def test_a_kedro_command_with_telemetry_on_modifies_no_project_file(tmp_path):
    project = make_scratch_project(tmp_path / "project")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", project / "pyproject.toml")
    before = {path: path.read_bytes() for path in project.rglob("*") if path.is_file()}
    env = kedro_env()
    for variable in ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK"):
        env.pop(variable, None)
    env["HOME"] = str(tmp_path / "home")  # the telemetry's user id goes there, not into the real home

    subprocess.run(
        [str(Path(os.sys.executable).parent / "kedro"), "registry", "list"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip

    after = {path: path.read_bytes() for path in project.rglob("*") if path.is_file()}
    changed = sorted(str(path.relative_to(project)) for path in before if after.get(path) != before[path])
    assert not changed, f"kedro registry list modified {changed}"


def _copy_make_inputs(folder: Path) -> Path:
    folder.mkdir()
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy(PROJECT_ROOT / name, folder / name)
    return folder


def _install_commands(folder: Path) -> str:
    result = subprocess.run(
        [MAKE, "-n", "install", "VENV=venv"], cwd=folder, capture_output=True, text=True, check=True
    )
    return result.stdout


@needs_make
def test_make_reinstalls_when_dependencies_change_and_not_for_tool_settings(tmp_path):
    folder = _copy_make_inputs(tmp_path / "project")
    stamp = re.search(r"touch (venv/\.installed-\d+)", _install_commands(folder)).group(1)
    (folder / stamp).parent.mkdir(parents=True)
    (folder / stamp).touch()
    assert "pip install" not in _install_commands(folder), "installed and unchanged: nothing to do"

    with (folder / "pyproject.toml").open("a") as pyproject:  # what kedro-telemetry or a ruff setting would add
        pyproject.write('\n[tool.some_tool]\nsetting = "value"\n')
    assert "pip install" not in _install_commands(folder)

    pyproject = folder / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"tqdm==4.70.1"', '"tqdm==4.70.0"'))
    assert "pip install" in _install_commands(folder)

    (folder / "pyproject.toml").write_text((PROJECT_ROOT / "pyproject.toml").read_text())
    with (folder / "constraints.txt").open("a") as constraints:
        constraints.write("six==1.17.0\n")
    assert "pip install" in _install_commands(folder)


def _process_group(pgid: int) -> list[str]:
    members = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields after "(comm)": state, ppid, pgrp
            members.append((status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    return members


@needs_make
@pytest.mark.e2e
def test_make_mlflow_ui_starts_one_light_server(tmp_path):
    venv = Path(os.sys.executable).parent.parent
    folder = _copy_make_inputs(tmp_path / "project")
    stamp = re.search(r"touch venv/(\.installed-\d+)", _install_commands(folder)).group(1)
    if not (venv / stamp).exists():
        pytest.skip(f"{venv} was not installed by `make install` from these files (no {stamp})")
    port = free_port()
    command = [MAKE, "mlflow-ui", f"VENV={venv}", f"MLFLOW_PORT={port}"]
    with running_server(command, folder, kedro_env(), tmp_path / "mlflow.log") as server:
        server.wait_until_serving(f"http://127.0.0.1:{port}/health")
        processes = [command for command in _process_group(server.pid) if "python" in command.split()[0]]
    # mlflow's CLI and one uvicorn worker (besides make and its shell); MLflow's defaults start 4 workers and a
    # job runner, about 15 processes.
    assert len(processes) <= 2, processes
    assert (folder / "mlflow.db").exists()


@pytest.mark.e2e
def test_kedro_jupyter_lab_serves_the_project(tmp_path):
    project = make_scratch_project(tmp_path / "project")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", project / "pyproject.toml")
    shutil.copytree(PROJECT_ROOT / "notebooks", project / "notebooks")
    port = free_port()
    env = kedro_env(JUPYTER_DATA_DIR=str(tmp_path / "jupyter"), JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter_config"))
    command = [
        str(Path(os.sys.executable).parent / "kedro"), "jupyter", "lab", "--no-browser", f"--port={port}",
        "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1",
        *(["--allow-root"] if os.geteuid() == 0 else []),  # CI containers run as root, which Jupyter refuses
    ]  # fmt: skip
    with running_server(command, project, env, tmp_path / "jupyter.log") as server:
        server.wait_until_serving(f"http://127.0.0.1:{port}/lab")
        server.wait_until_serving(f"http://127.0.0.1:{port}/api/kernelspecs")
    kernels = list((tmp_path / "jupyter" / "kernels").glob("kedro_*"))
    assert kernels, "kedro jupyter lab installs the project's kernel"
