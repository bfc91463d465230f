"""Project pipelines: one per folder under ``pipelines/``; ``__default__`` runs the training ones in order.

Three folders stay out of ``__default__``:

* ``predict`` classifies new images with a model trained earlier.
* ``train_and_serve`` is kedro-mlflow's ``PipelineML`` (training steps of the ``predict.model`` model + the
  ``predict`` inference steps), which kedro-mlflow logs as a servable MLflow model at the end of the run. Adding a
  ``PipelineML`` to another pipeline (as ``sum`` does for ``__default__``) turns it back into a plain one.
* ``gan`` trains a DCGAN on the preprocessed images (docs/generative.md); it classifies nothing.

Their shape follows the model plan (``project/model_plan.py``), which ``ModelPlanHook`` sets from the session's
parameters before Kedro calls ``register_pipelines``.
"""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

NOT_IN_DEFAULT = frozenset({"__default__", "predict", "train_and_serve", "gan"})


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``kedro run --pipelines <names>`` makes ``find_pipelines`` import only those folders; ``__default__`` then
    holds the training ones among them.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipeline for name, pipeline in pipelines.items() if name not in NOT_IN_DEFAULT), Pipeline([])
    )
    return pipelines
