"""Custom Kedro datasets: Keras models, NumPy array bundles, arrays larger than memory (memory-mapped) and the
kedro-datasets file types the catalogs use, all versioned and written atomically (``atomic_writes``); the CSV one
also neutralises spreadsheet formulas.

Each class is imported from its module when first used (``image_classification.datasets.KerasModelDataset`` in the
catalog, ``from image_classification.datasets import ArrayChunks`` in a node), so importing the package starts no
Keras backend and no matplotlib.
"""

from __future__ import annotations

from image_classification.config.lazy import lazy_exports

#: Class name -> the module of this package that defines it (PEP 562: imported on first use).
_MODULES = {
    "ArrayChunks": "array_chunks",
    "AtomicCSVDataset": "csv_file",
    "AtomicImageDataset": "kedro_files",
    "AtomicJSONDataset": "kedro_files",
    "AtomicMatplotlibDataset": "kedro_files",
    "AtomicParquetDataset": "kedro_files",
    "AtomicPickleDataset": "kedro_files",
    "AtomicTextDataset": "kedro_files",
    "KerasModelDataset": "keras_model",
    "MemmapArraysDataset": "memmap_arrays",
    "NumpyArraysDataset": "numpy_arrays",
    "SharedKerasModelDataset": "keras_model",
}

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


__getattr__, __dir__ = lazy_exports(__name__, _MODULES, globals())
