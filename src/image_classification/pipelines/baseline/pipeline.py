"""The ``baseline`` pipeline: one ``baseline.linear_probe.<backbone>`` per transfer model trained on cached features.

Each reads ``transfer.<backbone>.features`` (the embeddings the transfer head was fitted on) and gives ``probe``,
``history`` and ``training_summary``; the report evaluates it on the test split beside the models.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from image_classification.pipelines.baseline.nodes import fit_linear_probe
from image_classification.project.model_plan import BASELINE_PREFIX, current_model_plan


def create_pipeline(backbones: list[str] | None = None, **kwargs) -> Pipeline:
    """Builds the ``baseline`` pipeline.

    Args:
        backbones: Transfer models to probe; default: the model plan's transfer models in ``feature_extraction``
            mode (``ModelPlan.probed``).
        **kwargs: Ignored; accepted for Kedro's pipeline discovery.
    """
    names = current_model_plan().probed() if backbones is None else backbones
    pipelines = [
        Pipeline(
            [
                node(
                    fit_linear_probe,
                    inputs=["features", "class_names", "params:linear_probe"],
                    outputs=["probe", "history", "training_summary"],
                    name="fit_linear_probe",
                )
            ],
            namespace=f"{BASELINE_PREFIX}.{name}",
            inputs={"features": f"transfer.{name}.features", "class_names": "class_names"},
            parameters={"params:linear_probe": "params:baseline.linear_probe"},
            tags={"baseline", f"{BASELINE_PREFIX}.{name}"},
        )
        for name in names
    ]
    return sum(pipelines, Pipeline([]))
