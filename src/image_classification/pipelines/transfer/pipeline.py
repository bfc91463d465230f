"""The ``transfer`` pipeline: one namespaced pipeline per backbone under ``transfer.models``."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from image_classification.models.transfer import MODES
from image_classification.pipelines.per_model import (
    bind_model_name,
    epoch_metrics_node,
    per_model_pipelines,
)
from image_classification.pipelines.transfer.nodes import (
    build_transfer_classifier,
    extract_backbone_features,
    train_head_on_features,
    train_transfer_end_to_end,
)
from image_classification.project.model_plan import configured_models, project_parameters


def _one_model(name: str, mode: str) -> Pipeline:
    if mode not in MODES:
        raise ValueError(f"transfer.models.{name}.mode '{mode}' is unknown. Allowed: {', '.join(MODES)}.")
    steps = [
        node(
            build_transfer_classifier,
            inputs=[
                "images_train", "class_names", "params:model", "params:augmentation", "params:shared_training",
                "params:strategy_training",
            ],
            outputs="untrained_model",
            name="build_transfer_classifier",
        )
    ]
    if mode == "feature_extraction":
        steps += [
            node(
                extract_backbone_features,
                inputs=["untrained_model", "images_train", "images_val", "params:shared_training", "params:strategy_training"],
                outputs="features",
                name="extract_backbone_features",
            ),
            node(
                bind_model_name(train_head_on_features, name),
                inputs=["untrained_model", "features", "params:model", "params:shared_training", "params:strategy_training"],
                outputs=["model", "history", "training_summary"],
                name="train_head_on_features",
            ),
        ]
    else:
        steps.append(
            node(
                bind_model_name(train_transfer_end_to_end, name),
                inputs=[
                    "untrained_model", "images_train", "images_val", "params:model", "params:shared_training",
                    "params:strategy_training",
                ],
                outputs=["model", "history", "training_summary"],
                name="train_transfer_end_to_end",
            )
        )
    return Pipeline([*steps, epoch_metrics_node()])


def create_pipeline(model_names: list[str] | None = None, **kwargs) -> Pipeline:
    names = configured_models("transfer") if model_names is None else model_names
    settings = (project_parameters().get("transfer") or {}).get("models") or {}
    return per_model_pipelines(
        "transfer",
        names,
        lambda name: _one_model(name, (settings.get(name) or {}).get("mode", "feature_extraction")),
        shared_inputs={"images_train", "images_val", "class_names"},
        parameters=lambda name: {
            "params:model": f"params:transfer.models.{name}",
            "params:shared_training": "params:training",
            "params:strategy_training": "params:transfer.training",
            "params:augmentation": "params:preprocess.augmentation",
        },
    )
