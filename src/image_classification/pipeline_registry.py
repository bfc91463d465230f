"""Project pipelines: one per folder under ``pipelines/``; ``__default__`` runs the training ones in order.

Five folders stay out of ``__default__``:

* ``predict`` classifies new images with a model trained earlier.
* ``train_and_serve`` is kedro-mlflow's ``PipelineML`` (training steps of the ``predict.model`` model + the
  ``predict`` inference steps), which kedro-mlflow logs as a servable MLflow model at the end of the run. Adding a
  ``PipelineML`` to another pipeline (as ``sum`` does for ``__default__``) turns it back into a plain one.
* ``gan`` trains a DCGAN on the preprocessed images (docs/generative.md); it classifies nothing.
* ``study`` repeats the comparison over k folds (its own ingest, decoding and folds): a run of its own.
* ``baseline`` (the linear probes) is part of ``transfer`` already; alone it refits the probes on the cached features.

Their shape follows the model plan (``project/model_plan.py``), which ``ModelPlanHook`` sets from the session's
parameters before Kedro calls ``register_pipelines``.
"""

from importlib import resources

from kedro.framework import project
from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from image_classification.project.model_plan import reading_conf_once

NOT_IN_DEFAULT = frozenset({"__default__", "predict", "train_and_serve", "gan", "study", "baseline"})


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``kedro run --pipelines <names>`` makes ``find_pipelines`` import only those folders; ``__default__`` then
    holds the training ones among them.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    check_requested_pipelines(getattr(project.pipelines, "_requested_pipelines", None))
    with reading_conf_once():  # outside a session, conf/ is read once, not once per pipeline
        pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipeline for name, pipeline in pipelines.items() if name not in NOT_IN_DEFAULT), Pipeline([])
    )
    return pipelines


class UnknownPipelineError(ValueError):
    """``--pipelines`` names a pipeline the project does not have.

    Attributes:
        unknown: The names asked for that do not exist.
        valid: Every pipeline name ``--pipelines`` takes.
    """

    def __init__(self, unknown: list[str], valid: list[str]) -> None:
        self.unknown, self.valid = unknown, valid
        super().__init__(  # a ValueError, not a KeyError: Kedro would replace a KeyError with its own message
            f"No pipeline named {', '.join(map(repr, unknown))}. Valid --pipelines names: "
            f"{', '.join(valid)} (several comma-separated; no --pipelines runs __default__)."
        )


def pipeline_names() -> list[str]:
    """The pipelines ``--pipelines`` takes: one per folder of ``pipelines/``, and ``__default__``."""
    package = resources.files("image_classification.pipelines")
    folders = [entry.name for entry in package.iterdir() if entry.is_dir() and (entry / "pipeline.py").is_file()]
    return ["__default__", *sorted(folders)]


def check_requested_pipelines(requested: list[str] | None) -> None:
    """Raises ``UnknownPipelineError`` naming the unknown ones and the valid ones, before anything is imported."""
    valid = pipeline_names()
    unknown = [name for name in requested or () if name not in valid]
    if unknown:
        raise UnknownPipelineError(unknown, valid)
