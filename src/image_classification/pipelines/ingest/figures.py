"""EDA figures of the ``ingest`` pipeline: class counts, a sample grid and image sizes.

Figures are built on matplotlib's Agg canvas directly (no pyplot), so no global figure state is kept and nodes can
run in any thread; the catalog's ``MatplotlibDataset`` saves them as PNG.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from image_classification.data.images import UnreadableImageError, load_rgb


def plot_class_counts(manifest: pd.DataFrame) -> Figure:
    """Horizontal bar chart of images per class, largest first; stays readable with 100+ classes.

    Args:
        manifest: The manifest from :func:`build_manifest`.

    Returns:
        A matplotlib ``Figure`` (Agg canvas).
    """
    counts = manifest["label"].astype(str).value_counts()
    counts = counts.sort_index().sort_values(
        ascending=True, kind="stable"
    )  # barh draws bottom-up: largest on top
    fontsize = _label_fontsize(len(counts))
    figure = _figure(7.0, max(2.5, 0.2 * len(counts) + 1.2))
    axes = figure.subplots()
    positions = np.arange(
        len(counts)
    )  # numeric positions: class names like "0".."9" must stay categories
    axes.barh(positions, counts.to_numpy(), color="tab:blue")
    for y, count in zip(positions, counts.to_numpy()):
        axes.text(count, y, f" {count}", va="center", fontsize=fontsize)
    axes.set_yticks(positions, counts.index, fontsize=fontsize)
    axes.set_ylim(-0.6, len(counts) - 0.4)
    axes.margins(x=0.12)
    axes.set_xlabel("images")
    axes.set_title(f"Images per class: {len(manifest)} images, {len(counts)} classes")
    return figure


def plot_sample_grid(manifest: pd.DataFrame, n_images: int = 16, seed: int = 0) -> Figure:
    """Grid of example images with their labels, one class after another, chosen reproducibly.

    Args:
        manifest: The manifest from :func:`build_manifest`.
        n_images: How many images to show.
        seed: Seed of the random choice within each class.

    Returns:
        A matplotlib ``Figure`` (Agg canvas).
    """
    rows = _round_robin_sample(manifest, n_images, seed)
    columns = max(1, math.ceil(math.sqrt(len(rows))))
    lines = max(1, math.ceil(len(rows) / columns))
    figure = _figure(2.0 * columns, 2.1 * lines)
    for index, axes in enumerate(figure.subplots(lines, columns, squeeze=False).ravel()):
        axes.axis("off")
        if index >= len(rows):
            continue
        path, label = rows[index]
        try:
            image = load_rgb(path)
            image.thumbnail((160, 160))
            axes.imshow(image, interpolation="nearest")
        except UnreadableImageError as error:
            axes.text(
                0.5, 0.5, f"unreadable:\n{error.reason[:40]}", ha="center", va="center", fontsize=7
            )
        axes.set_title(textwrap.shorten(label, 22, placeholder="…"), fontsize=8)
    figure.suptitle(f"Sample images ({len(rows)} of {len(manifest)})", fontsize=10)
    return figure


def plot_image_sizes(manifest: pd.DataFrame) -> Figure:
    """Histograms of image widths and heights (after EXIF rotation) and a width-height scatter plot.

    Args:
        manifest: The manifest from :func:`build_manifest`.

    Returns:
        A matplotlib ``Figure`` (Agg canvas).
    """
    widths, heights = manifest["width"].to_numpy(), manifest["height"].to_numpy()
    figure = _figure(10.0, 3.8)
    histogram, scatter = figure.subplots(1, 2)
    bins = min(40, max(1, len(set(widths) | set(heights))))
    histogram.hist(
        [widths, heights], bins=bins, label=["width", "height"], color=["tab:blue", "tab:orange"]
    )
    histogram.set_xlabel("pixels")
    histogram.set_ylabel("images")
    histogram.legend(fontsize=8)
    histogram.set_title(
        f"Median {int(np.median(widths))} x {int(np.median(heights))} px", fontsize=10
    )
    scatter.scatter(widths, heights, s=6, alpha=0.4)
    scatter.set_xlabel("width (px)")
    scatter.set_ylabel("height (px)")
    scatter.set_title(
        f"widths {widths.min()}-{widths.max()} px, heights {heights.min()}-{heights.max()} px",
        fontsize=10,
    )
    figure.suptitle(f"Image sizes ({len(manifest)} images)", fontsize=11)
    return figure


def _figure(width: float, height: float) -> Figure:
    """A figure drawn by Agg directly: no pyplot state, so nodes can run in any thread."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _label_fontsize(n_labels: int) -> float:
    return 9.0 if n_labels <= 30 else max(5.0, 9.0 - n_labels / 30)


def _round_robin_sample(manifest: pd.DataFrame, n_images: int, seed: int) -> list[tuple[str, str]]:
    """Takes one image per class in turn (classes sorted, images shuffled with ``seed``) until ``n_images``."""
    rng = np.random.default_rng(seed)
    per_class = [
        (str(label), group["path"].sort_values().to_numpy()[rng.permutation(len(group))])
        for label, group in manifest.groupby(manifest["label"].astype(str), sort=True)
    ]
    chosen: list[tuple[str, str]] = []
    for depth in range(max((len(paths) for _, paths in per_class), default=0)):
        for label, paths in per_class:
            if depth < len(paths) and len(chosen) < n_images:
                chosen.append((str(paths[depth]), label))
    return chosen
