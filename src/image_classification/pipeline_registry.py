"""Project pipelines: one per folder under ``pipelines/``; ``__default__`` runs the training ones in order.

Two entries differ from the folders:

* ``predict`` is left out of ``__default__``: it classifies new images with a model trained earlier.
* ``train_and_serve`` is built here: kedro-mlflow's ``PipelineML`` (training steps of the ``predict.model`` model +
  the ``predict`` inference steps), which kedro-mlflow logs as a servable MLflow model at the end of the run.
"""

from kedro.framework.project import find_pipelines
from kedro.framework.project import pipelines as project_pipelines
from kedro.pipeline import Pipeline

from image_classification.pipelines.predict import create_serving_pipeline

SERVING_PIPELINE = "train_and_serve"
NOT_IN_DEFAULT = frozenset({"__default__", "predict"})


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    _find_every_folder_for(SERVING_PIPELINE)
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipeline for name, pipeline in pipelines.items() if name not in NOT_IN_DEFAULT), Pipeline([])
    )
    # Registered on its own, never summed: adding a PipelineML to another pipeline (as `sum` does for __default__)
    # turns it back into a plain Pipeline, and kedro-mlflow would log no model.
    pipelines[SERVING_PIPELINE] = create_serving_pipeline(pipelines["__default__"])
    return pipelines


def _find_every_folder_for(name: str) -> None:
    """Makes ``find_pipelines`` import every folder when ``kedro run --pipelines <name>`` asks for ``name``.

    Kedro 1.7 imports only the folders named on the command line and raises for other names; ``name`` is no folder
    but is built from the training folders, so it needs them all.
    """
    requested = getattr(project_pipelines, "_requested_pipelines", None)
    if requested and name in requested:
        project_pipelines.set_requested(None)
