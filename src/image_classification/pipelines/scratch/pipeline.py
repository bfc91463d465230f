"""The ``scratch`` pipeline: one namespaced training pipeline per model under ``scratch.models``."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from image_classification.pipelines.per_model import (
    bind_model_name,
    epoch_metrics_node,
    per_model_pipelines,
)
from image_classification.pipelines.scratch.nodes import train_scratch_model
from image_classification.project.model_plan import configured_models


def _one_model(name: str) -> Pipeline:
    return Pipeline(
        [
            node(
                bind_model_name(train_scratch_model, name),
                inputs=[
                    "images_train",
                    "images_val",
                    "class_names",
                    "params:model",
                    "params:shared_training",
                    "params:strategy_training",
                    "params:augmentation",
                ],
                outputs=["model", "history", "training_summary"],
                name="train_scratch_model",
            ),
            epoch_metrics_node(),
        ]
    )


def create_pipeline(model_names: list[str] | None = None, **kwargs) -> Pipeline:
    names = configured_models("scratch") if model_names is None else model_names
    return per_model_pipelines(
        "scratch",
        names,
        _one_model,
        shared_inputs={"images_train", "images_val", "class_names"},
        parameters=lambda name: {
            "params:model": f"params:scratch.models.{name}",
            "params:shared_training": "params:training",
            "params:strategy_training": "params:scratch.training",
            "params:augmentation": "params:preprocess.augmentation",
        },
    )
