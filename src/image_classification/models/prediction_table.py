"""What a classifier answers for a table of images: the top-k labels and probabilities of each row.

Shared by ``kedro run --pipelines predict`` and both served models (a run's child-run pyfunc and ``train_and_serve``),
so a folder and an HTTP request get the same columns: the input's own columns (``file``), ``label_1,
probability_1, ..., label_k, probability_k``, then ``problem`` ("" when classified, else why the row was skipped).
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from image_classification.data.encoded_images import FILE_COLUMN, IMAGE_COLUMN, PROBLEM_COLUMN

#: What serving needs installed, pinned to the versions that logged the model (``--env-manager local`` ignores them).
SERVING_DISTRIBUTIONS = (
    "mlflow", "kedro", "kedro-datasets", "kedro-mlflow", "keras", "tensorflow-cpu", "tensorflow", "numpy", "pandas",
    "pillow",
)  # fmt: skip
#: The request parameter that overrides how many labels a served model returns.
TOP_K_PARAM = "predict.top_k"


def top_k_table(rows: pd.DataFrame, probabilities: np.ndarray, class_names: list[str], top_k: int) -> pd.DataFrame:
    """``rows`` with the ``top_k`` most probable classes of each usable row, most probable first.

    Args:
        rows: One row per input image, with ``problem`` ("" for a usable one) and any columns to keep (``file``).
        probabilities: (M, classes) for the M usable rows, in table order.
        class_names: Names of the model's classes; index i names class i.
        top_k: Labels per row (at most the number of classes).

    Returns:
        ``rows`` with ``label_i`` and ``probability_i`` (rounded to 6 decimals) inserted before ``problem``; None in
        the skipped rows (empty cells in a CSV, ``null`` in served JSON).

    Raises:
        ValueError: ``probabilities`` has not one row per usable row.
    """
    usable = (rows[PROBLEM_COLUMN] == "").to_numpy()
    if int(usable.sum()) != len(probabilities):
        raise ValueError(f"{len(probabilities)} rows of probabilities for {int(usable.sum())} usable images.")
    k = min(int(top_k), len(class_names))
    ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    table = rows.drop(columns=[PROBLEM_COLUMN]).reset_index(drop=True)
    for rank in range(k):
        best = ranked[:, rank]
        scores = np.round(probabilities[np.arange(len(best)), best].astype(float), 6)
        table[f"label_{rank + 1}"] = _spread(usable, [class_names[index] for index in best])
        table[f"probability_{rank + 1}"] = _spread(usable, scores.tolist())
    table[PROBLEM_COLUMN] = rows[PROBLEM_COLUMN].to_numpy()
    return table


def _spread(usable: np.ndarray, values: list[Any]) -> pd.Series:
    """``values`` at the usable rows and None elsewhere (None, not NaN: empty in a CSV, ``null`` in JSON)."""
    if usable.all():
        return pd.Series(values)
    spread = np.full(len(usable), None, dtype=object)
    spread[usable] = values
    return pd.Series(spread, dtype=object)


def serving_signature(top_k: int) -> Any:
    """A served classifier's signature: input ``image`` (base64, required) and ``file`` (optional, echoed back);
    output the columns of :func:`top_k_table`; ``predict.top_k`` may be set per request, defaulting to ``top_k``."""
    from mlflow.models import ModelSignature  # noqa: PLC0415 - MLflow only when a model is logged
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema  # noqa: PLC0415

    outputs = [ColSpec("string", FILE_COLUMN, required=False)]
    for rank in range(1, top_k + 1):
        outputs += [ColSpec("string", f"label_{rank}", required=False), ColSpec("double", f"probability_{rank}", required=False)]
    outputs.append(ColSpec("string", PROBLEM_COLUMN))
    # ``file`` is in the input schema, or MLflow's schema enforcement would drop it before the model could echo it
    inputs = Schema([ColSpec("string", IMAGE_COLUMN), ColSpec("string", FILE_COLUMN, required=False)])
    params = ParamSchema([ParamSpec(TOP_K_PARAM, "long", top_k)])
    return ModelSignature(inputs=inputs, outputs=Schema(outputs), params=params)


def pinned_requirements() -> list[str]:
    """``SERVING_DISTRIBUTIONS`` pinned to their installed versions (explicit: MLflow would infer them slowly)."""
    pinned = []
    for distribution in SERVING_DISTRIBUTIONS:
        try:
            pinned.append(f"{distribution}=={metadata.version(distribution)}")
        except metadata.PackageNotFoundError:
            continue
    return pinned
