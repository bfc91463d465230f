"""A project folder's MLflow store stays its own when the folder is moved or cloned with its runs.

MLflow writes the experiment's artifact location (``${project_root:}/mlartifacts``, conf/base/mlflow.yml) as an
absolute path into ``mlflow.db`` when it creates the experiment, and each run's artifact URI under it. A copy of the
project (``cp -r``, a clone carrying ``mlflow.db``) would then log its artifacts into the original folder. MLflow has
no API to change an experiment's artifact location, so at the start of each session, when the SQLite store's
experiment points at another folder's ``mlartifacts``, the stored paths under that old root (experiment, runs,
logged models, model versions) are re-rooted at this project's ``mlartifacts``: new runs land in the copy, and the
copied runs find their copied artifacts. Other stores (a tracking server, ``mlflow-artifacts:``) are left alone.
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

ARTIFACT_FOLDER = "mlartifacts"
#: (table, column) holding artifact paths in MLflow 3's SQL schema.
_PATH_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
)


def stale_artifact_root(artifact_location: str, project_root: Path) -> str | None:
    """The other folder's ``.../mlartifacts`` the experiment points at, or None when it is this project's (or not a
    local ``mlartifacts`` folder at all)."""
    location = artifact_location.removeprefix("file://").rstrip("/")
    wanted = (Path(project_root).resolve() / ARTIFACT_FOLDER).as_posix()
    if not location.startswith("/") or Path(location).name != ARTIFACT_FOLDER or location == wanted:
        return None
    return location


def rewrite_root(tracking_uri: str, old_root: str, new_root: str) -> int:
    """Replaces the path prefix ``old_root`` by ``new_root`` in every artifact path of a SQLite store.

    Returns:
        The number of rows changed.
    """
    import sqlalchemy  # noqa: PLC0415 - MLflow's own dependency

    changed = 0
    engine = sqlalchemy.create_engine(tracking_uri)
    with engine.begin() as connection:
        tables = set(sqlalchemy.inspect(connection).get_table_names())
        for table, column in _PATH_COLUMNS:
            if table not in tables:
                continue
            for prefix, replacement in ((old_root, new_root), (f"file://{old_root}", f"file://{new_root}")):
                statement = sqlalchemy.text(
                    f"UPDATE {table} SET {column} = :new || substr({column}, :cut) "  # noqa: S608 - fixed names
                    f"WHERE {column} = :old OR {column} LIKE :pattern"
                )
                result = connection.execute(
                    statement,
                    {"new": replacement, "cut": len(prefix) + 1, "old": prefix, "pattern": f"{prefix}/%"},
                )
                changed += result.rowcount or 0
    engine.dispose()
    return changed


def relocate_artifact_root(mlflow_config, project_root: Path) -> None:
    """Re-roots the experiment of kedro-mlflow's configuration at ``project_root/mlartifacts`` when it was moved."""
    tracking_uri = str(mlflow_config.server.mlflow_tracking_uri or "")
    experiment = getattr(mlflow_config.tracking.experiment, "_experiment", None)
    if not tracking_uri.startswith("sqlite:") or experiment is None:
        return
    old_root = stale_artifact_root(experiment.artifact_location, project_root)
    if old_root is None:
        return
    new_root = (Path(project_root).resolve() / ARTIFACT_FOLDER).as_posix()
    rows = rewrite_root(tracking_uri, old_root, new_root)
    experiment._artifact_location = new_root  # noqa: SLF001 - the cached copy kedro-mlflow starts the run with
    logger.warning(
        "The MLflow store came from %s: its artifact paths now point at %s (%d rows), so this project logs into "
        "its own folder.", Path(old_root).parent, new_root, rows,
    )
