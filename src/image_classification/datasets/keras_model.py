"""A Keras 3 model stored in the native ``.keras`` format, backend-neutral (no TensorFlow needed).

Keras is imported when a model is saved or loaded, not when the dataset is created: kedro-mlflow builds every
dataset of the catalog when a run starts, so ``kedro run --pipelines split`` would otherwise start a Keras backend.
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from typing import TYPE_CHECKING, Any

from kedro.io.core import DatasetError, get_filepath_str

from image_classification.datasets.atomic_file import AtomicFileDataset
from image_classification.models.metadata import (
    METADATA_ENTRY,
    ModelMetadata,
    attach_metadata,
    model_metadata,
    set_model_source,
)

if TYPE_CHECKING:  # only for annotations (no node is typed with this module)
    import keras

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
        # Not compiled on load (``load_args: {compile: true}`` restores the optimizer): every node that trains
        # compiles the model itself (``training.train_model``); the report, Grad-CAM and predict only predict.
        self._load_args = {"compile": False, **(load_args or {})}

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
            # Imported here: building the dataset (kedro-mlflow builds them all) must not start a Keras backend.
            import keras  # noqa: PLC0415

            import image_classification.models.custom_layers  # noqa: F401, PLC0415 - registers the custom layers

            try:
                model = keras.saving.load_model(path, **self._load_args)
            except Exception as error:  # a truncated .keras zip: Keras says "File not found: <this tmp>/model.keras"
                if _intact_zip(path):
                    raise  # a sound file that Keras cannot build (e.g. an unknown layer): its own error says more
                raise CorruptModelError(self, error) from error
            metadata = _read_metadata(path)
            if metadata is not None:
                attach_metadata(model, metadata)
            return model

    def load(self) -> keras.Model:
        model = super().load()
        set_model_source(model, get_filepath_str(self._get_load_path(), self._protocol))
        return model


class CorruptModelError(DatasetError):
    """A saved model file cannot be loaded (truncated, damaged, not a ``.keras`` file).

    Attributes:
        path: The file that failed, version folder included.
        version: Its version (None for an unversioned model).
        others: The other versions saved, newest first.
    """

    def __init__(self, dataset: KerasModelDataset, error: Exception) -> None:
        self.path = get_filepath_str(dataset._get_load_path(), dataset._protocol)
        version_folder = os.path.dirname(self.path)
        self.version = os.path.basename(version_folder) if dataset._version is not None else None
        root = os.path.dirname(version_folder)
        try:
            listed = sorted(os.listdir(root), reverse=True) if self.version else []
        except OSError:
            listed = []
        self.others = [name for name in listed if name != self.version and not name.startswith(".")
                       and os.path.exists(os.path.join(root, name, os.path.basename(self.path)))]  # fmt: skip
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        if self.version:
            older = f" Saved versions before it: {', '.join(self.others[:3])}." if self.others else ""
            # data/06_models/<strategy>/<model>.keras/<version>/<model>.keras is "<strategy>.<model>.model"
            name = f"{os.path.basename(os.path.dirname(root))}.{os.path.splitext(os.path.basename(root))[0]}.model"
            advice = (
                f"Load an earlier version with --load-versions {name}:"
                f"{self.others[0] if self.others else '<version>'},"
                f"{older} or train the model again; move the damaged version folder {version_folder} aside."
            )
        else:
            advice = "Train the model again or restore the file."
        super().__init__(
            f"The model file {self.path} (version {self.version or 'unversioned'}) cannot be loaded: it is damaged or "
            f"truncated ({reason}). {advice}"
        )


def _intact_zip(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


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
