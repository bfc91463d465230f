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
    """The sample grids as an animated GIF, one frame per epoch (epoch 0: before training), looping.

    Returns:
        A multi-frame Pillow image; saved with ``save_all: true`` (catalog ``gan.samples_gif``) it keeps every frame.
    """
    frames = [Image.fromarray(grid) for grid in sample_grids["grids"]]
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
