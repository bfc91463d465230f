"""A throw-away PostgreSQL and an MLflow tracking server on it, for the ``server`` Kedro environment (conf/server).

    python -m deploy.tracking_server start [--state DIR]   # prints the variables to export (also in DIR/env.sh)
    python -m deploy.tracking_server stop  [--state DIR]

``start`` runs ``initdb`` in ``DIR/pgdata``, starts PostgreSQL on a free port of 127.0.0.1 with two databases
(``mlflow`` for the tracking server, ``airflow`` for Airflow's metadata), then ``mlflow server`` with that database
as backend store and ``--serve-artifacts`` (artifacts under ``DIR/artifacts``, served over HTTP to every client).
``initdb`` and ``postgres`` refuse to run as root: as root, the database runs as the unprivileged system user
``postgres`` (Debian's PostgreSQL package creates it) or, without one, as ``image-classification-db``, created here.
``stop`` ends the MLflow server and PostgreSQL it started (by their process ids) and removes ``DIR``.

The MLflow server needs a PostgreSQL driver: ``pip install -e ".[server]"`` (psycopg 3, pinned in pyproject.toml).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_STATE = Path(os.environ.get("IC_SERVICES_DIR", "/tmp/image-classification-services"))
FALLBACK_DB_USER = "image-classification-db"
DATABASES = ("mlflow", "airflow")
_PG_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


@dataclass
class Services:
    """What ``start`` launched: enough for ``stop`` and for clients (also written to ``DIR/services.json``)."""

    state: str
    pg_port: int
    mlflow_port: int
    mlflow_pid: int
    db_user: str

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def database_uri(self, database: str, driver: str = "psycopg") -> str:
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.pg_port}/{database}"

    def environment(self) -> dict[str, str]:
        """Variables for clients: kedro-mlflow (``--env server``) and Airflow's metadata database."""
        return {
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_uri("airflow", "psycopg2"),
        }


def pg_binary(name: str) -> str:
    """``initdb``, ``pg_ctl``, ...: from PATH, else Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    for folder in _PG_BIN_DIRS:
        if Path(folder, name).exists():
            return str(Path(folder, name))
    raise FileNotFoundError(f"{name} not found: install PostgreSQL (Debian: apt-get install postgresql)")


def postgres_available() -> bool:
    try:
        pg_binary("initdb")
        pg_binary("pg_ctl")
    except FileNotFoundError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _db_account() -> pwd.struct_passwd:
    """The account PostgreSQL runs as: this one, unless root (which ``initdb`` refuses)."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in (os.environ.get("IC_DB_OS_USER"), "postgres", FALLBACK_DB_USER):
        if not name:
            continue
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_DB_USER], check=True
    )
    return pwd.getpwnam(FALLBACK_DB_USER)


def _as(account: pwd.struct_passwd, command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Runs ``command`` as ``account`` (root switches user; anyone else is already that user)."""
    switch = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []} if os.geteuid() == 0 else {}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp", "LC_ALL": "C.UTF-8"}
    result = subprocess.run(command, env=env, check=False, capture_output=True, text=True, **switch, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed as {account.pw_name}:\n{result.stdout}\n{result.stderr}")
    return result


def _wait_for(url: str, seconds: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own local server
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds:.0f} s")


def start(state: Path = DEFAULT_STATE, mlflow_port: int | None = None, python: Path | None = None) -> Services:
    """Starts PostgreSQL and the MLflow server (run by ``python``, default this interpreter: it needs MLflow and
    psycopg); raises when ``state`` already holds running services."""
    state = Path(state)
    if (state / "services.json").exists():
        raise FileExistsError(f"{state} already holds services: stop them first (python -m deploy.tracking_server stop)")
    account = _db_account()
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o755)  # the database user must reach its folders inside
    closed = [folder for folder in state.resolve().parents if not os.stat(folder).st_mode & 0o001]
    if closed and os.geteuid() == 0:
        raise PermissionError(f"{account.pw_name} cannot reach {state}: {closed[0]} is closed to other users")
    pgdata, sockets = state / "pgdata", state / "sockets"
    for folder in (pgdata, sockets):
        folder.mkdir(exist_ok=True)
        os.chown(folder, account.pw_uid, account.pw_gid)
    pgdata.chmod(0o700)
    pg_port = free_port()
    _as(account, [pg_binary("initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync"])  # fmt: skip
    options = f"-p {pg_port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    _as(account, [pg_binary("pg_ctl"), "-D", str(pgdata), "-o", options, "-l", str(sockets / "postgres.log"),
                  "-w", "-t", "60", "start"])  # fmt: skip
    try:
        for database in DATABASES:
            _as(account, [pg_binary("createdb"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", database])
        services = Services(str(state), pg_port, mlflow_port or free_port(), 0, account.pw_name)
        (state / "artifacts").mkdir(exist_ok=True)
        log = (state / "mlflow.log").open("ab")
        process = subprocess.Popen(
            [str(python or sys.executable), "-m", "mlflow", "server",
             "--backend-store-uri", services.database_uri("mlflow"),
             "--serve-artifacts", "--artifacts-destination", str(state / "artifacts"),
             "--host", "127.0.0.1", "--port", str(services.mlflow_port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )  # fmt: skip
        services.mlflow_pid = process.pid
        (state / "services.json").write_text(json.dumps(asdict(services)))
        _wait_for(f"{services.tracking_uri}/health", 120, process)
    except BaseException:
        stop(state)
        raise
    (state / "env.sh").write_text("".join(f"export {k}={v}\n" for k, v in services.environment().items()))
    return services


def load(state: Path = DEFAULT_STATE) -> Services | None:
    path = Path(state) / "services.json"
    return Services(**json.loads(path.read_text())) if path.exists() else None


def stop(state: Path = DEFAULT_STATE) -> None:
    """Stops what ``start`` launched in ``state`` (the MLflow server's process group, then PostgreSQL)."""
    state = Path(state)
    services = load(state)
    if services is not None and services.mlflow_pid:
        try:
            os.killpg(services.mlflow_pid, signal.SIGTERM)  # the server and its uvicorn worker, started by us
            for _ in range(50):
                os.killpg(services.mlflow_pid, 0)
                time.sleep(0.2)
            os.killpg(services.mlflow_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pgdata = state / "pgdata"
    if (pgdata / "postmaster.pid").exists():
        account = pwd.getpwuid(pgdata.stat().st_uid)
        _as(account, [pg_binary("pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"])
    shutil.rmtree(state, ignore_errors=True)


@contextmanager
def running(state: Path, mlflow_port: int | None = None, python: Path | None = None) -> Iterator[Services]:
    """``start`` ... ``stop``, for tests and scripts."""
    services = start(state, mlflow_port, python)
    try:
        yield services
    finally:
        stop(state)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("start", "stop", "env"))
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help=f"working folder (default {DEFAULT_STATE})")
    parser.add_argument("--port", type=int, default=None, help="the MLflow server's port (default: a free one)")
    args = parser.parse_args(argv)
    if args.action == "stop":
        stop(args.state)
        return
    services = start(args.state, args.port) if args.action == "start" else load(args.state)
    if services is None:
        sys.exit(f"no services in {args.state}")
    for key, value in services.environment().items():
        print(f"export {key}={value}")  # noqa: T201 - eval "$(... start)" in a shell
    print(f"# MLflow UI: {services.tracking_uri}   stop: python -m deploy.tracking_server stop --state {args.state}",  # noqa: T201
          file=sys.stderr)


if __name__ == "__main__":
    main()
