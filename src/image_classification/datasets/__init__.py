"""Custom Kedro datasets: Keras models, NumPy array bundles, arrays larger than memory (memory-mapped) and the
kedro-datasets file types the catalogs use, all versioned and written atomically (``atomic_writes``); the CSV one
also neutralises spreadsheet formulas."""

from image_classification.datasets.array_chunks import ArrayChunks
from image_classification.datasets.csv_file import AtomicCSVDataset
from image_classification.datasets.kedro_files import (
    AtomicImageDataset,
    AtomicJSONDataset,
    AtomicMatplotlibDataset,
    AtomicParquetDataset,
    AtomicPickleDataset,
    AtomicTextDataset,
)
from image_classification.datasets.keras_model import KerasModelDataset, SharedKerasModelDataset
from image_classification.datasets.memmap_arrays import MemmapArraysDataset
from image_classification.datasets.numpy_arrays import NumpyArraysDataset

__all__ = [
    "ArrayChunks",
    "AtomicCSVDataset",
    "AtomicImageDataset",
    "AtomicJSONDataset",
    "AtomicMatplotlibDataset",
    "AtomicParquetDataset",
    "AtomicPickleDataset",
    "AtomicTextDataset",
    "KerasModelDataset",
    "MemmapArraysDataset",
    "NumpyArraysDataset",
    "SharedKerasModelDataset",
]
