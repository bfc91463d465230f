"""The report's Grad-CAM figure: test images with the class activation heatmap over them, right and wrong alike."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are only saved
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image


def pick_examples(true: np.ndarray, predicted: np.ndarray, per_kind: int = 4) -> np.ndarray:
    """Indices of up to ``per_kind`` correct and ``per_kind`` wrong predictions, spread over the test set.

    Evenly spaced rather than the first ones, so the grid is not all one class (test arrays are often sorted).
    """
    picked = []
    for wanted in (True, False):
        candidates = np.flatnonzero((true == predicted) == wanted)
        if len(candidates):
            spread = np.linspace(0, len(candidates) - 1, min(per_kind, len(candidates))).round().astype(int)
            picked.extend(candidates[np.unique(spread)])
    return np.array(picked, dtype=int)


def overlay(image: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """``heatmap`` (h, w) in [0, 1] resized to the image and blended over it in the jet colour map, as uint8."""
    height, width = image.shape[:2]
    resized = Image.fromarray((heatmap * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BILINEAR)
    colours = plt.get_cmap("jet")(np.asarray(resized) / 255.0)[..., :3]
    blended = 0.55 * image.astype(np.float32) / 255.0 + 0.45 * colours
    return (np.clip(blended, 0, 1) * 255).astype(np.uint8)


def gradcam_figure(
    images: np.ndarray,
    heatmaps: np.ndarray,
    true: np.ndarray,
    predicted: np.ndarray,
    class_names: Sequence[str],
    title: str,
) -> plt.Figure:
    """A grid: per example the image, and above it the heatmap of the predicted class; green titles are right.

    Args:
        images: (N, H, W, 3) uint8 images.
        heatmaps: (N, h, w) Grad-CAM heatmaps in [0, 1] (``models.gradcam.gradcam_heatmaps``).
        true: (N,) true class indices.
        predicted: (N,) predicted class indices (the class each heatmap explains).
        class_names: Names by class index.
        title: The figure's title (which model).
    """
    count = len(images)
    columns = max(1, min(4, count))
    rows = max(1, -(-count // columns))
    figure, axes = plt.subplots(2 * rows, columns, figsize=(2.6 * columns, 5.2 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for index in range(count):
        row, column = 2 * (index // columns), index % columns
        right = true[index] == predicted[index]
        axes[row, column].imshow(overlay(images[index], heatmaps[index]))
        axes[row, column].set_title(
            f"predicted {class_names[predicted[index]]}\ntrue {class_names[true[index]]}",
            color="green" if right else "red",
            fontsize=8,
        )
        axes[row + 1, column].imshow(images[index])
    if count == 0:
        axes[0, 0].text(0.5, 0.5, "no test images", ha="center", va="center")
    figure.suptitle(title)
    figure.tight_layout()
    return figure
