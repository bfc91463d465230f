"""A Keras 3 model stored in the native ``.keras`` format, backend-neutral (no TensorFlow needed)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import keras

# Importing the models package registers the project's custom layers for deserialisation.
import image_classification.models  # noqa: F401
from image_classification.datasets.atomic_file import AtomicFileDataset


class KerasModelDataset(AtomicFileDataset):
    """Saves a ``keras.Model`` with ``model.save`` and loads it with ``keras.saving.load_model``.

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
            with open(path, "rb") as stream:
                return stream.read()

    def _from_bytes(self, payload: bytes) -> keras.Model:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "model.keras")
            with open(path, "wb") as stream:
                stream.write(payload)
            return keras.saving.load_model(path, **self._load_args)


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
