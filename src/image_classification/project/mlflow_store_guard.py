"""The MLflow store is usable before a run starts, and runs left ``RUNNING`` by a killed ``kedro run`` are closed.

kedro-mlflow opens the store in its own hooks (``after_context_created`` sets the tracking URI and creates the
experiment, ``before_pipeline_run`` starts the run), where a locked or read-only SQLite file surfaces as SQLAlchemy's
raw "database is locked" or "attempt to write a readonly database". ``MlflowStoreHook`` runs first and says which
file, why, and what to do.

A run killed with ``-9`` never ends its MLflow run, which would stay ``RUNNING`` for ever. So every run is tagged with
the host and process that started it (``image_classification.host``, ``image_classification.pid`` and, on Linux, the
process's start time, so a reused pid is not mistaken for the run), and each new run marks ``KILLED`` the ``RUNNING``
runs of its experiment whose process is gone from this host, with their child runs. Runs from other hosts, and runs
without these tags (older ones, or started by other tools), are left alone however old: whether their process is alive
cannot be told from here, and a long training run may well last days; closing a live run would misreport it.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

from image_classification.project.mlflow_store import set_aside_moved_experiment

logger = logging.getLogger(__name__)

HOST_TAG = "image_classification.host"
PID_TAG = "image_classification.pid"
PROCESS_START_TAG = "image_classification.process_start"
PARENT_TAG = "mlflow.parentRunId"
#: How long to wait for another process's write to the store to end (MLflow's own writes take milliseconds).
LOCK_WAIT_S = 10.0
_CONFIG_HINT = "set server.mlflow_tracking_uri in conf/local/mlflow.yml to another store (e.g. sqlite:///<path>/mlflow.db)"


class MlflowStoreError(RuntimeError):
    """The MLflow store cannot record the run; raised before any node runs."""


class MlflowStoreCorruptError(MlflowStoreError):
    """The SQLite store is not a database, or a damaged one. Nothing is changed in it.

    Attributes:
        path: The store's file.
        reason: What SQLite said.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        aside = path.with_name(path.name + ".corrupt")
        super().__init__(
            f"The MLflow store {path} is damaged or not a database ({reason}), so MLflow cannot record the run. "
            f"It was left as it is. Move it aside (`mv {path} {aside}`): the next run starts a new, empty store "
            "there, and the runs in the old file can still be recovered from it (`sqlite3 "
            f"{aside} .recover`); or {_CONFIG_HINT}. Nothing was run."
        )


def sqlite_store_path(tracking_uri: str | None) -> Path | None:
    """The file of a ``sqlite:///`` tracking URI (relative ones from the current folder, as SQLAlchemy opens them);
    None for any other store."""
    if not tracking_uri or not tracking_uri.startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - MLflow's own dependency

    database = make_url(tracking_uri).database
    if not database or database == ":memory:":
        return None
    return Path(database).expanduser().absolute()


def check_store(tracking_uri: str | None, wait_s: float = LOCK_WAIT_S) -> None:
    """Raises ``MlflowStoreError`` when a SQLite store cannot be written: read-only, or locked for ``wait_s``.

    Other stores (a tracking server, a folder) are left to MLflow.
    """
    path = sqlite_store_path(tracking_uri)
    if path is None:
        return
    if not path.exists():
        folder = next((parent for parent in path.parents if parent.exists()), path.anchor)
        if not os.access(folder, os.W_OK):
            raise MlflowStoreError(_read_only(path, f"its folder {folder} cannot be written"))
        return  # MLflow creates it
    for target, what in ((path, "the file"), (path.parent, "its folder (SQLite writes a journal beside it)")):
        if not os.access(target, os.W_OK):
            raise MlflowStoreError(_read_only(path, f"{what} is not writable by this user"))
    connection = sqlite3.connect(path, timeout=wait_s)
    try:
        connection.execute("BEGIN IMMEDIATE")  # the write lock MLflow takes for every write
        connection.rollback()
        problems = [row[0] for row in connection.execute("PRAGMA quick_check(3)")]  # reads every page, writes none
        if problems != ["ok"]:
            raise MlflowStoreCorruptError(path, "; ".join(map(str, problems)))
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            raise MlflowStoreError(_locked(path, wait_s)) from error
        if "readonly" in str(error) or "read-only" in str(error):
            raise MlflowStoreError(_read_only(path, str(error))) from error
        if "malformed" not in str(error) and "not a database" not in str(error):
            raise
        raise MlflowStoreCorruptError(path, str(error)) from error
    except sqlite3.DatabaseError as error:  # "file is not a database", "database disk image is malformed"
        raise MlflowStoreCorruptError(path, str(error)) from error
    finally:
        connection.close()


def check_artifact_folder(location: str | None) -> None:
    """Raises ``MlflowStoreError`` when a local artifact folder cannot be written (checked before the run, not after
    every model has trained); other locations (``s3://``, ``http://``) are left to MLflow.
    """
    if not location:
        return
    if "://" in location:
        if not location.startswith("file://"):
            return
        location = location.removeprefix("file://")
    folder = Path(location).expanduser().absolute()
    fix = (
        f"Fix it (`mkdir -p {folder}` and `chmod u+w {folder}`, or move aside what is there), or set "
        "tracking.experiment.create_experiment_kwargs.artifact_location in conf/local/mlflow.yml to a writable "
        "folder. Nothing was run."
    )
    if folder.exists() and not folder.is_dir():
        raise MlflowStoreError(f"The MLflow artifact folder {folder} is not a folder, so no model could be logged. {fix}")
    existing = next((path for path in (folder, *folder.parents) if path.exists()), None)
    if existing is not None and not (existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)):
        what = "cannot be written" if existing == folder else f"cannot be created (in {existing}, not writable)"
        raise MlflowStoreError(
            f"The MLflow artifact folder {folder} {what} by this user, so no model could be logged at the end of "
            f"the run. {fix}"
        )


def configured_experiment_name(context: Any) -> str | None:
    """``tracking.experiment.name`` of the session's mlflow.yml."""
    try:
        config = context.config_loader["mlflow"] or {}
    except (MissingConfigException, KeyError):
        return None
    return ((config.get("tracking") or {}).get("experiment") or {}).get("name")


def configured_artifact_location(context: Any) -> str | None:
    """``tracking.experiment.create_experiment_kwargs.artifact_location`` of the session's mlflow.yml."""
    try:
        config = context.config_loader["mlflow"] or {}
    except (MissingConfigException, KeyError):
        return None
    experiment = (config.get("tracking") or {}).get("experiment") or {}
    return (experiment.get("create_experiment_kwargs") or {}).get("artifact_location")


def _locked(path: Path, wait_s: float) -> str:
    return (
        f"The MLflow store {path} is locked: another process has held its write lock for over {wait_s:g} s (another "
        "`kedro run` or `mlflow ui` / `mlflow server` on this file, or a tool with an open transaction). Wait for it "
        f"to finish or stop it, then run again; or {_CONFIG_HINT}. Nothing was run."
    )


def _read_only(path: Path, reason: str) -> str:
    return (
        f"The MLflow store {path} cannot be written ({reason}), so MLflow cannot record the run. Fix the "
        f"permissions (e.g. `chmod u+w {path} {path.parent}`, or run as the file's owner), or {_CONFIG_HINT}. "
        "Nothing was run."
    )


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux ``/proc``); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after the parenthesised command name


def process_alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` of this host still runs (and, given ``started``, is the same process)."""
    if os.name == "nt":  # os.kill would terminate it; never close a run we cannot check
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    now = process_start(pid)
    return started is None or now is None or now == started


def run_tags(pid: int | None = None) -> dict[str, str]:
    """The tags that let a later run tell whether this one's process is gone."""
    pid = os.getpid() if pid is None else pid
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(pid)}
    started = process_start(pid)
    if started is not None:
        tags[PROCESS_START_TAG] = started
    return tags


def close_dead_runs(client: Any, experiment_id: str, keep: str | None = None) -> list[str]:
    """Marks ``KILLED`` the ``RUNNING`` runs of the experiment whose process is gone from this host, and their
    children.

    Args:
        client: An ``mlflow.MlflowClient`` on the store.
        experiment_id: The experiment whose runs are looked at.
        keep: A run never to close (the one starting now).

    Returns:
        The ids of the runs closed.
    """
    running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=5000)
    host = socket.gethostname()
    dead = []
    for run in running:
        tags = run.data.tags
        if run.info.run_id == keep or tags.get(HOST_TAG) != host or not str(tags.get(PID_TAG, "")).isdigit():
            continue
        if not process_alive(int(tags[PID_TAG]), tags.get(PROCESS_START_TAG)):
            dead.append(run)
    dead_ids = {run.info.run_id for run in dead}
    children = [run for run in running if run.data.tags.get(PARENT_TAG) in dead_ids and run.info.run_id != keep]
    for run in [*dead, *children]:
        client.set_terminated(run.info.run_id, status="KILLED")
    for run in dead:
        logger.warning(
            "MLflow run '%s' (%s) was still RUNNING but its process %s on %s is gone (killed?): marked KILLED%s.",
            run.info.run_name, run.info.run_id, run.data.tags[PID_TAG], host,
            f" with {sum(child.data.tags.get(PARENT_TAG) == run.info.run_id for child in children)} child run(s)"
            if children else "",
        )  # fmt: skip
    return [run.info.run_id for run in [*dead, *children]]


def configured_tracking_uri(context: Any) -> str | None:
    """``server.mlflow_tracking_uri`` of the session's mlflow.yml (what kedro-mlflow will open), or the
    ``MLFLOW_TRACKING_URI`` it falls back to."""
    try:
        config = context.config_loader["mlflow"] or {}
    except (MissingConfigException, KeyError):
        config = {}
    uri = (config.get("server") or {}).get("mlflow_tracking_uri")
    return uri or os.environ.get("MLFLOW_TRACKING_URI")


class MlflowStoreHook:
    """Checks the store before kedro-mlflow opens it; tags each run and closes the runs of dead processes."""

    def __init__(self, lock_wait_s: float = LOCK_WAIT_S) -> None:
        self.lock_wait_s = lock_wait_s

    @hook_impl(tryfirst=True)  # before kedro-mlflow's hook sets the store up (and creates the experiment)
    def after_context_created(self, context) -> None:
        tracking_uri = configured_tracking_uri(context)
        check_store(tracking_uri, self.lock_wait_s)
        check_artifact_folder(configured_artifact_location(context))
        store = sqlite_store_path(tracking_uri)
        if store is not None and store.is_file():  # a store of this folder's, maybe copied from another
            set_aside_moved_experiment(tracking_uri, configured_experiment_name(context), Path(context.project_path))

    @hook_impl(trylast=True)  # after kedro-mlflow's hook has started this run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        import mlflow  # noqa: PLC0415 - projects without a run pay nothing

        run = mlflow.active_run()
        if run is None:  # tracking disabled for this pipeline
            return
        client = mlflow.MlflowClient()
        for key, value in run_tags().items():
            client.set_tag(run.info.run_id, key, value)
        close_dead_runs(client, run.info.experiment_id, keep=run.info.run_id)
