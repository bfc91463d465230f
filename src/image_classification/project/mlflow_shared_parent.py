"""One MLflow parent run for many ``kedro run`` sessions: the tasks of an orchestrator (the Airflow DAG).

On Airflow each task is its own ``KedroSession``. The DAG's first task creates the parent run and every task sets
``IMAGE_CLASSIFICATION_PARENT_RUN_ID`` to its id (deploy/airflow_dag_template.j2). ``MlflowRunsHook`` then has
kedro-mlflow reopen that run (under its own name) instead of starting one, and a model's tasks share its child run,
found by name under the parent. A child left ``RUNNING`` there belongs to an attempt that died (a task ends its
children when it ends, and one model's tasks never run at once): it is marked ``KILLED`` and the retry logs into a new
child, so each model ends with exactly one finished child run.
"""

from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger(__name__)

#: The parent run an orchestrator created for all its tasks (each a ``kedro run``).
PARENT_RUN_VARIABLE = "IMAGE_CLASSIFICATION_PARENT_RUN_ID"


def use_shared_parent(mlflow_config: Any) -> bool:
    """Points kedro-mlflow's configuration at the orchestrator's parent run, if one is named; True then."""
    parent = os.environ.get(PARENT_RUN_VARIABLE)
    if not parent:
        return False
    import mlflow  # noqa: PLC0415

    mlflow_config.tracking.run.id = parent
    mlflow_config.tracking.run.name = mlflow.MlflowClient().get_run(parent).info.run_name  # not renamed per task
    return True


def shared_child(client: Any, parent: Any, namespace: str) -> str | None:
    """The finished child run an earlier task made for ``namespace`` under ``parent`` (a ``RunInfo``), if any;
    children still ``RUNNING`` are a dead attempt's and are marked ``KILLED``."""
    runs = client.search_runs(
        [parent.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.run_id}' and attributes.run_name = '{namespace}'",
    )
    for run in runs:
        if run.info.status == "RUNNING":
            client.set_terminated(run.info.run_id, "KILLED")
            logger.warning("MLflow run %s of %s was left running by a dead task: marked KILLED.",
                           run.info.run_id, namespace)  # fmt: skip
    finished = [run for run in runs if run.info.status == "FINISHED"]
    return finished[0].info.run_id if finished else None
