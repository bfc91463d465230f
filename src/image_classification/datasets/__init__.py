"""Custom Kedro datasets: Keras models and NumPy array bundles, versioned and written atomically."""

from image_classification.datasets.keras_model import KerasModelDataset, SharedKerasModelDataset
from image_classification.datasets.numpy_arrays import NumpyArraysDataset

__all__ = ["KerasModelDataset", "NumpyArraysDataset", "SharedKerasModelDataset"]
