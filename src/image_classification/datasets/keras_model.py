"""A Keras 3 model stored in the native ``.keras`` format, backend-neutral (no TensorFlow needed)."""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from typing import Any

import keras
from kedro.io.core import get_filepath_str

# Importing the models package registers the project's custom layers for deserialisation.
import image_classification.models  # noqa: F401
from image_classification.datasets.atomic_file import AtomicFileDataset
from image_classification.models.metadata import (
    METADATA_ENTRY,
    ModelMetadata,
    attach_metadata,
    model_metadata,
    set_model_source,
)

logger = logging.getLogger(__name__)


class KerasModelDataset(AtomicFileDataset):
    """Saves a ``keras.Model`` with ``model.save`` and loads it with ``keras.saving.load_model``.

    The model's ``models.metadata.ModelMetadata`` (class names, input size, training data fingerprint) travels in
    the ``.keras`` zip as the extra entry ``image_classification.json``, which Keras itself ignores; on load it is
    attached to the model again, with the file it was loaded from (``models.metadata.describe_model``).

    Unlike kedro-datasets' ``tensorflow.TensorFlowModelDataset`` this never imports TensorFlow, so it works
    on Keras's JAX backend too. Example catalog entry::

        transfer.mobilenet_v2.model:
          type: image_classification.datasets.KerasModelDataset
          filepath: data/06_models/transfer/mobilenet_v2.keras
          versioned: true
    """

    def __init__(self, *, load_args: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._load_args = {"compile": True, **(load_args or {})}

    def _to_bytes(self, data: keras.Model) -> bytes:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "model.keras")
            data.save(path)
            metadata = model_metadata(data)
            if metadata is not None:
                with zipfile.ZipFile(path, "a") as archive:
                    archive.writestr(METADATA_ENTRY, metadata.to_json())
            with open(path, "rb") as stream:
                return stream.read()

    def _from_bytes(self, payload: bytes) -> keras.Model:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "model.keras")
            with open(path, "wb") as stream:
                stream.write(payload)
            model = keras.saving.load_model(path, **self._load_args)
            metadata = _read_metadata(path)
            if metadata is not None:
                attach_metadata(model, metadata)
            return model

    def load(self) -> keras.Model:
        model = super().load()
        set_model_source(model, get_filepath_str(self._get_load_path(), self._protocol))
        return model


def _read_metadata(path: str) -> ModelMetadata | None:
    with zipfile.ZipFile(path) as archive:
        if METADATA_ENTRY not in archive.namelist():
            return None
        text = archive.read(METADATA_ENTRY)
    try:
        return ModelMetadata.from_json(text)
    except ValueError as error:  # the model itself loaded: use it as a model saved without metadata
        logger.warning("Ignoring the model's metadata: %s", error)
        return None


class SharedKerasModelDataset(KerasModelDataset):
    """A ``KerasModelDataset`` whose loaded model stays itself under ``copy.deepcopy``.

    The served model (kedro-mlflow's ``KedroPipelineModel``) deep-copies its catalog on every request; copying a
    Keras model and retracing its predict function costs seconds a request (MobileNetV2), sharing it nothing.
    Predicting only reads the weights, so sharing is safe.
    """

    def _from_bytes(self, payload: bytes) -> Any:
        model = super()._from_bytes(payload)
        model.__deepcopy__ = lambda memo: model  # copy.deepcopy looks __deepcopy__ up on the object itself
        return model
