"""Similar-image search over the embeddings: precision@k of test images against train + val, and one query image.

Neighbours are by cosine distance (``NearestNeighbors(metric="cosine")``). The query image is read as ``predict``
reads images (``data.images.load_rgb``, the training resize ``data.resize.resize_image``) and embedded exactly as
the gallery was (the backbone, weights, pooling and size recorded in ``image_embeddings``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from image_classification.config import load_settings
from image_classification.data.files import require_regular_file
from image_classification.data.images import UnreadableImageError, load_rgb
from image_classification.data.resize import resize_image
from image_classification.data.settings import SPLITS, PreprocessSettings
from image_classification.reporting.embedding_figures import plot_similar_examples
from image_classification.reporting.embedding_settings import SimilarSettings

logger = logging.getLogger(__name__)

GALLERY_SPLITS = ("train", "val")  # what test images are searched against for precision@k
RESULT_COLUMNS = ["query", "rank", "file", "label", "split", "cosine_distance"]


def gallery_table(splits: pd.DataFrame, class_names: list[str], image_embeddings: dict[str, np.ndarray]) -> pd.DataFrame:
    """The file, class and split of every embedded image, in the embeddings' order (train, val, test).

    Args:
        splits: Rows with ``path``, ``label`` and ``split``, in the order preprocess read them.
        class_names: Class names; a label's index is its position.
        image_embeddings: The embeddings pipeline's bundle (``<split>_labels`` per split).

    Raises:
        ValueError: The embeddings do not line up with the splits (preprocess skipped a file, or they come from
            different runs).
    """
    tables = []
    for split in SPLITS:
        listed = splits[splits["split"] == split].reset_index(drop=True)
        labels = [class_names[int(label)] for label in image_embeddings[f"{split}_labels"]]
        if listed["label"].astype(str).tolist() != labels:
            raise ValueError(
                f"The {split} embeddings ({len(labels)} images) do not line up with the {split} rows of splits "
                f"({len(listed)} images): preprocess skipped a file that changed since ingest, or they come from "
                "different runs. Rerun split, preprocess and embeddings (kedro run --pipelines split,preprocess,"
                "embeddings)."
            )
        tables.append(pd.DataFrame({"file": listed["path"].astype(str), "label": labels, "split": split}))
    return pd.concat(tables, ignore_index=True)


def evaluate_retrieval(
    image_embeddings: dict[str, np.ndarray], gallery: pd.DataFrame, config: SimilarSettings
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Precision@k: each test image queries the train + val images; the share of its k neighbours of its class.

    Args:
        image_embeddings: The embeddings pipeline's bundle.
        gallery: ``gallery_table``'s rows.
        config: ``params:similar``, read as ``SimilarSettings`` (``precision_k``).

    Returns:
        ``(retrieval, metrics)``: one row per test image (its file, label, precision and neighbours' files, labels
        and distances), and ``precision_at_<k>``, its chance level ``precision_at_<k>_chance``, ``queries`` and
        ``gallery_images``.
    """
    # Imported here: scikit-learn is not needed to register the pipeline.
    from image_classification.reporting.embeddings import (  # noqa: PLC0415
        chance_precision,
        nearest_neighbours,
        precision_at_k,
    )

    settings = SimilarSettings.from_config(config)
    k = settings.precision_k
    vectors, labels = _gallery(image_embeddings)
    distances, rows = nearest_neighbours(vectors, image_embeddings["test_embeddings"], k)
    test_labels = image_embeddings["test_labels"]
    precision = precision_at_k(test_labels, labels[rows])
    searched = gallery[gallery["split"].isin(GALLERY_SPLITS)].reset_index(drop=True)
    queries = gallery[gallery["split"] == "test"].reset_index(drop=True)
    retrieval = pd.DataFrame({"file": queries["file"], "label": queries["label"], f"precision_at_{k}": precision})
    for rank in range(k):
        retrieval[f"neighbour_{rank + 1}_file"] = searched["file"].to_numpy()[rows[:, rank]]
        retrieval[f"neighbour_{rank + 1}_label"] = searched["label"].to_numpy()[rows[:, rank]]
        retrieval[f"neighbour_{rank + 1}_distance"] = np.round(distances[:, rank], 6)
    metrics = {
        f"precision_at_{k}": float(precision.mean()),
        f"precision_at_{k}_chance": chance_precision(test_labels, labels),
        "queries": float(len(test_labels)),
        "gallery_images": float(len(labels)),
    }
    logger.info(
        "Precision@%d of %d test images against %d train + val images: %.3f (chance %.3f).",
        k, len(test_labels), len(labels), metrics[f"precision_at_{k}"], metrics[f"precision_at_{k}_chance"],
    )
    return retrieval, metrics


def plot_retrieval_examples(  # noqa: PLR0913 - one input per catalog entry
    image_embeddings: dict[str, np.ndarray],
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    images_test: dict[str, np.ndarray],
    class_names: list[str],
    config: SimilarSettings,
) -> Figure:
    """``similar.examples`` test images (seeded, of different classes) with their ``precision_k`` neighbours."""
    # Imported here: scikit-learn is not needed to register the pipeline.
    from image_classification.reporting.embeddings import example_queries, nearest_neighbours  # noqa: PLC0415

    settings = SimilarSettings.from_config(config)
    vectors, labels = _gallery(image_embeddings)
    gallery_images = np.concatenate([images_train["images"], images_val["images"]])
    chosen = example_queries(image_embeddings["test_labels"], settings.examples, settings.seed)
    distances, rows = nearest_neighbours(vectors, image_embeddings["test_embeddings"][chosen], settings.precision_k)
    return plot_similar_examples(
        images_test["images"][chosen], image_embeddings["test_labels"][chosen], gallery_images[rows], labels[rows],
        distances, class_names,
    )


def find_similar(
    image_embeddings: dict[str, np.ndarray], gallery: pd.DataFrame, config: SimilarSettings, preprocess: PreprocessSettings
) -> pd.DataFrame:
    """The ``similar.top_k`` images most similar to the ``similar.query`` image, among every embedded image.

    The query file itself is left out when it is one of them. With ``similar.query`` null, nothing is searched.

    Args:
        image_embeddings: The embeddings pipeline's bundle (its backbone, weights, pooling and image size).
        gallery: ``gallery_table``'s rows.
        config: ``params:similar``, read as ``SimilarSettings``.
        preprocess: ``params:preprocess`` (``resize_method``, as for the training images).

    Returns:
        ``query, rank, file, label, split, cosine_distance``, nearest first; no rows when the query is null.

    Raises:
        FileNotFoundError: The query file does not exist.
        ValueError: The query is a folder or not a usable image (the reason, as ``predict`` reports it).
    """
    # Imported here: scikit-learn is not needed to register the pipeline.
    from image_classification.reporting.embeddings import nearest_neighbours  # noqa: PLC0415

    settings = SimilarSettings.from_config(config)
    if settings.query is None:
        logger.info("similar.query is null: no query image to search for (--params similar.query=<image file>).")
        return pd.DataFrame(columns=RESULT_COLUMNS)
    query = Path(settings.query).expanduser()
    method = load_settings(PreprocessSettings, preprocess, "preprocess").resize_method
    pixels = load_query_image(query, int(image_embeddings["image_size"]), method)
    vectors = np.concatenate([image_embeddings[f"{split}_embeddings"] for split in SPLITS])
    same_file = [index for index, file in enumerate(gallery["file"]) if _same_file(file, query)]
    k = min(settings.top_k, len(vectors) - 1)
    exclude = np.array(same_file[:1] or [-1])
    distances, rows = nearest_neighbours(vectors, embed_like_gallery(pixels[None], image_embeddings), k, exclude)
    found = gallery.iloc[rows[0]].reset_index(drop=True)
    logger.info("The %d images most similar to %s: nearest %s (%s).", k, query, found["file"][0], found["label"][0])
    return pd.DataFrame(
        {
            "query": str(query),
            "rank": np.arange(1, k + 1),
            "file": found["file"],
            "label": found["label"],
            "split": found["split"],
            "cosine_distance": np.round(distances[0], 6),
        },
        columns=RESULT_COLUMNS,
    )


def load_query_image(query: Path, size: int, method: str) -> np.ndarray:
    """The query image as ``predict`` reads one: upright 8-bit RGB, resized as the training images were.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: A folder, or a file that is not a usable image (empty, not an image, truncated, ...).
    """
    advice = "Point it at an image file (.jpg, .png, ...): --params similar.query=<image file>."
    if not query.exists():
        raise FileNotFoundError(f"similar.query '{query}' does not exist. {advice}")
    if query.is_dir():
        raise ValueError(f"similar.query '{query}' is a folder, not an image file. {advice}")
    require_regular_file(query, "similar.query", advice)  # a FIFO would block the read for ever
    try:
        return resize_image(load_rgb(query), size, method)
    except UnreadableImageError as error:
        raise ValueError(f"similar.query '{query}' cannot be used: {error.reason}. {advice}") from error


def embed_like_gallery(images: np.ndarray, image_embeddings: dict[str, np.ndarray]) -> np.ndarray:
    """Embeddings of uint8 ``images`` with the backbone, weights and pooling the gallery was embedded with."""
    # Imported here: Keras is not needed to register the pipeline.
    from image_classification.models.embeddings import backbone_embeddings  # noqa: PLC0415

    (embeddings,) = backbone_embeddings(
        [images], str(image_embeddings["backbone"]), str(image_embeddings["weights"]), str(image_embeddings["pooling"])
    )
    width = image_embeddings["train_embeddings"].shape[1]
    if embeddings.shape[1] != width:
        raise ValueError(f"The query's embedding has {embeddings.shape[1]} dimensions, the gallery's {width}.")
    return embeddings


def similar_metrics_for_mlflow(metrics: dict[str, float]) -> dict[str, dict[str, float | int]]:
    """The metrics in kedro-mlflow's ``MlflowMetricsHistoryDataset`` format (``{name: {value, step}}``)."""
    return {name: {"value": float(value), "step": 0} for name, value in metrics.items() if math.isfinite(value)}


def _gallery(image_embeddings: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    vectors = np.concatenate([image_embeddings[f"{split}_embeddings"] for split in GALLERY_SPLITS])
    labels = np.concatenate([image_embeddings[f"{split}_labels"] for split in GALLERY_SPLITS])
    return vectors, labels


def _same_file(file: str, query: Path) -> bool:
    try:
        return Path(file).resolve() == query.resolve()
    except OSError:
        return False
