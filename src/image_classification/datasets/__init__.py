"""Custom Kedro datasets: Keras models, NumPy array bundles, arrays larger than memory (memory-mapped) and the
kedro-datasets file types the catalogs use, all versioned and written atomically (``atomic_writes``); the CSV one
also neutralises spreadsheet formulas.

Each class is imported from its module when first used (``image_classification.datasets.KerasModelDataset`` in the
catalog, ``from image_classification.datasets import ArrayChunks`` in a node), so importing the package starts no
Keras backend and no matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULES})
