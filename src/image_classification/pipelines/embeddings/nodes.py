"""Embeddings of every image from a pretrained backbone: PCA and t-SNE maps, k-means against the labels.

The embeddings are the backbone's pooled features, computed exactly as the transfer pipeline's feature cache
(``transfer.<name>.features``: the backbone's ``preprocess_input``, the backbone, global pooling), but for the
three splits: that cache holds train and validation only, and only after a ``feature_extraction`` transfer run.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from image_classification.data.settings import SPLITS
from image_classification.reporting.embedding_figures import plot_embedding_map
from image_classification.reporting.embedding_settings import EmbeddingSettings

logger = logging.getLogger(__name__)

#: How the summary words an adjusted Rand index (the first floor it reaches).
_VERDICTS = (
    (0.5, "recovers the classes well"),
    (0.2, "partly recovers the classes"),
    (0.05, "weakly recovers the classes"),
    (-1.0, "does not recover the classes (no better than chance)"),
)


def embed_images(
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    images_test: dict[str, np.ndarray],
    config: EmbeddingSettings,
) -> dict[str, np.ndarray]:
    """Embeds every image of the three splits with the backbone of ``params:embeddings``.

    Args:
        images_train: Training bundle (``images`` uint8 (N, S, S, 3), ``labels``).
        images_val: Validation bundle.
        images_test: Test bundle.
        config: ``params:embeddings``, read as ``EmbeddingSettings``.

    Returns:
        ``<split>_embeddings`` float32 (N, D) and ``<split>_labels`` per split; how they were made (``backbone``,
        ``weights``, ``pooling``, ``image_size``), so a query is embedded the same way; ``extraction_seconds``.

    Raises:
        ValueError: An unknown ``embeddings`` setting or backbone (named as ``embeddings.<key>``).
        FileNotFoundError: ``embeddings.weights`` unavailable.
    """
    # Imported here: Keras is not needed to register the pipeline.
    from image_classification.models.embeddings import backbone_embeddings, embedding_side  # noqa: PLC0415

    settings = EmbeddingSettings.from_config(config)
    bundles = dict(zip(SPLITS, (images_train, images_val, images_test)))
    image_side = int(images_train["images"].shape[1])
    try:
        side = embedding_side(settings.backbone, image_side)
    except ValueError as error:
        raise ValueError(f"embeddings.backbone: {error}") from error
    if side != image_side:
        logger.warning(
            "The %d px images are below %s's minimum: enlarged to %d px for the embeddings (an ImageNet backbone sees "
            "little in images this small).", image_side, settings.backbone, side,
        )
    started = time.perf_counter()
    vectors = backbone_embeddings(
        [bundle["images"] for bundle in bundles.values()],
        settings.backbone, settings.weights, settings.pooling, settings.batch_size,
    )
    embeddings: dict[str, np.ndarray] = {}
    for (split, bundle), part in zip(bundles.items(), vectors):
        embeddings[f"{split}_embeddings"] = part
        embeddings[f"{split}_labels"] = np.asarray(bundle["labels"], dtype=np.int64)
    seconds = time.perf_counter() - started
    embeddings |= {
        "backbone": np.array(settings.backbone),
        "weights": np.array(str(settings.weights or "random")),
        "pooling": np.array(settings.pooling),
        "image_size": np.array(image_side),
        "extraction_seconds": np.array(seconds),
    }
    logger.info(
        "Embedded %d images with %s (%s pooling) in %.1f s: %d dimensions.",
        sum(len(bundle["labels"]) for bundle in bundles.values()), settings.backbone, settings.pooling, seconds,
        embeddings["train_embeddings"].shape[1],
    )
    return embeddings


def all_embeddings(embeddings: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every image's embedding, label and split name, train then val then test."""
    vectors = np.concatenate([embeddings[f"{split}_embeddings"] for split in SPLITS])
    labels = np.concatenate([embeddings[f"{split}_labels"] for split in SPLITS])
    splits = np.concatenate([np.full(len(embeddings[f"{split}_labels"]), split) for split in SPLITS])
    return vectors, labels, splits


def analyse_embeddings(
    embeddings: dict[str, np.ndarray], class_names: list[str], config: EmbeddingSettings
) -> tuple[pd.DataFrame, dict[str, float]]:
    """PCA and t-SNE maps and k-means with k = the number of classes, over every image.

    Args:
        embeddings: What ``embed_images`` returned.
        class_names: Class names; a label's index is its position.
        config: ``params:embeddings``, read as ``EmbeddingSettings``.

    Returns:
        ``(embedding_map, metrics)``: one row per image (``split``, ``label``, ``pca_1``, ``pca_2``, ``tsne_1``,
        ``tsne_2`` (empty for images left out of the t-SNE map), ``cluster``), and ``explained_variance_pc1``,
        ``explained_variance_pc2``, ``explained_variance_pc1_pc2``, ``kmeans_ari``, ``images``, ``classes``.
    """
    # Imported here: scikit-learn is not needed to register the pipeline.
    from image_classification.reporting.embeddings import (  # noqa: PLC0415
        adjusted_rand_index,
        kmeans_clusters,
        l2_normalized,
        pca_map,
        tsne_map,
    )

    settings = EmbeddingSettings.from_config(config)
    vectors, labels, splits = all_embeddings(embeddings)
    if settings.l2_normalize:
        vectors = l2_normalized(vectors)
    pca_coordinates, variance = pca_map(vectors)
    tsne_coordinates, mapped = tsne_map(vectors, settings.tsne_perplexity, settings.seed, settings.tsne_max_points)
    tsne = np.full((len(vectors), 2), np.nan)
    tsne[mapped] = tsne_coordinates
    k = len(class_names)
    clusters = kmeans_clusters(vectors, k, settings.seed)
    table = pd.DataFrame(
        {
            "split": splits,
            "label": [class_names[int(label)] for label in labels],
            "pca_1": pca_coordinates[:, 0],
            "pca_2": pca_coordinates[:, 1],
            "tsne_1": tsne[:, 0],
            "tsne_2": tsne[:, 1],
            "cluster": clusters,
        }
    )
    metrics = {
        "explained_variance_pc1": float(variance[0]),
        "explained_variance_pc2": float(variance[1]),
        "explained_variance_pc1_pc2": float(variance.sum()),
        "kmeans_ari": adjusted_rand_index(labels, clusters),
        "images": float(len(vectors)),
        "classes": float(k),
    }
    logger.info(
        "PCA: PC1+PC2 explain %.1f%% of the variance; k-means (k=%d) against the labels: ARI %.3f.",
        100 * metrics["explained_variance_pc1_pc2"], k, metrics["kmeans_ari"],
    )
    return table, metrics


def plot_pca_map(embedding_map: pd.DataFrame, metrics: dict[str, float], class_names: list[str]) -> Figure:
    """The PCA map coloured by class, its axes giving each component's share of the variance."""
    return plot_embedding_map(
        embedding_map[["pca_1", "pca_2"]].to_numpy(),
        _label_indices(embedding_map, class_names),
        class_names,
        f"PCA of the embeddings: PC1+PC2 explain {100 * metrics['explained_variance_pc1_pc2']:.1f}% of the variance",
        (
            f"PC1 ({100 * metrics['explained_variance_pc1']:.1f}%)",
            f"PC2 ({100 * metrics['explained_variance_pc2']:.1f}%)",
        ),
    )


def plot_tsne_map(embedding_map: pd.DataFrame, class_names: list[str]) -> Figure:
    """The t-SNE map coloured by class (the images it holds)."""
    mapped = embedding_map.dropna(subset=["tsne_1", "tsne_2"])
    return plot_embedding_map(
        mapped[["tsne_1", "tsne_2"]].to_numpy(),
        _label_indices(mapped, class_names),
        class_names,
        f"t-SNE of the embeddings ({len(mapped)} images)",
        ("t-SNE 1", "t-SNE 2"),
    )


def embedding_metrics_for_mlflow(metrics: dict[str, float]) -> dict[str, dict[str, float | int]]:
    """The metrics in kedro-mlflow's ``MlflowMetricsHistoryDataset`` format (``{name: {value, step}}``)."""
    return {name: {"value": float(value), "step": 0} for name, value in metrics.items() if math.isfinite(value)}


def summarise_embeddings(metrics: dict[str, float], config: EmbeddingSettings) -> str:
    """A short Markdown summary of what the maps and the clusters show, for ``embeddings/summary.md``."""
    settings = EmbeddingSettings.from_config(config)
    ari, k = metrics["kmeans_ari"], int(metrics["classes"])
    verdict = next(words for floor, words in _VERDICTS if ari >= floor)
    return "\n".join(
        [
            "# Embeddings: what a pretrained backbone sees without labels",
            "",
            f"k-means (k = {k}) on {settings.backbone} embeddings of {int(metrics['images'])} images {verdict}: "
            f"adjusted Rand index {ari:.2f} against the labels (chance is 0, a perfect match 1).",
            "",
            f"- Embeddings: {settings.backbone} ({settings.weights or 'random'} weights), {settings.pooling} pooling"
            + (", L2-normalised" if settings.l2_normalize else "")
            + ", every image of train, val and test.",
            f"- PCA: PC1 explains {100 * metrics['explained_variance_pc1']:.1f}% and PC2 "
            f"{100 * metrics['explained_variance_pc2']:.1f}% of the variance "
            f"({100 * metrics['explained_variance_pc1_pc2']:.1f}% together): `pca_map.png`.",
            "- t-SNE (a non-linear map of who is near whom; distances between far-apart groups mean little): "
            "`tsne_map.png`.",
            "- Coordinates and clusters per image: `embedding_map.csv`.",
            "",
        ]
    )


def _label_indices(embedding_map: pd.DataFrame, class_names: list[str]) -> np.ndarray:
    index = {name: position for position, name in enumerate(class_names)}
    return embedding_map["label"].astype(str).map(index).to_numpy()
