"""Training batches fed from the preprocessed uint8 arrays: no image is decoded again during training."""

from __future__ import annotations

import math

import keras
import numpy as np


class ArrayBatches(keras.utils.PyDataset):
    """Batches of in-memory arrays: float32 images (cast per batch) and one-hot float32 labels.

    With ``shuffle`` the order is redrawn, from a generator seeded with ``seed``, at the start of every epoch.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        num_classes: int,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.images, self.labels = images, np.asarray(labels, dtype=np.int64)
        self.num_classes, self.batch_size, self.shuffle = num_classes, batch_size, shuffle
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.labels))

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        one_hot = np.eye(self.num_classes, dtype=np.float32)[self.labels[rows]]
        return self.images[rows].astype(np.float32), one_hot

    def on_epoch_begin(self) -> None:
        if self.shuffle:
            self._order = self._rng.permutation(len(self.labels))
