"""The ``finetune`` pipeline: one namespaced pipeline per model under ``finetune.models``.

Each reads ``transfer.<name>.model`` from the catalog, so ``kedro run --pipeline=finetune`` reuses the latest
trained transfer model.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from image_classification.pipelines.finetune.nodes import fine_tune_model
from image_classification.pipelines.per_model import (
    bind_model_name,
    epoch_metrics_node,
    per_model_pipelines,
)
from image_classification.project.model_plan import configured_models


def _one_model(name: str) -> Pipeline:
    return Pipeline(
        [
            node(
                bind_model_name(fine_tune_model, name),
                inputs=[
                    "transfer_model",
                    "images_train",
                    "images_val",
                    "params:model",
                    "params:transfer_model",
                    "params:shared_training",
                    "params:strategy_training",
                ],
                outputs=["model", "history", "training_summary"],
                name="fine_tune_model",
            ),
            epoch_metrics_node(),
        ]
    )


def create_pipeline(model_names: list[str] | None = None, **kwargs) -> Pipeline:
    names = configured_models("finetune") if model_names is None else model_names
    return per_model_pipelines(
        "finetune",
        names,
        _one_model,
        shared_inputs={"images_train", "images_val"},
        parameters=lambda name: {
            "params:model": f"params:finetune.models.{name}",
            "params:transfer_model": f"params:transfer.models.{name}",
            "params:shared_training": "params:training",
            "params:strategy_training": "params:finetune.training",
        },
        model_inputs=lambda name: {"transfer_model": f"transfer.{name}.model"},
    )
