"""The ``transfer`` pipeline: one namespaced pipeline per backbone under ``transfer.models``."""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from image_classification.models.settings import MODES
from image_classification.pipelines.baseline.pipeline import create_pipeline as baseline_pipeline
from image_classification.pipelines.per_model import per_model_pipelines, training_node
from image_classification.pipelines.transfer.nodes import (
    build_transfer_classifier,
    extract_backbone_features,
    train_head_on_features,
    train_transfer_end_to_end,
)
from image_classification.project.model_plan import current_model_plan


def _one_model(name: str, mode: str) -> Pipeline:
    """``build_transfer_classifier``, then the training steps of ``mode``."""
    if mode not in MODES:
        raise ValueError(f"transfer.models.{name}.mode '{mode}' is unknown. Allowed: {', '.join(MODES)}.")
    build = node(
        update_wrapper(partial(build_transfer_classifier, model_name=name), build_transfer_classifier),
        inputs=["images_train", "class_names", "params:model", "params:augmentation", "training_blocks"],
        outputs="untrained_model",
        name="build_transfer_classifier",
    )
    if mode == "feature_extraction":
        steps = [
            node(
                update_wrapper(partial(extract_backbone_features, model_name=name), extract_backbone_features),
                inputs=["untrained_model", "images_train", "images_val", "training_blocks"],
                outputs="features",
                name="extract_backbone_features",
            ),
            training_node(
                train_head_on_features,
                name,
                ["untrained_model", "features", "training_blocks", "params:linear_probe", "params:model"],
            ),
        ]
    else:
        inputs = ["untrained_model", "images_train", "images_val", "training_blocks"]
        steps = [training_node(train_transfer_end_to_end, name, inputs)]
    return Pipeline([build, *steps])


def create_pipeline(model_names: list[str] | None = None, **kwargs) -> Pipeline:
    """Builds the ``transfer`` pipeline.

    Args:
        model_names: Models to train; default: the model plan's (``transfer.models``). Each model's ``mode``
            comes from the plan.
        **kwargs: Ignored; accepted for Kedro's pipeline discovery.

    Returns:
        Per model ``transfer.<name>``: ``collect_training_blocks``, ``build_transfer_classifier``, and the steps of
        its mode, reading the image caches of the model's size (``ModelPlan.images``); and
        for each model on cached features its linear probe, ``baseline.linear_probe.<name>`` (the ``baseline``
        pipeline).

    Raises:
        ValueError: A model's ``mode`` is unknown.
    """
    plan = current_model_plan()
    names = plan.transfer if model_names is None else model_names
    # The floor comes with the head: each transfer model on cached features gets its linear probe.
    probes = baseline_pipeline([name for name in names if plan.transfer_mode(name) == "feature_extraction"])
    return probes + per_model_pipelines(
        "transfer",
        names,
        lambda name: _one_model(name, plan.transfer_mode(name)),
        shared_inputs={"class_names"},
        parameters=lambda name: {
            "params:augmentation": "params:preprocess.augmentation",
            # Read by the head's fit on cached features only.
            **({"params:linear_probe": "params:baseline.linear_probe"} if plan.transfer_mode(name) == "feature_extraction" else {}),
        },
        model_inputs=lambda name: plan.images(f"transfer.{name}"),
    )
