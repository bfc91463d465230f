"""A bundle of named NumPy arrays stored as one ``.npz`` file (small outputs: features, embeddings, sample grids).

Arrays larger than memory (the preprocessed image splits) go to ``MemmapArraysDataset`` instead: an ``.npz`` is
read whole. Saving and loading stream through the file, so the arrays are held once, not also as bytes.
"""

from __future__ import annotations

import numpy as np
from kedro.io.core import DatasetError, get_filepath_str

from image_classification.datasets.atomic_file import AtomicFileDataset
from image_classification.datasets.atomic_writes import atomic_save


class NumpyArraysDataset(AtomicFileDataset):
    """Saves ``dict[str, np.ndarray]`` as an uncompressed ``.npz`` and loads it back as a dict.

    Example catalog entry::

        "{strategy}.{model}.features":
          type: image_classification.datasets.NumpyArraysDataset
          filepath: data/05_model_input/features/{strategy}.{model}.npz
          versioned: true
    """

    def save(self, data: dict[str, np.ndarray]) -> None:
        if not isinstance(data, dict) or not data:
            raise DatasetError("NumpyArraysDataset saves a non-empty dict of name -> numpy array.")
        try:
            with atomic_save(self) as save_path, self._fs.open(save_path, "wb") as stream:
                np.savez(stream, **{name: np.asarray(array) for name, array in data.items()})
        except DatasetError:
            raise
        except Exception as exc:
            raise DatasetError(f"Could not save arrays to '{self._filepath}': {exc}") from exc
        self._invalidate_cache()

    def load(self) -> dict[str, np.ndarray]:
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(load_path, "rb") as stream, np.load(stream, allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}
