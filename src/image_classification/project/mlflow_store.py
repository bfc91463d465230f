"""A project folder moved or copied with its MLflow store logs its new runs into its own folder.

MLflow writes the experiment's artifact location (``${project_root:}/mlartifacts``, conf/base/mlflow.yml) as an
absolute path into ``mlflow.db`` when it creates the experiment. A copy of the project (``cp -r``, a clone carrying
``mlflow.db``) would then log its artifacts into the original folder. MLflow's API cannot change an experiment's
artifact location, so when the SQLite store's experiment points at another folder's ``mlartifacts`` it is renamed
``<name> (moved from <old folder>)`` before kedro-mlflow opens the store, and kedro-mlflow creates the experiment
afresh at this project's ``mlartifacts``. The old runs keep their metrics, parameters and tags, and read their
artifacts where they were logged. (A tracking server with ``--serve-artifacts`` keeps artifact paths relative to the
server, so nothing of this is needed there: see docs/scale_out.md.)
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

ARTIFACT_FOLDER = "mlartifacts"


def stale_artifact_root(artifact_location: str, project_root: Path) -> str | None:
    """The other folder's ``.../mlartifacts`` the experiment points at, or None when it is this project's (or not a
    local ``mlartifacts`` folder at all)."""
    location = artifact_location.removeprefix("file://").rstrip("/")
    wanted = (Path(project_root).resolve() / ARTIFACT_FOLDER).as_posix()
    if not location.startswith("/") or Path(location).name != ARTIFACT_FOLDER or location == wanted:
        return None
    return location


def set_aside_moved_experiment(tracking_uri: str | None, experiment_name: str | None, project_root: Path) -> str | None:
    """Renames the experiment ``experiment_name`` of a local SQLite store when it logs into another folder.

    Returns:
        The experiment's new name, or None when nothing was moved (another kind of store, no such experiment yet,
        or one that already logs into this project's ``mlartifacts``).
    """
    if not experiment_name or not str(tracking_uri or "").startswith("sqlite:"):
        return None
    from mlflow import MlflowClient  # noqa: PLC0415 - only for a SQLite store

    client = MlflowClient(str(tracking_uri))
    experiment = client.get_experiment_by_name(experiment_name)
    old_root = None if experiment is None else stale_artifact_root(experiment.artifact_location, project_root)
    if old_root is None:
        return None
    aside = f"{experiment_name} (moved from {Path(old_root).parent})"
    number = 1
    while client.get_experiment_by_name(aside if number == 1 else f"{aside} {number}") is not None:
        number += 1
    aside = aside if number == 1 else f"{aside} {number}"
    client.rename_experiment(experiment.experiment_id, aside)
    logger.warning(
        "The MLflow experiment '%s' logged its artifacts into %s, another folder's: it is now named '%s' (its runs "
        "kept), and this project's runs go to a new '%s' logging into %s.",
        experiment_name, old_root, aside, experiment_name, Path(project_root).resolve() / ARTIFACT_FOLDER,
    )  # fmt: skip
    return aside
