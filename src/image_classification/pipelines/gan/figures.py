"""How the GAN's samples evolve: an animated GIF and a contact sheet of the fixed noise batch, epoch by epoch."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

#: Epochs shown on the contact sheet (evenly spaced, first and last included).
SHEET_EPOCHS = 8
#: Milliseconds each epoch stays on screen in the GIF (the last one three times as long).
FRAME_MS = 300


def samples_gif(sample_grids: dict[str, np.ndarray]) -> Image.Image:
    """The sample grids as an animated GIF, one frame per recorded epoch (epoch 0: before training), looping.

    Returns:
        A multi-frame Pillow image; saved with ``save_all: true`` (catalog ``gan.samples_gif``) it keeps every frame.
    """
    # Each frame gets its own 256-colour palette by fast octree quantisation: ten times faster than letting the GIF
    # writer quantise every RGB frame (median cut), and saving it again (the catalog dataset) re-quantises nothing.
    frames = [Image.fromarray(grid).quantize(256, method=Image.Quantize.FASTOCTREE) for grid in sample_grids["grids"]]
    durations = [FRAME_MS] * (len(frames) - 1) + [FRAME_MS * 3]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    buffer.seek(0)
    return Image.open(buffer)


def plot_sample_evolution(sample_grids: dict[str, np.ndarray]) -> Figure:
    """A contact sheet: the sample grid at up to ``SHEET_EPOCHS`` evenly spaced epochs, first and last included."""
    grids, epochs = sample_grids["grids"], sample_grids["epochs"]
    shown = np.unique(np.linspace(0, len(grids) - 1, min(SHEET_EPOCHS, len(grids))).round().astype(int))
    columns = min(4, len(shown))
    rows = -(-len(shown) // columns)
    figure = Figure(figsize=(3.2 * columns, 3.4 * rows))
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, index in zip(axes.flat, shown):
        axis.imshow(grids[index])
        axis.set_title("before training" if epochs[index] == 0 else f"epoch {epochs[index]}", fontsize=10)
    figure.suptitle("DCGAN samples of one fixed noise batch", fontsize=12)
    figure.tight_layout()
    return figure


def plot_copying_check(
    generated: np.ndarray,
    nearest_training: np.ndarray,
    distances: np.ndarray,
    generated_distances: np.ndarray,
    test_distances: np.ndarray,
) -> Figure:
    """The copying check: generated images beside their nearest training image, above the two distance histograms.

    Args:
        generated: uint8 (K, S, S, 3) generated images shown.
        nearest_training: uint8 (K, S, S, 3) the nearest training image of each.
        distances: (K,) their feature distances.
        generated_distances: Every scored generated image's distance to its nearest training image.
        test_distances: Every test image's distance to its nearest training image.
    """
    pairs_per_row = 4
    rows = -(-len(generated) // pairs_per_row)
    figure = Figure(figsize=(2.0 * 2 * pairs_per_row, 2.1 * rows + 3.0))
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(rows + 1, 2 * pairs_per_row, height_ratios=[1.0] * rows + [1.6])
    for index, (image, nearest, distance) in enumerate(zip(generated, nearest_training, distances)):
        row, pair = divmod(index, pairs_per_row)
        for offset, (picture, title) in enumerate(((image, f"generated {index}"), (nearest, f"nearest: {distance:.1f}"))):
            axis = figure.add_subplot(grid[row, 2 * pair + offset])
            axis.imshow(picture)
            axis.set_title(title, fontsize=8)
            axis.axis("off")
    axis = figure.add_subplot(grid[rows, :])
    bins = np.linspace(0, max(generated_distances.max(), test_distances.max()) * 1.05, 40)
    for values, label in ((generated_distances, "generated"), (test_distances, "test paintings (never trained on)")):
        axis.hist(values, bins=bins, density=True, alpha=0.55, label=f"{label}: median {np.median(values):.1f}")
        axis.axvline(np.median(values), linestyle="--", linewidth=1, color=axis.patches[-1].get_facecolor()[:3])
    axis.set_xlabel("distance to the nearest training painting (MobileNetV2 features)")
    axis.set_ylabel("density")
    axis.legend(fontsize=8)
    figure.suptitle("Copying check: each generated sample beside its nearest training painting", fontsize=12)
    figure.tight_layout()
    return figure
