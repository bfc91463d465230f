"""The ``scratch`` pipeline: one namespaced training pipeline per model under ``scratch.models``."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from image_classification.pipelines.per_model import per_model_pipelines, training_node
from image_classification.pipelines.scratch.nodes import train_scratch_model
from image_classification.project.model_plan import current_model_plan

_INPUTS = ["images_train", "images_val", "class_names", "params:model", "training_blocks", "params:augmentation"]


def _one_model(name: str) -> Pipeline:
    return Pipeline([training_node(train_scratch_model, name, _INPUTS)])


def create_pipeline(model_names: list[str] | None = None, **kwargs) -> Pipeline:
    """Builds the ``scratch`` pipeline.

    Args:
        model_names: Models to train; default: the model plan's (``scratch.models``).
        **kwargs: Ignored; accepted for Kedro's pipeline discovery.

    Returns:
        Per model ``scratch.<name>``: ``collect_training_blocks`` and ``train_scratch_model``, reading the image
        caches of the model's size (``ModelPlan.images``).
    """
    plan = current_model_plan()
    return per_model_pipelines(
        "scratch",
        plan.scratch if model_names is None else model_names,
        _one_model,
        shared_inputs={"class_names"},
        parameters=lambda name: {"params:augmentation": "params:preprocess.augmentation"},
        model_inputs=lambda name: plan.images(f"scratch.{name}"),
    )
