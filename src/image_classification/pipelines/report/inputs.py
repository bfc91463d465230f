"""What the report's node modules share: the test split's images and labels and the per-model keyword inputs of cross-model nodes.

The number of models is only known when the pipeline is built, so the cross-model nodes take their per-model datasets
as keyword arguments (``**per_model``) named after the datasets: ``per_model_inputs`` builds the Kedro dict inputs
``{"<namespace>.<kind>": "<namespace>.<kind>"}`` and ``by_kind`` regroups the loaded values into ``{namespace: value}``
dicts, one per kind, before the plain functions from ``image_classification.reporting`` run.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def images_and_labels(images_test: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of the preprocess pipeline's test dict, labels as int64; ValueError when unusable."""
    if not isinstance(images_test, dict) or not {"images", "labels"} <= set(images_test):
        raise ValueError(
            "images_test must be the preprocess pipeline's dict {'images': uint8 (N, H, W, 3), 'labels': (N,)}; "
            "re-run `kedro run --pipeline preprocess`."
        )
    images, labels = (
        np.asarray(images_test["images"]),
        np.asarray(images_test["labels"]).astype(np.int64),
    )
    if images.shape[0] == 0:
        raise ValueError(
            "images_test is empty: the test split has no images. Check parameters_split.yml."
        )
    return images, labels


def per_model_inputs(model_names: list[str], *kinds: str) -> dict[str, str]:
    """Kedro dict inputs for the datasets ``<namespace>.<kind>``, each passed as the keyword argument of its name.

    ``per_model_inputs(["a.x", "b.y"], "evaluation")`` -> ``{"a.x.evaluation": "a.x.evaluation", "b.y.evaluation":
    "b.y.evaluation"}``; models keep the given order within each kind.
    """
    return {f"{model}.{kind}": f"{model}.{kind}" for kind in kinds for model in model_names}


def by_kind(per_model: dict[str, Any], *kinds: str) -> list[dict[str, Any]]:
    """Inverse of ``per_model_inputs``: one ``{namespace: value}`` dict per kind, in the order of ``kinds``."""
    grouped: dict[str, dict[str, Any]] = {kind: {} for kind in kinds}
    for dataset, value in per_model.items():
        namespace, _, kind = dataset.rpartition(".")
        if kind not in grouped or not namespace:
            raise ValueError(
                f"Unexpected report input '{dataset}': expected <namespace>.<kind> with kind one of {list(kinds)}."
            )
        grouped[kind][namespace] = value
    return list(grouped.values())
