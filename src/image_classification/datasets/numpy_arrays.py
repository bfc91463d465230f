"""A bundle of named NumPy arrays stored as one ``.npz`` file."""

from __future__ import annotations

import io

import numpy as np

from image_classification.datasets.atomic_file import AtomicFileDataset


class NumpyArraysDataset(AtomicFileDataset):
    """Saves ``dict[str, np.ndarray]`` as an uncompressed ``.npz`` and loads it back as a dict.

    Example catalog entry::

        images_train:
          type: image_classification.datasets.NumpyArraysDataset
          filepath: data/05_model_input/images_train.npz
          versioned: true
    """

    def _to_bytes(self, data: dict[str, np.ndarray]) -> bytes:
        if not isinstance(data, dict) or not data:
            raise TypeError("NumpyArraysDataset saves a non-empty dict of name -> numpy array.")
        buffer = io.BytesIO()
        np.savez(buffer, **{name: np.asarray(array) for name, array in data.items()})
        return buffer.getvalue()

    def _from_bytes(self, payload: bytes) -> dict[str, np.ndarray]:
        with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}
