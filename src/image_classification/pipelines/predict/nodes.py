"""Classify new images with a trained model: a table of base64 image files -> top-k labels and probabilities.

The table is the one input of the MLflow models served by ``mlflow models serve`` (HTTP requests carry the image
bytes), and ``kedro run --pipelines predict`` first turns a folder into the same table, so a folder and a request
go through the same code: ``data.encoded_images`` decodes each row as training did, ``models.prediction_table``
writes the top-k answer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from image_classification.config import load_settings
from image_classification.data.encoded_images import (
    FILE_COLUMN,
    IMAGE_COLUMN,
    PROBLEM_COLUMN,
    decode_image_table,
    encode_image_file,
)
from image_classification.data.labels import find_image_files
from image_classification.data.settings import PreprocessSettings
from image_classification.models.inference import predict_proba
from image_classification.models.metadata import (
    class_names_for_prediction,
    describe_model,
    input_image_size,
)
from image_classification.models.predict_settings import PredictSettings
from image_classification.models.prediction_table import top_k_table

logger = logging.getLogger(__name__)


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
    for path, kind in found.special.items():
        logger.warning("Skipping %s: not a regular file: %s, not opened.", path, kind)
    rows = []
    for path in found.images:
        try:
            data = path.read_bytes()
        except OSError as error:
            logger.warning("Skipping %s: cannot read file: %s", path, error.strerror or error)
            continue
        rows.append({FILE_COLUMN: str(path), IMAGE_COLUMN: encode_image_file(data)})
    if not rows:
        raise ValueError(
            f"No readable image file (.jpg, .png, ...) below predict.images_dir '{folder}'. "
            "Put the images to classify there or point predict.images_dir at another folder."
        )
    logger.info("Classifying %d image files from %s.", len(rows), folder)
    return pd.DataFrame(rows, columns=[FILE_COLUMN, IMAGE_COLUMN])


def decode_images(
    image_table: pd.DataFrame, preprocess: PreprocessSettings, model: Any = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Decodes and resizes each row's image exactly as the training images were (``params:preprocess``).

    Rows whose image is missing, not base64 or not a usable image are reported (logged, and a reason in the
    ``problem`` column) and skipped; they never stop the others.

    Args:
        image_table: A column ``image`` (base64 image file bytes) and any others (e.g. ``file``), kept as they are.
        preprocess: The ``preprocess`` parameters: ``image_size``, ``resize_method`` and optionally ``workers``.
        model: The classifier the images are for (a ``keras.Model``): they are resized to the size it takes (the one
            it was trained at), whatever ``preprocess.image_size`` says now.

    Returns:
        ``(pixels, rows)``: uint8 (M, S, S, 3) for the M usable rows in table order, and the table without its
        ``image`` column plus ``problem`` ("" for the usable rows), one row per input row.

    Raises:
        ValueError: The table has no ``image`` column, or a ``preprocess`` setting is unknown or invalid (named).
    """
    if IMAGE_COLUMN not in image_table.columns:
        raise ValueError(
            f"The images to classify need a column '{IMAGE_COLUMN}' holding base64-encoded image files; "
            f"got columns {list(image_table.columns)}."
        )
    settings = load_settings(PreprocessSettings, preprocess, "preprocess")  # types and ranges, named
    size, method = settings.image_size, settings.resize_method
    trained_size = input_image_size(model) if model is not None else None
    if trained_size is not None and trained_size != size:
        logger.warning(
            "The model %s was trained on %dx%d images: resizing to that size, not preprocess.image_size %d.",
            describe_model(model), trained_size, trained_size, size,
        )
        size = trained_size
    pixels, rows = decode_image_table(image_table, size, method, settings.workers)
    names = rows[FILE_COLUMN].astype(str).tolist() if FILE_COLUMN in rows else [f"row {i}" for i in range(len(rows))]
    for name, problem in zip(names, rows[PROBLEM_COLUMN]):
        if problem:
            logger.warning("Skipping %s: %s", name, problem)
    return pixels, rows


class NoUsableImagesError(ValueError):
    """Not one image of ``predict.images_dir`` could be classified (like an empty folder).

    Attributes:
        problems: ``(file, why it was skipped)`` for each file.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {file}: {problem}" for file, problem in problems[:5])
        more = f"\n  ... and {len(problems) - 5} more" if len(problems) > 5 else ""
        super().__init__(
            f"None of the {len(problems)} image file(s) below predict.images_dir could be used, so nothing was "
            f"classified:\n{shown}{more}\nReplace them with readable images or point predict.images_dir at another "
            "folder."
        )


def decode_folder_images(
    image_table: pd.DataFrame, preprocess: PreprocessSettings, model: Any = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """:func:`decode_images` for ``kedro run --pipelines predict``: a folder where no file is usable is an error, as
    an empty one is (a served request still gets a ``problem`` per row instead).

    Raises:
        NoUsableImagesError: Every file was skipped; each is named with its reason.
    """
    pixels, rows = decode_images(image_table, preprocess, model)
    if len(rows) and not len(pixels):
        names = rows[FILE_COLUMN].astype(str) if FILE_COLUMN in rows else pd.Series([f"row {i}" for i in range(len(rows))])
        raise NoUsableImagesError(list(zip(names, rows[PROBLEM_COLUMN].astype(str))))
    return pixels, rows


def classify_images(  # noqa: PLR0913 - one input per catalog entry
    model: Any,
    class_names: list[str],
    pixels: np.ndarray,
    rows: pd.DataFrame,
    top_k: int,
    batch_size: int,
) -> pd.DataFrame:
    """The ``top_k`` most probable classes of each usable image.

    Args:
        model: A trained classifier, a ``keras.Model`` (float32 0..255 images in, softmax over ``class_names`` out).
        class_names: The current ``class_names``. The labels are the class names the model carries
            (``models.metadata``); these are used only for a model saved without them (with a warning).
        pixels: uint8 (M, S, S, 3) from :func:`decode_images`.
        rows: One row per input image with ``problem`` ("" for the M usable ones, in order).
        top_k: How many classes to report per image (at most the number of classes).
        batch_size: Images per forward pass (:func:`~image_classification.models.inference.predict_proba`).

    Returns:
        ``rows`` with ``label_1, probability_1, ..., label_k, probability_k`` inserted before ``problem``, most
        probable first; empty for skipped rows.

    Raises:
        ValueError: The model does not match the images' size or the class names, ``pixels`` are not one per usable
            row (pass :func:`decode_images`' outputs unchanged), or ``top_k`` or ``batch_size`` is not a whole number
            of at least 1 (named ``predict.top_k``, ``predict.batch_size``).
    """
    settings = load_settings(PredictSettings, {"top_k": top_k, "batch_size": batch_size}, "predict")
    class_names = class_names_for_prediction(model, class_names)
    _check_model(model, pixels)
    probabilities = predict_proba(model, pixels, settings.batch_size)
    predictions = top_k_table(rows, probabilities, class_names, settings.top_k)
    usable = int((rows[PROBLEM_COLUMN] == "").sum())
    logger.info("Classified %d images, skipped %d.", usable, len(rows) - usable)
    return predictions


def _check_model(model: Any, pixels: np.ndarray) -> None:
    expected = tuple(model.input_shape[1:3])
    if len(pixels) and tuple(pixels.shape[1:3]) != expected:
        raise ValueError(
            f"The model {describe_model(model)} was trained on {expected[0]}x{expected[1]} images but "
            f"preprocess.image_size resizes to "
            f"{pixels.shape[1]}x{pixels.shape[2]}. Predict with the size the model was trained at: "
            f"--params preprocess.image_size={expected[0]}."
        )


def stage_for_serving(model: Any, class_names: list[str]) -> tuple[Any, list[str]]:
    """Hands the chosen model and its class names to the files the served MLflow model is packed from.

    Args:
        model: The trained model named by ``predict.model`` (a ``keras.Model``).
        class_names: The current ``class_names``, used only for a model saved without its own (with a warning).

    Returns:
        The same model and the class names it was trained on (``models.metadata``).

    Raises:
        ValueError: A model without class names whose number of outputs does not match ``class_names``.
    """
    return model, class_names_for_prediction(model, class_names)
