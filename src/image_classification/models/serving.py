"""A trained classifier as an MLflow pyfunc model: base64 image files in, the top-k labels and probabilities out.

What each child run of a ``kedro run`` logs for its model (``project/mlflow_runs.py``), so that any trained model,
and the registry's ``champion``, serves with ``mlflow models serve -m models:/<name>@champion --env-manager local``.
A request is decoded and answered by the same code as ``kedro run --pipelines predict`` (``data.encoded_images``,
``models.prediction_table``), with the run's ``preprocess.image_size`` and ``resize_method``; the Keras model and its
class names travel as the model's artifacts, the sizes as its ``model_config``.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from image_classification.data.encoded_images import (
    IMAGE_COLUMN,
    decode_image_table,
    encode_image_file,
)
from image_classification.models.prediction_table import TOP_K_PARAM, top_k_table


@dataclass(frozen=True)
class ServingSpec:
    """What a served model needs besides its Keras file: the run's classes, input size and an example request.

    Attributes:
        class_names: Class names; index i names class i.
        image_size: ``preprocess.image_size``: every model of a run takes images of this side.
        resize_method: ``preprocess.resize_method``.
        top_k: Labels returned per image (at most the number of classes).
        input_example: One test image as a base64 PNG, the logged model's input example.
    """

    class_names: list[str]
    image_size: int
    resize_method: str
    top_k: int
    input_example: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def encode_png(pixels: np.ndarray) -> str:
    """A uint8 (H, W, 3) image as the base64 of a PNG file, the form a request carries."""
    from PIL import Image  # noqa: PLC0415

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buffer, format="PNG")
    return encode_image_file(buffer.getvalue())


def serving_spec(
    class_names: list[str], images_test: dict, image_size: int, resize_method: str, top_k: int
) -> ServingSpec:
    """The spec of a run's models, with the first test image as the input example."""
    images = np.asarray(images_test["images"])
    if images.shape[0] == 0:
        raise ValueError("images_test is empty: a served model needs one test image as its input example.")
    return ServingSpec(list(class_names), int(image_size), str(resize_method), int(top_k), encode_png(images[0]))


class ImageClassifierModel(PythonModel):
    """The pyfunc: artifacts ``model`` (a ``.keras`` file) and ``class_names`` (JSON); ``model_config`` holds
    ``image_size``, ``resize_method`` and ``top_k``."""

    def load_context(self, context) -> None:
        import keras  # noqa: PLC0415

        import image_classification.models.custom_layers  # noqa: F401, PLC0415 - registers the project's custom layers

        self._model = keras.saving.load_model(context.artifacts["model"], compile=False)
        self._class_names = json.loads(Path(context.artifacts["class_names"]).read_text())
        self._config = dict(context.model_config or {})

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """One row per input row: its other columns (``file``) echoed, the top-k labels and probabilities, and
        ``problem`` ("" when classified, else why the row was skipped); a bad row never fails the others.
        ``params={"predict.top_k": k}`` asks for another number of labels."""
        from image_classification.models.inference import predict_proba  # noqa: PLC0415

        if IMAGE_COLUMN not in model_input.columns:
            raise _bad_request(f"A request needs a column '{IMAGE_COLUMN}' of base64 image files.")
        size, method = int(self._config["image_size"]), self._config["resize_method"]
        pixels, rows = decode_image_table(model_input, size, method)
        probabilities = (
            predict_proba(self._model, pixels) if len(pixels) else np.zeros((0, len(self._class_names)))
        )
        top_k = (params or {}).get(TOP_K_PARAM) or self._config.get("top_k", 1)
        return top_k_table(rows, probabilities, self._class_names, int(top_k))


def _bad_request(message: str) -> Exception:
    """An error the scoring server answers with HTTP 400 and ``message`` (no server paths in it)."""
    try:
        from mlflow.exceptions import MlflowException  # noqa: PLC0415
        from mlflow.protos.databricks_pb2 import BAD_REQUEST  # noqa: PLC0415
    except ImportError:  # pragma: no cover - mlflow is a dependency
        return ValueError(message)
    return MlflowException(message, error_code=BAD_REQUEST)
