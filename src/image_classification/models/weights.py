"""Where a backbone's ImageNet weights file comes from (``weights: imagenet``).

In this order, the first that exists wins:

1. The copy shipped with the package in ``image_classification/bundled/weights/`` (MobileNetV2 and MobileNet v1
   0.75 only), whose sha256 is checked on first use in each process.
2. ``$KERAS_HOME/models/<Keras's file name>``.
3. ``~/.keras/models/<Keras's file name>``.
4. Keras's download (``keras.utils.get_file``) into Keras's cache, for machines with internet.

So the two bundled backbones work offline out of the box, and any other backbone once its file is in Keras's cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import keras
import numpy as np

from image_classification.data.archives import file_sha256

#: ``weights`` values that mean random initialisation.
RANDOM_WEIGHTS = (None, "random")
#: Folder of the weight files shipped with the package (see its README.md for provenance and licence).
BUNDLED_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "bundled" / "weights"

# (path, size, mtime) of bundled files whose sha256 has been checked in this process.
_verified: set[tuple[str, int, int]] = set()


class BackboneWeightsUnavailableError(FileNotFoundError):
    """The ImageNet weights file of a backbone is neither bundled, cached locally nor downloadable."""


class BundledWeightsCorruptedError(ValueError):
    """A weights file shipped with the package does not have its recorded sha256."""


@dataclass(frozen=True)
class BundledWeights:
    """A no-top ImageNet weights file shipped in ``image_classification/bundled/weights/``.

    Attributes:
        file_name: The file's name in that folder.
        sha256: Its expected hex sha256.
    """

    file_name: str
    sha256: str


class ImagenetWeightsSource(Protocol):
    """Where one backbone's no-top ImageNet weights come from: what this module reads of a ``BackboneSpec``."""

    @property
    def keras_weights_file(self) -> str: ...  # the file's name in Keras's cache
    @property
    def weights_url(self) -> str: ...  # where Keras downloads it from
    @property
    def weights_hash(self) -> str | None: ...  # the hash Keras checks a download against
    @property
    def bundled_weights(self) -> BundledWeights | None: ...  # the copy shipped with the package, if any


def keras_cache_dirs() -> list[Path]:
    """Folders searched for Keras's cached weight files: ``$KERAS_HOME/models`` (if set), then ``~/.keras/models``."""
    dirs = [Path(os.environ["KERAS_HOME"]).expanduser() / "models"] if os.environ.get("KERAS_HOME") else []
    home = Path("~/.keras/models").expanduser()
    return dirs if home in dirs else [*dirs, home]


def verified_bundled_file(bundled: BundledWeights) -> Path | None:
    """The bundled weights file, its sha256 checked (once per process), or None when it is not installed.

    Raises:
        BundledWeightsCorruptedError: The file exists but its sha256 differs from the recorded one.
    """
    path = BUNDLED_WEIGHTS_DIR / bundled.file_name
    if not path.is_file():
        return None
    status = path.stat()
    key = (str(path), status.st_size, status.st_mtime_ns)
    if key in _verified:
        return path
    actual = file_sha256(path)
    if actual != bundled.sha256.lower():
        raise BundledWeightsCorruptedError(
            f"The bundled ImageNet weights file '{path}' is damaged: its sha256 is {actual}, expected "
            f"{bundled.sha256}. Reinstall the package (`make install`, or `pip install --force-reinstall "
            "image_classification`) or restore the file (`git checkout -- src/image_classification/bundled/weights/`)."
        )
    _verified.add(key)
    return path


def local_imagenet_weights_file(spec: ImagenetWeightsSource) -> Path | None:
    """The ImageNet weights file of ``spec`` available without network (bundled, else Keras's cache), or None.

    Raises:
        BundledWeightsCorruptedError: The bundled copy is damaged.
    """
    if spec.bundled_weights is not None:
        bundled = verified_bundled_file(spec.bundled_weights)
        if bundled is not None:
            return bundled
    for folder in keras_cache_dirs():
        if (folder / spec.keras_weights_file).is_file():
            return folder / spec.keras_weights_file
    return None


def imagenet_weights_file(name: str, spec: ImagenetWeightsSource) -> Path:
    """The ImageNet weights file of backbone ``name``: bundled, Keras's cache, else downloaded by Keras.

    Raises:
        BackboneWeightsUnavailableError: Not bundled, not cached, and the download failed (e.g. offline).
        BundledWeightsCorruptedError: The bundled copy is damaged.
    """
    local = local_imagenet_weights_file(spec)
    if local is not None:
        return local
    import keras

    try:  # users with internet get the file into Keras's cache, as weights="imagenet" would
        return Path(
            keras.utils.get_file(
                spec.keras_weights_file, spec.weights_url, cache_subdir="models", file_hash=spec.weights_hash
            )
        )
    except Exception as error:  # noqa: BLE001 - any download failure means "not available offline"
        searched = ", ".join(str(folder) for folder in keras_cache_dirs())
        missing_bundled = (
            f" The copy bundled with the package ({BUNDLED_WEIGHTS_DIR / spec.bundled_weights.file_name}) is "
            "missing too: reinstall the package (`make install`)."
            if spec.bundled_weights is not None
            else ""
        )
        raise BackboneWeightsUnavailableError(
            f"ImageNet weights for backbone '{name}' need the file '{spec.keras_weights_file}', which is not in "
            f"{searched} and could not be downloaded from {spec.weights_url} ({error}).{missing_bundled} Fix: "
            "download it on a machine with internet and either put it in $KERAS_HOME/models/ (KERAS_HOME="
            f"{os.environ.get('KERAS_HOME', 'unset')}) or ~/.keras/models/, or set "
            f"`weights: /path/to/{spec.keras_weights_file}` in this model's parameters; "
            "`weights: null` trains from random initialisation instead."
        ) from error


def weights_file(name: str, spec: ImagenetWeightsSource, weights: str | os.PathLike | None) -> Path | None:
    """The weights file backbone ``name`` will load, or None for random initialisation.

    Args:
        name: Registry name of the backbone (for messages).
        spec: Its registry entry.
        weights: None or ``"random"`` (random init), ``"imagenet"`` (see the module docstring for the search
            order), or a file path.

    Raises:
        BackboneWeightsUnavailableError: ``"imagenet"`` but the file is neither bundled, cached nor downloadable.
        BundledWeightsCorruptedError: ``"imagenet"`` and the bundled copy is damaged.
        FileNotFoundError: A path that does not exist.
    """
    keyword = weights.lower() if isinstance(weights, str) else weights
    if keyword in RANDOM_WEIGHTS:
        return None
    if keyword == "imagenet":
        return imagenet_weights_file(name, spec)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"Weights file '{path}' for backbone '{name}' does not exist (parameter `weights`). Set `weights` to an "
            f"existing file (e.g. /path/to/{spec.keras_weights_file}), 'imagenet', or null for random weights."
        )
    return path


# Per-channel ImageNet standard deviation EfficientNet divides by (keras/src/applications/efficientnet.py).
_EFFICIENTNET_STDDEV_RGB = np.array([0.229, 0.224, 0.225], dtype="float32")


def efficientnet_input_scale(model: keras.Model) -> None:
    """Reproduces the input scaling Keras adds to EfficientNet only when built with ``weights="imagenet"``.

    That model has an extra ``Rescaling(1 / sqrt(stddev))`` after its ``Normalization`` layer; dividing by
    ``sqrt(variance * stddev)`` instead is the same, so we fold the factor into the loaded variance.
    """
    # By type: Keras gives this layer an automatic name (normalization, normalization_1, ...).
    normalization = next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
    mean, variance, *rest = normalization.get_weights()
    normalization.set_weights([mean, variance * _EFFICIENTNET_STDDEV_RGB, *rest])
    normalization.finalize_state()  # the layer caches mean/variance as tensors
