"""Classify new images with a trained model: a table of base64 image files -> top-k labels and probabilities.

The table is the one input of the MLflow model served by ``mlflow models serve`` (HTTP requests carry the image
bytes), and ``kedro run --pipelines predict`` first turns a folder into the same table, so a folder and a request
go through identical decoding: ``images.load_rgb`` (upright, 8-bit RGB) and the training resize of
``data.resize.resize_image``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import keras
import numpy as np
import pandas as pd

from image_classification.data.images import UnreadableImageError, load_rgb
from image_classification.data.labels import find_image_files
from image_classification.data.resize import RESIZE_METHODS, resize_image
from image_classification.models.inference import predict_proba

logger = logging.getLogger(__name__)

IMAGE_COLUMN = "image"  # base64 of an image file's bytes (PNG, JPEG, ...); "data:image/...;base64," prefix allowed
FILE_COLUMN = "file"  # optional: where the image came from, passed through to the predictions
PROBLEM_COLUMN = "problem"  # "" for a classified image, else why it was skipped


def image_table_from_folder(images_dir: str) -> pd.DataFrame:
    """Reads every image file below a folder into the table the classifier (and the served model) takes.

    Files are found as at ingest (by extension, recursively, hidden files and folders left out). Broken image files
    are kept here and reported by :func:`decode_images`; files that cannot even be read are logged and left out.

    Args:
        images_dir: The ``predict.images_dir`` folder.

    Returns:
        One row per image file, sorted by path: ``file`` (the path) and ``image`` (its bytes, base64-encoded).

    Raises:
        FileNotFoundError: ``images_dir`` is not a folder.
        ValueError: The folder holds no image file.
    """
    folder = Path(images_dir).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"predict.images_dir '{folder}' is not a folder. Point it at a folder of images in "
            "conf/base/parameters_predict.yml or with --params predict.images_dir=<folder>."
        )
    found = find_image_files(folder)
    if found.other_files:
        ignored = ", ".join(f"{count} {kind}" for kind, count in found.other_files.most_common())
        logger.info("Ignoring files below %s that are not images by their extension: %s.", folder, ignored)
    rows = []
    for path in found.images:
        try:
            data = path.read_bytes()
        except OSError as error:
            logger.warning("Skipping %s: cannot read file: %s", path, error.strerror or error)
            continue
        rows.append({FILE_COLUMN: str(path), IMAGE_COLUMN: base64.b64encode(data).decode("ascii")})
    if not rows:
        raise ValueError(
            f"No readable image file (.jpg, .png, ...) below predict.images_dir '{folder}'. "
            "Put the images to classify there or point predict.images_dir at another folder."
        )
    logger.info("Classifying %d image files from %s.", len(rows), folder)
    return pd.DataFrame(rows, columns=[FILE_COLUMN, IMAGE_COLUMN])


def decode_images(image_table: pd.DataFrame, preprocess: dict[str, Any]) -> tuple[np.ndarray, pd.DataFrame]:
    """Decodes and resizes each row's image exactly as the training images were (``params:preprocess``).

    Rows whose image is missing, not base64 or not a usable image are reported (logged, and a reason in the
    ``problem`` column) and skipped; they never stop the others.

    Args:
        image_table: A column ``image`` (base64 image file bytes) and any others (e.g. ``file``), kept as they are.
        preprocess: The ``preprocess`` parameters: ``image_size``, ``resize_method`` and optionally ``workers``.

    Returns:
        ``(pixels, rows)``: uint8 (M, S, S, 3) for the M usable rows in table order, and the table without its
        ``image`` column plus ``problem`` ("" for the usable rows), one row per input row.

    Raises:
        ValueError: The table has no ``image`` column, or ``preprocess.resize_method`` is unknown.
    """
    if IMAGE_COLUMN not in image_table.columns:
        raise ValueError(
            f"The images to classify need a column '{IMAGE_COLUMN}' holding base64-encoded image files; "
            f"got columns {list(image_table.columns)}."
        )
    size, method = int(preprocess["image_size"]), preprocess["resize_method"]
    if method not in RESIZE_METHODS:
        raise ValueError(f"preprocess.resize_method '{method}' is unknown. Allowed: {', '.join(RESIZE_METHODS)}.")
    rows = image_table.drop(columns=[IMAGE_COLUMN]).reset_index(drop=True)
    names = rows[FILE_COLUMN].astype(str).tolist() if FILE_COLUMN in rows else [f"row {i}" for i in range(len(rows))]
    # load_rgb reads files: each image is written to a scratch file first, so the training decoder is reused as is.
    with TemporaryDirectory(prefix="predict-") as scratch, ThreadPoolExecutor(
        max_workers=preprocess.get("workers") or None
    ) as pool:
        decoded = list(
            pool.map(
                lambda item: _decode_one(Path(scratch) / str(item[0]), item[1], size, method),
                enumerate(image_table[IMAGE_COLUMN].tolist()),
            )
        )
    problems = []
    for name, (_, problem) in zip(names, decoded):
        if problem:
            logger.warning("Skipping %s: %s", name, problem)
        problems.append(problem)
    rows[PROBLEM_COLUMN] = pd.Series(problems, dtype=object)
    usable = [pixels for pixels, problem in decoded if not problem]
    pixels = np.stack(usable) if usable else np.zeros((0, size, size, 3), np.uint8)
    return pixels, rows


def _decode_one(scratch_file: Path, encoded: Any, size: int, method: str) -> tuple[np.ndarray | None, str]:
    if not isinstance(encoded, str):
        return None, "no image data"
    if encoded.startswith("data:") and "," in encoded:
        encoded = encoded.split(",", 1)[1]
    try:
        data = base64.b64decode("".join(encoded.split()), validate=True)  # line-wrapped base64 is fine too
    except (binascii.Error, ValueError) as error:
        return None, f"image is not valid base64: {error}"
    scratch_file.write_bytes(data)
    try:
        return resize_image(load_rgb(scratch_file), size, method), ""
    except UnreadableImageError as error:
        return None, error.reason
    finally:
        scratch_file.unlink(missing_ok=True)


def classify_images(  # noqa: PLR0913 - one input per catalog entry
    model: keras.Model,
    class_names: list[str],
    pixels: np.ndarray,
    rows: pd.DataFrame,
    top_k: int,
    batch_size: int,
) -> pd.DataFrame:
    """The ``top_k`` most probable classes of each usable image.

    Args:
        model: A trained classifier (float32 0..255 images in, softmax over ``class_names`` out).
        class_names: The class names the model was trained with; a label's index is its position.
        pixels: uint8 (M, S, S, 3) from :func:`decode_images`.
        rows: One row per input image with ``problem`` ("" for the M usable ones, in order).
        top_k: How many classes to report per image (at most the number of classes).
        batch_size: Images per forward pass (:func:`~image_classification.models.inference.predict_proba`).

    Returns:
        ``rows`` with ``label_1, probability_1, ..., label_k, probability_k`` inserted before ``problem``, most
        probable first; empty for skipped rows.

    Raises:
        ValueError: The model does not match the images' size or the class names, or ``top_k`` is below 1.
    """
    _check_model(model, class_names, pixels)
    if int(top_k) < 1:
        raise ValueError(f"predict.top_k must be at least 1, got {top_k}.")
    k = min(int(top_k), len(class_names))
    probabilities = predict_proba(model, pixels, batch_size)
    ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    usable = (rows[PROBLEM_COLUMN] == "").to_numpy()
    if int(usable.sum()) != len(pixels):
        raise ValueError(
            f"{len(pixels)} decoded images for {int(usable.sum())} usable rows: pass decode_images' outputs unchanged."
        )
    predictions = rows.drop(columns=[PROBLEM_COLUMN]).reset_index(drop=True)
    for rank in range(k):
        best = ranked[:, rank]
        scores = np.round(probabilities[np.arange(len(best)), best].astype(float), 6)
        predictions[f"label_{rank + 1}"] = _spread(usable, [class_names[index] for index in best])
        predictions[f"probability_{rank + 1}"] = _spread(usable, scores.tolist())
    predictions[PROBLEM_COLUMN] = rows[PROBLEM_COLUMN].to_numpy()
    logger.info("Classified %d images, skipped %d.", int(usable.sum()), int((~usable).sum()))
    return predictions


def _spread(usable: np.ndarray, values: list[Any]) -> pd.Series:
    """``values`` at the usable rows and None elsewhere.

    None (not NaN) so a skipped row shows empty cells in the CSV and ``null`` in the served JSON.
    """
    if usable.all():
        return pd.Series(values)
    spread = np.full(len(usable), None, dtype=object)
    spread[usable] = values
    return pd.Series(spread, dtype=object)


def _check_model(model: keras.Model, class_names: list[str], pixels: np.ndarray) -> None:
    outputs = int(model.output_shape[-1])
    if outputs != len(class_names):
        raise ValueError(
            f"The model predicts {outputs} classes but class_names lists {len(class_names)}: they come from different "
            "runs. Pick matching versions with --load-versions (model and class_names) or retrain."
        )
    expected = tuple(model.input_shape[1:3])
    if len(pixels) and tuple(pixels.shape[1:3]) != expected:
        raise ValueError(
            f"The model was trained on {expected[0]}x{expected[1]} images but preprocess.image_size resizes to "
            f"{pixels.shape[1]}x{pixels.shape[2]}. Predict with the size the model was trained at: "
            f"--params preprocess.image_size={expected[0]}."
        )


def stage_for_serving(model: keras.Model, class_names: list[str]) -> tuple[keras.Model, list[str]]:
    """Hands the chosen model and its class names to the files the served MLflow model is packed from.

    Args:
        model: The trained model named by ``predict.model``.
        class_names: The class names it was trained with.

    Returns:
        The same model and class names.

    Raises:
        ValueError: The model's number of outputs does not match the class names.
    """
    _check_model(model, class_names, np.zeros((0, 0, 0, 3), np.uint8))
    return model, list(class_names)
