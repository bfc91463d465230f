"""The kedro-datasets file datasets the catalogs use, with atomic saves (``atomic_writes.AtomicSaveMixin``).

Each class is its kedro-datasets parent with the same arguments (``load_args``, ``save_args``, ``fs_args``,
``credentials``, ``versioned``, ``metadata``); only the save goes through a temporary file moved into place, so a save
that fails half way (a full disk, a serialiser that raises) leaves the previous version as the latest and no new
version folder. The CSV dataset (``csv_file.AtomicCSVDataset``) also neutralises spreadsheet formulas. Example::

    manifest:
      type: image_classification.datasets.AtomicParquetDataset
      filepath: data/02_intermediate/manifest.parquet
      versioned: true
"""

from __future__ import annotations

from kedro.io.core import get_filepath_str
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import ParquetDataset
from kedro_datasets.pickle import PickleDataset
from kedro_datasets.pillow import ImageDataset
from kedro_datasets.text import TextDataset

from image_classification.datasets.atomic_writes import AtomicSaveMixin


class AtomicParquetDataset(AtomicSaveMixin, ParquetDataset):
    """``pandas.ParquetDataset`` whose saves are atomic."""


class AtomicJSONDataset(AtomicSaveMixin, JSONDataset):
    """``json.JSONDataset`` whose saves are atomic."""


class AtomicImageDataset(AtomicSaveMixin, ImageDataset):
    """``pillow.ImageDataset`` whose saves are atomic."""


class AtomicPickleDataset(AtomicSaveMixin, PickleDataset):
    """``pickle.PickleDataset`` whose saves are atomic."""


class AtomicMatplotlibDataset(AtomicSaveMixin, MatplotlibDataset):
    """``matplotlib.MatplotlibDataset`` whose saves are atomic (each file of a list or dict of figures, too), and
    that loads a figure it saved as its PNG bytes (kedro-datasets' is write-only), so the HTML report embeds the
    figures the run saved instead of drawing them a second time."""

    def load(self) -> bytes:
        """The PNG bytes of the saved figure (the version being loaded).

        Raises:
            DatasetError: Nothing saved yet, or the dataset holds a folder of figures (a list or dict was saved).
        """
        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, mode="rb") as file:
            return file.read()


class AtomicTextDataset(AtomicSaveMixin, TextDataset):
    """``text.TextDataset`` whose saves are atomic."""
