"""The pipeline as an Airflow 3 DAG on a real scheduler: LocalExecutor, metadata in PostgreSQL, MLflow server.

    make airflow-venv                          # once: .venv-airflow with Airflow 3.3.2 and the project (extra `airflow`)
    .venv-airflow/bin/python -m deploy.airflow_local [--project DIR] [--parallelism 2] [--keep]

Starts a throw-away PostgreSQL and MLflow server (``deploy.tracking_server``), migrates Airflow's metadata database
(the ``airflow`` database of that PostgreSQL), writes the DAG with
``kedro airflow create --env server --group-by namespace -j deploy/airflow_dag_template.j2``, starts Airflow's API
server, DAG processor and scheduler (``LocalExecutor``, ``core.parallelism`` 2), triggers one DAG run and waits for it,
prints each task's state, try and duration, and stops everything (``--keep`` leaves it running for the UIs).

Run from the interpreter of ``.venv-airflow`` (the one with Airflow, kedro-airflow, the project and psycopg).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from deploy import tracking_server

REPOSITORY = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).with_name("airflow_dag_template.j2")
DAG_ID = "image-classification"
KEDRO_ENV = "server"
_FINAL = {"success", "failed"}


@dataclass
class DagRunResult:
    """One DAG run: its state, wall time (Airflow's start and end of the DAG run) and its tasks."""

    run_id: str
    state: str
    wall_s: float
    tasks: list[dict] = field(default_factory=list)

    def attempts(self, logs: Path, task_id: str) -> int:
        """How many times ``task_id`` was started (one log file per attempt)."""
        folder = logs / f"dag_id={DAG_ID}" / f"run_id={self.run_id}" / f"task_id={task_id}"
        return len(list(folder.glob("attempt=*.log")))

    def log(self, logs: Path, task_id: str, attempt: int) -> str:
        """The log of one attempt of ``task_id``."""
        path = logs / f"dag_id={DAG_ID}" / f"run_id={self.run_id}" / f"task_id={task_id}" / f"attempt={attempt}.log"
        return path.read_text()


def _json(output: str) -> list[dict]:
    """The JSON list an ``airflow ... -o json`` command printed after its warnings (logged to stdout too)."""
    lines = output.splitlines()
    start = max((i for i, line in enumerate(lines) if line.startswith("[")), default=None)
    return [] if start is None else json.loads("\n".join(lines[start:]))


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class LocalAirflow:
    """Airflow's API server, DAG processor and scheduler for ``project``, on ``services``' PostgreSQL."""

    def __init__(self, project: Path, services: tracking_server.Services, home: Path, parallelism: int = 2,
                 extra_env: dict[str, str] | None = None, bin_dir: Path | None = None) -> None:  # fmt: skip
        self.project, self.home, self.parallelism = Path(project), Path(home), parallelism
        self.bin = Path(bin_dir or Path(sys.executable).parent)  # where `airflow` and `kedro` are
        self.api_port = tracking_server.free_port()
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            **services.environment(),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(tracking_server.free_port()),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "1",
            "KEDRO_PROJECT_PATH": str(self.project),
            "KEDRO_DISABLE_TELEMETRY": "true",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            **(extra_env or {}),
        }
        self.env.pop("KEDRO_ENV", None)

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def airflow(self, *arguments: str, timeout: float = 300) -> str:
        result = subprocess.run([str(self.bin / "airflow"), *arguments], env=self.env, capture_output=True,
                                text=True, timeout=timeout, check=False)  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(arguments)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def write_dag(self) -> Path:
        """``kedro airflow create`` into Airflow's DAG folder (kedro-mlflow needs the server while it loads)."""
        result = subprocess.run(
            [str(self.bin / "kedro"), "airflow", "create", "--env", KEDRO_ENV, "--group-by", "namespace",
             "-j", str(TEMPLATE), "-t", str(self.home / "dags")],
            cwd=self.project, env=self.env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"kedro airflow create failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return self.home / "dags" / f"image_classification_{KEDRO_ENV}_dag.py"

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate", timeout=600)
        self.write_dag()
        for component in (["api-server"], ["dag-processor"], ["scheduler"]):
            log = (self.home / f"{component[0]}.log").open("ab")
            self.processes.append(subprocess.Popen([str(self.bin / "airflow"), *component], env=self.env,
                                                   cwd=self.project, stdout=log, stderr=subprocess.STDOUT,
                                                   start_new_session=True))  # fmt: skip
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            listed = _json(self.airflow("dags", "list", "-o", "json"))
            if any(dag["dag_id"] == DAG_ID for dag in listed):
                return
            self._check_alive()
            time.sleep(3)
        raise TimeoutError(f"the DAG {DAG_ID} was not parsed within 300 s (see {self.home}/dag-processor.log)")

    def _check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[1]} exited ({process.returncode}); see {self.home}")

    def run_dag(self, timeout: float = 3600, on_poll: Callable[[], None] | None = None) -> DagRunResult:
        """Triggers one DAG run and waits for it to succeed or fail."""
        run_id = f"manual-{datetime.now():%Y%m%dT%H%M%S}"
        self.airflow("dags", "unpause", DAG_ID)
        self.airflow("dags", "trigger", DAG_ID, "--run-id", run_id)
        deadline, state, run = time.monotonic() + timeout, "queued", {}
        while time.monotonic() < deadline:
            if on_poll is not None:
                on_poll()
            runs = _json(self.airflow("dags", "list-runs", DAG_ID, "-o", "json"))
            run = next((run for run in runs if run["run_id"] == run_id), run)
            state = run.get("state", state)
            if state in _FINAL:
                break
            self._check_alive()
            time.sleep(2 if on_poll else 15)
        else:
            raise TimeoutError(f"DAG run {run_id} still {state} after {timeout:.0f} s")
        tasks = _json(self.airflow("tasks", "states-for-dag-run", DAG_ID, run_id, "-o", "json"))
        starts = [_parse_time(task.get("start_date")) for task in tasks]
        ends = [_parse_time(task.get("end_date")) for task in tasks]
        starts, ends = [t for t in starts if t], [t for t in ends if t]
        began, ended = _parse_time(run.get("start_date")), _parse_time(run.get("end_date"))
        if began and ended:  # the DAG run as Airflow recorded it: from its start to its last task's end
            wall = (ended - began).total_seconds()
        else:
            wall = (max(ends) - min(starts)).total_seconds() if starts and ends else float("nan")
        return DagRunResult(run_id, state, wall, tasks)

    def stop(self) -> None:
        for process in reversed(self.processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)  # the component and the workers it started
            except ProcessLookupError:
                continue
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes = []

    def __enter__(self) -> LocalAirflow:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def task_seconds(task: dict) -> float | None:
    start, end = _parse_time(task.get("start_date")), _parse_time(task.get("end_date"))
    return (end - start).total_seconds() if start and end else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=REPOSITORY, help="the Kedro project (default: this one)")
    parser.add_argument("--state", type=Path, default=Path("/tmp/image-classification-airflow"),
                        help="working folder for PostgreSQL, MLflow's artifacts and AIRFLOW_HOME (removed at the end)")
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the services running after the DAG run")
    args = parser.parse_args(argv)
    services = tracking_server.start(args.state / "services")
    airflow = LocalAirflow(args.project, services, args.state / "airflow", args.parallelism)
    try:
        airflow.start()
        print(f"Airflow UI {airflow.ui}   MLflow UI {services.tracking_uri}", flush=True)  # noqa: T201
        result = airflow.run_dag()
        for task in sorted(result.tasks, key=lambda t: t.get("start_date") or ""):
            seconds = task_seconds(task)
            print(f"{task['task_id']:40} {task['state']:10} tries {result.attempts(airflow.logs, task['task_id'])}"  # noqa: T201
                  f"  {seconds if seconds is None else round(seconds, 1)} s")
        print(f"DAG run {result.run_id}: {result.state} in {result.wall_s:.0f} s", flush=True)  # noqa: T201
        if args.keep:
            print("Left running; stop with: kill the Airflow processes "  # noqa: T201
                  f"{[p.pid for p in airflow.processes]} and python -m deploy.tracking_server stop "
                  f"--state {args.state / 'services'}")
            return
    finally:
        if not args.keep:
            airflow.stop()
            tracking_server.stop(args.state / "services")
    sys.exit(0 if result.state == "success" else 1)


if __name__ == "__main__":
    main()
