"""A trained classifier as an MLflow pyfunc model: base64 image files in, the top-k labels and probabilities out.

What each child run of a ``kedro run`` logs for its model (``project/mlflow_runs.py``), so that any trained model,
and the registry's ``champion``, serves with ``mlflow models serve -m models:/<name>@champion --env-manager local``.
A request decodes and resizes images as training did (``data.images.load_rgb`` and ``data.resize.resize_image``
with the run's ``preprocess.image_size`` and ``resize_method``); the Keras model and its class names travel as the
model's artifacts, the sizes as its ``model_config``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import tempfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from image_classification.data.images import UnreadableImageError, load_rgb
from image_classification.data.resize import resize_image

IMAGE_COLUMN = "image"  # base64 of an image file's bytes; a "data:image/...;base64," prefix is allowed
FILE_COLUMN = "file"  # optional: where the image came from, echoed in the answer
PROBLEM_COLUMN = "problem"  # "" for a classified row, else why it was skipped
#: What serving needs installed, pinned to the logging environment (``--env-manager local`` uses the current one).
SERVING_DISTRIBUTIONS = ("mlflow", "keras", "tensorflow-cpu", "tensorflow", "numpy", "pandas", "pillow")


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
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def serving_spec(
    class_names: list[str], images_test: dict, image_size: int, resize_method: str, top_k: int
) -> ServingSpec:
    """The spec of a run's models, with the first test image as the input example."""
    images = np.asarray(images_test["images"])
    if images.shape[0] == 0:
        raise ValueError("images_test is empty: a served model needs one test image as its input example.")
    return ServingSpec(list(class_names), int(image_size), str(resize_method), int(top_k), encode_png(images[0]))


def serving_signature(top_k: int) -> Any:
    """Input: a required ``image`` column (base64) and an optional ``file``; output: ``file``, ``label_1,
    probability_1, ..., label_k, probability_k`` and ``problem`` ("" or why the row was skipped)."""
    from mlflow.models import ModelSignature  # noqa: PLC0415
    from mlflow.types.schema import ColSpec, Schema  # noqa: PLC0415

    outputs = [ColSpec("string", FILE_COLUMN, required=False)]
    for rank in range(1, top_k + 1):
        outputs += [ColSpec("string", f"label_{rank}", required=False), ColSpec("double", f"probability_{rank}", required=False)]
    outputs.append(ColSpec("string", PROBLEM_COLUMN))
    # ``file`` is in the input schema, or MLflow's schema enforcement would drop it before the model could echo it
    inputs = Schema([ColSpec("string", IMAGE_COLUMN), ColSpec("string", FILE_COLUMN, required=False)])
    return ModelSignature(inputs=inputs, outputs=Schema(outputs))


def pinned_requirements() -> list[str]:
    """``SERVING_DISTRIBUTIONS`` pinned to their installed versions (explicit: MLflow would infer them slowly)."""
    pinned = []
    for distribution in SERVING_DISTRIBUTIONS:
        try:
            pinned.append(f"{distribution}=={metadata.version(distribution)}")
        except metadata.PackageNotFoundError:
            continue
    return pinned


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
        ``problem`` ("" when classified, else why the row was skipped); a bad row never fails the others."""
        from image_classification.models.inference import predict_proba  # noqa: PLC0415

        if IMAGE_COLUMN not in model_input.columns:
            raise _bad_request(f"A request needs a column '{IMAGE_COLUMN}' of base64 image files.")
        size, method = int(self._config["image_size"]), self._config["resize_method"]
        decoded = [_decode_row(value, size, method) for value in model_input[IMAGE_COLUMN]]
        usable = np.array([problem == "" for _, problem in decoded], dtype=bool)
        k = min(int(self._config.get("top_k", 1)), len(self._class_names))
        result = model_input.drop(columns=[IMAGE_COLUMN]).reset_index(drop=True)
        columns: dict[str, list] = {}
        if usable.any():
            probabilities = predict_proba(self._model, np.stack([pixels for pixels, _ in decoded if pixels is not None]))
            ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
            for rank in range(k):
                best = ranked[:, rank]
                columns[f"label_{rank + 1}"] = [self._class_names[index] for index in best]
                columns[f"probability_{rank + 1}"] = probabilities[np.arange(len(best)), best].astype(float).tolist()
        for rank in range(k):
            for name in (f"label_{rank + 1}", f"probability_{rank + 1}"):
                spread = np.full(len(usable), None, dtype=object)
                spread[usable] = columns.get(name, [])
                result[name] = pd.Series(spread, dtype=object)
        result[PROBLEM_COLUMN] = [problem for _, problem in decoded]
        return result


def _bad_request(message: str) -> Exception:
    """An error the scoring server answers with HTTP 400 and ``message`` (no server paths in it)."""
    try:
        from mlflow.exceptions import MlflowException  # noqa: PLC0415
        from mlflow.protos.databricks_pb2 import BAD_REQUEST  # noqa: PLC0415
    except ImportError:  # pragma: no cover - mlflow is a dependency
        return ValueError(message)
    return MlflowException(message, error_code=BAD_REQUEST)


def _decode_row(encoded: Any, size: int, method: str) -> tuple[np.ndarray | None, str]:
    """``(pixels, "")`` for a usable image, ``(None, why)`` for a bad row, as ``predict``'s nodes report it."""
    try:
        return _decode(encoded, size, method), ""
    except ValueError as error:
        return None, str(error)


def _decode(encoded: Any, size: int, method: str) -> np.ndarray:
    """One base64 image file -> uint8 (size, size, 3), decoded as at training; a clear error for a bad one."""
    if not isinstance(encoded, str):
        raise ValueError("Every row needs a base64 image file in the 'image' column.")
    if encoded.startswith("data:") and "," in encoded:
        encoded = encoded.split(",", 1)[1]
    try:
        data = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"An 'image' value is not valid base64: {error}") from error
    # load_rgb reads files (it is the training decoder): the bytes go through a scratch file.
    with tempfile.TemporaryDirectory(prefix="serve-") as scratch:
        path = Path(scratch) / "image"
        path.write_bytes(data)
        try:
            return resize_image(load_rgb(path), size, method)
        except UnreadableImageError as error:
            raise ValueError(f"An 'image' value is not a usable image: {error.reason}") from error
