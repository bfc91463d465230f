"""Figures of the embeddings and similar pipelines: a 2-D map coloured by class, and queries with their neighbours.

Built on ``matplotlib.figure.Figure`` (not pyplot), as in ``reporting.figures``: nothing to close, headless-safe.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

_WRONG_COLOUR = "#c0392b"
_RIGHT_COLOUR = "#1e6b34"
# Above this many classes a legend hides the map: the points stay coloured, the legend is left out.
LEGEND_MAX_CLASSES = 20


def plot_embedding_map(
    coordinates: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    title: str,
    axis_labels: tuple[str, str] = ("1", "2"),
) -> Figure:
    """A scatter of 2-D embedding coordinates, one colour per class.

    Args:
        coordinates: (N, 2) map coordinates.
        labels: (N,) class indices into ``class_names``.
        class_names: Class names; a label's index is its position.
        title: Figure title (what the map is, and e.g. its explained variance).
        axis_labels: Names of the two axes.
    """
    coordinates, labels = np.asarray(coordinates), np.asarray(labels)
    figure = Figure(figsize=(7.5, 6))
    axes = figure.add_subplot()
    palette = colormaps["tab10" if len(class_names) <= 10 else "tab20"]
    markers = "os^Dv<>P*X"
    for index, name in enumerate(class_names):
        mine = labels == index
        if not mine.any():
            continue
        colour = palette(index % palette.N)
        marker = markers[(index // palette.N) % len(markers)]  # a second round of colours gets other markers
        axes.scatter(*coordinates[mine].T, s=18, color=colour, marker=marker, alpha=0.8, label=name, linewidths=0)
    axes.set_title(title)
    axes.set_xlabel(axis_labels[0])
    axes.set_ylabel(axis_labels[1])
    if len(class_names) <= LEGEND_MAX_CLASSES:
        axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small", frameon=False, markerscale=1.5)
    return figure


def plot_similar_examples(  # noqa: PLR0913 - the images, labels and distances of queries and neighbours
    query_images: np.ndarray,
    query_labels: np.ndarray,
    neighbour_images: np.ndarray,
    neighbour_labels: np.ndarray,
    neighbour_distances: np.ndarray,
    class_names: list[str],
) -> Figure:
    """One row per query: the query image, then its neighbours, nearest first, titled by class and distance.

    A neighbour's title is green when it has the query's class, red otherwise.

    Args:
        query_images: uint8 (Q, H, W, 3).
        query_labels: (Q,) class indices.
        neighbour_images: uint8 (Q, k, H, W, 3).
        neighbour_labels: (Q, k) class indices.
        neighbour_distances: (Q, k) cosine distances.
        class_names: Class names; a label's index is its position.
    """
    queries, k = np.asarray(neighbour_labels).shape if len(query_labels) else (0, 0)
    figure = Figure(figsize=(1.8 * (k + 1), 2.1 * max(queries, 1)), layout="constrained")
    if queries == 0:
        figure.text(0.5, 0.5, "No test image to query with", ha="center", va="center")
        return figure
    grid = figure.subplots(queries, k + 1, squeeze=False)
    for row in range(queries):
        query_label = int(query_labels[row])
        _show(grid[row, 0], query_images[row], f"query\n{class_names[query_label]}", "black", bold=True)
        for column in range(k):
            label = int(neighbour_labels[row, column])
            colour = _RIGHT_COLOUR if label == query_label else _WRONG_COLOUR
            title = f"{class_names[label]}\nd={float(neighbour_distances[row, column]):.3f}"
            _show(grid[row, column + 1], neighbour_images[row, column], title, colour)
    figure.suptitle(f"Test images and their {k} nearest neighbours (cosine) among train + val")
    return figure


def _show(axes, image: np.ndarray, title: str, colour: str, bold: bool = False) -> None:
    axes.imshow(np.asarray(image, dtype=np.uint8))
    axes.set_title(title, fontsize="small", color=colour, fontweight="bold" if bold else "normal")
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(2.5 if bold else 1.5)
