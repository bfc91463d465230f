"""The ``train_and_serve`` pipeline: kedro-mlflow's ``PipelineML`` for the model named in ``predict.model``.

The training steps that produce that model (ingest, split, preprocess and its strategy, from the training
pipelines' own ``create_pipeline``), then the ``predict`` inference steps, which kedro-mlflow logs as a servable
MLflow model at the end of the run (see ``predict.pipeline.create_serving_pipeline``). A folder of its own, so that
``kedro run --pipelines train_and_serve`` finds it like any other pipeline.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from image_classification.pipelines import finetune, ingest, preprocess, scratch, split, transfer
from image_classification.pipelines.predict import create_serving_pipeline

#: Every pipeline a model's training steps may come from, upstream first.
TRAINING_PIPELINES = (ingest, split, preprocess, scratch, transfer, finetune)


def create_pipeline(**kwargs) -> Pipeline:
    """Builds ``train_and_serve`` for the model plan's ``predict.model``.

    Args:
        **kwargs: Ignored; accepted for Kedro's pipeline discovery.

    Returns:
        A ``PipelineML``: keep it registered on its own, since adding it to another pipeline makes it a plain one.
    """
    training = sum((module.create_pipeline() for module in TRAINING_PIPELINES), Pipeline([]))
    return create_serving_pipeline(training)
