"""What image embeddings show without a classifier: 2-D maps, clusters against the labels, and nearest neighbours.

Pure functions on arrays (one row per image), with scikit-learn doing the work: ``PCA`` and ``TSNE`` for the maps,
``KMeans`` and ``adjusted_rand_score`` for the unsupervised view, ``NearestNeighbors(metric="cosine")`` for the
similar-image search and its precision@k.

t-SNE and k-means run on one thread: on a busy machine OpenMP's threads wait for each other (t-SNE of 300 images
took 28 s on two threads of two shared cores, 5 s on one), and the maps of a few thousand images are cheap anyway.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits


def l2_normalized(embeddings: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (all-zero rows stay zero), as float32."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def pca_map(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first two principal components of the embeddings.

    Args:
        embeddings: (N, D) with N >= 2 and D >= 2.

    Returns:
        ``(coordinates, explained_variance_ratio)``: (N, 2) and the share of the total variance each of the two
        components explains.

    Raises:
        ValueError: Fewer than two images or dimensions.
    """
    vectors = _at_least_two(embeddings, "a PCA map")
    pca = PCA(n_components=2, svd_solver="full")
    return pca.fit_transform(vectors), pca.explained_variance_ratio_


def tsne_map(
    embeddings: np.ndarray, perplexity: float, seed: int, max_points: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D t-SNE map of the embeddings, on a seeded random subset when there are more than ``max_points``.

    Args:
        embeddings: (N, D) with N >= 2.
        perplexity: t-SNE's perplexity; lowered to ``(n - 1) / 3`` for small n (scikit-learn needs it below n).
        seed: Seed of t-SNE and of the subset.
        max_points: At most this many images are mapped (None: all).

    Returns:
        ``(coordinates, rows)``: (M, 2) for the M mapped images, and their row numbers in ``embeddings`` (sorted).
    """
    vectors = _at_least_two(embeddings, "a t-SNE map")
    rows = np.arange(len(vectors))
    if max_points is not None and len(rows) > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_points, replace=False))
    chosen = vectors[rows]
    perplexity = min(float(perplexity), max((len(chosen) - 1) / 3, 1.0))
    # PCA initialisation keeps the map's global layout stable from run to run.
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    with threadpool_limits(limits=1):
        return tsne.fit_transform(chosen), rows


def kmeans_clusters(embeddings: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means cluster of each image (10 seeded restarts, the best kept).

    Raises:
        ValueError: ``k`` is below 1 or above the number of images.
    """
    vectors = np.asarray(embeddings, dtype=np.float32)
    if not 1 <= k <= len(vectors):
        raise ValueError(f"k-means needs 1 <= k <= the number of images ({len(vectors)}), got k={k}.")
    with threadpool_limits(limits=1):
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(vectors)


def adjusted_rand_index(labels: np.ndarray, clusters: np.ndarray) -> float:
    """How well the clusters recover the labels: 1 for the same grouping, about 0 for a chance one."""
    return float(adjusted_rand_score(np.asarray(labels), np.asarray(clusters)))


def nearest_neighbours(
    gallery: np.ndarray, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` gallery rows closest to each query by cosine distance (1 - cosine similarity), nearest first.

    Args:
        gallery: (G, D) embeddings searched.
        queries: (Q, D) embeddings searched for.
        k: Neighbours per query; at most the gallery's size (less the excluded row).
        exclude: Optional (Q,) gallery row per query never returned for it (the query itself when it is in the
            gallery), -1 for none.

    Returns:
        ``(distances, rows)``: float (Q, k) cosine distances and int (Q, k) gallery rows.

    Raises:
        ValueError: ``k`` out of range, or embeddings of different lengths.
    """
    gallery, queries = np.asarray(gallery, dtype=np.float32), np.asarray(queries, dtype=np.float32)
    if gallery.ndim != 2 or queries.ndim != 2 or gallery.shape[1] != queries.shape[1]:
        raise ValueError(
            f"Gallery and query embeddings must be (n, d) with the same d, got {gallery.shape} and {queries.shape}."
        )
    spare = 0 if exclude is None else 1
    if not 1 <= k <= len(gallery) - spare:
        raise ValueError(f"Cannot return {k} neighbours from a gallery of {len(gallery) - spare} images.")
    if len(queries) == 0:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    index = NearestNeighbors(n_neighbors=k + spare, metric="cosine").fit(gallery)
    distances, rows = index.kneighbors(queries)
    if exclude is not None:
        keep = rows != np.asarray(exclude).reshape(-1, 1)
        # Each row drops its excluded neighbour, or else its farthest one: k remain either way.
        keep[keep.all(axis=1), -1] = False
        distances = distances[keep].reshape(len(queries), k)
        rows = rows[keep].reshape(len(queries), k)
    return distances, rows


def precision_at_k(query_labels: np.ndarray, neighbour_labels: np.ndarray) -> np.ndarray:
    """Per query, the share of its neighbours with the query's label.

    Args:
        query_labels: (Q,) labels.
        neighbour_labels: (Q, k) labels of each query's k neighbours (the query itself not among them).

    Returns:
        (Q,) floats in 0..1; their mean is the precision@k.
    """
    neighbour_labels = np.asarray(neighbour_labels)
    if neighbour_labels.ndim != 2 or len(neighbour_labels) != len(query_labels):
        raise ValueError(
            f"neighbour_labels must be (queries, k) for {len(query_labels)} queries, got {neighbour_labels.shape}."
        )
    return (neighbour_labels == np.asarray(query_labels).reshape(-1, 1)).mean(axis=1)


def chance_precision(query_labels: np.ndarray, gallery_labels: np.ndarray) -> float:
    """The precision@k of neighbours drawn at random from the gallery: the mean gallery share of each query's class."""
    gallery_labels = np.asarray(gallery_labels)
    if len(gallery_labels) == 0 or len(query_labels) == 0:
        return float("nan")
    return float(np.mean([np.mean(gallery_labels == label) for label in np.asarray(query_labels)]))


def example_queries(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` seeded rows to show as example queries, of as many different labels as possible."""
    labels = np.asarray(labels)
    order = np.random.default_rng(seed).permutation(len(labels))
    first_of_label, rest, seen = [], [], set()
    for row in order:
        (rest if labels[row] in seen else first_of_label).append(row)
        seen.add(labels[row])
    return np.array((first_of_label + rest)[:count], dtype=np.int64)


def _at_least_two(embeddings: np.ndarray, what: str) -> np.ndarray:
    vectors = np.asarray(embeddings, dtype=np.float32)
    if vectors.ndim != 2 or min(vectors.shape) < 2:
        raise ValueError(f"{what} needs at least two images of at least two dimensions, got shape {vectors.shape}.")
    return vectors
