"""One MLflow parent run for many ``kedro run`` sessions: the tasks of an orchestrator (the Airflow DAG).

On Airflow each task is its own ``KedroSession``. The DAG's first task creates the parent run and every task sets
``IMAGE_CLASSIFICATION_PARENT_RUN_ID`` to its id (deploy/airflow_dag_template.j2). ``MlflowRunsHook`` then has
kedro-mlflow reopen that run (under its own name) instead of starting one. The models' child runs are made by the
report's task (``tracking.log_model_runs``); one left ``RUNNING`` by an attempt of it that died is marked ``KILLED``
and the retry logs into a new child, so each model ends with exactly one finished child run.
"""

from __future__ import annotations

import os
from typing import Any

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

