"""The Keras callback of ``train_gan``: sample grids of a fixed noise batch as the DCGAN trains.

Apart from ``nodes.py`` because it subclasses a Keras class: ``train_gan`` imports it when it runs, so registering
the pipeline imports no Keras.
"""

from __future__ import annotations

import keras
import numpy as np

from image_classification.pipelines.gan.images import MAX_SAMPLE_GRIDS, tile, to_uint8


class SampleGrids(keras.callbacks.Callback):
    """Generates a fixed noise batch before training and after every ``every``-th epoch and the last one, as one
    tiled uint8 grid each (``epochs`` lists which).

    Samples come from the model's moving-average generator (``DCGAN.ema_generator``), the one scored.
    """

    def __init__(self, noise: np.ndarray, columns: int, epochs: int) -> None:
        super().__init__()
        self.noise, self.columns, self.grids, self.epochs = noise, columns, [], []
        self.total, self.every = epochs, -(-epochs // MAX_SAMPLE_GRIDS)

    def _record(self, epoch: int) -> None:
        self.grids.append(tile(to_uint8(self.model.ema_generator(self.noise, training=False)), self.columns))
        self.epochs.append(epoch)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._record(0)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.every == 0 or epoch + 1 == self.total:
            self._record(epoch + 1)
