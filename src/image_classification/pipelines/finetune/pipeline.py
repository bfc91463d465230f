"""The ``finetune`` pipeline: one namespaced pipeline per model under ``finetune.models``.

Each reads ``transfer.<name>.model`` from the catalog, so ``kedro run --pipeline=finetune`` reuses the latest
trained transfer model.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from image_classification.pipelines.finetune.nodes import fine_tune_model
from image_classification.pipelines.per_model import per_model_pipelines, training_node
from image_classification.project.model_plan import current_model_plan

_INPUTS = [
    "transfer_model", "images_train", "images_val", "class_names", "params:model", "params:transfer_model",
    "training_blocks",
]  # fmt: skip


#: A transfer model on cached features also hands over its features (a linear head is refitted on train only).
_FROM_FEATURES = ["transfer_features", "params:linear_probe"]


def _one_model(name: str) -> Pipeline:
    from_features = _on_features(current_model_plan(), name)
    return Pipeline([training_node(fine_tune_model, name, _INPUTS + (_FROM_FEATURES if from_features else []))])


def _on_features(plan, name: str) -> bool:
    return plan.transfer_mode(name) == "feature_extraction"


def create_pipeline(model_names: list[str] | None = None, **kwargs) -> Pipeline:
    """Builds the ``finetune`` pipeline.

    Args:
        model_names: Models to fine-tune; default: the model plan's (``finetune.models``).
        **kwargs: Ignored; accepted for Kedro's pipeline discovery.

    Returns:
        Per model ``finetune.<name>``: ``collect_training_blocks`` and ``fine_tune_model`` (from
        ``transfer.<name>.model``), reading the image caches of the model's size (that of
        its transfer model: ``ModelPlan.images``).
    """
    plan = current_model_plan()
    return per_model_pipelines(
        "finetune",
        plan.finetune if model_names is None else model_names,
        _one_model,
        shared_inputs={"class_names"},
        parameters=lambda name: {
            "params:transfer_model": f"params:transfer.models.{name}",
            **({"params:linear_probe": "params:baseline.linear_probe"} if _on_features(plan, name) else {}),
        },
        model_inputs=lambda name: {
            "transfer_model": f"transfer.{name}.model",
            **({"transfer_features": f"transfer.{name}.features"} if _on_features(plan, name) else {}),
            **plan.images(f"finetune.{name}"),
        },  # fmt: skip
    )
