"""Registry of pretrained ``keras.applications`` backbones and the resolution of their ImageNet weights.

Every backbone is built with ``include_top=False, weights=None`` and its weights are loaded afterwards from a file:
no-top convolution weights do not depend on the input size, so this works at any image size, while
``weights="imagenet"`` in the constructor asks for a size-specific file (and a download) for some models.
``weights: imagenet`` uses the file bundled with the package (MobileNetV2, MobileNet v1 0.75), else Keras's cache in
``$KERAS_HOME/models/`` or ``~/.keras/models/``, else Keras's download (see ``weights.py``). Backend-neutral Keras 3.
"""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from image_classification.models import weights as _weights
from image_classification.models.weights import (  # noqa: F401 - re-exported: code imports them from here
    RANDOM_WEIGHTS,
    BackboneWeightsUnavailableError,
    BundledWeights,
    BundledWeightsCorruptedError,
    keras_cache_dirs,
)

_KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one pretrained backbone and where its ImageNet weights come from.

    Attributes:
        constructor: ``keras.applications`` model function (called with ``include_top=False, weights=None``).
        preprocess_input: The matching ``keras.applications.<module>.preprocess_input`` (0..255 RGB in).
        min_size: Smallest image side the architecture accepts.
        default_unfreeze_layer: First backbone layer made trainable when fine-tuning: a few top blocks, deeper
            than the last one, which alone changed no test prediction.
        keras_weights_file: Name of the no-top weights file in Keras's cache (``~/.keras/models/``).
        weights_url: Where Keras downloads that file from.
        weights_hash: Hash Keras checks a download against (None where Keras has none).
        constructor_kwargs: Extra constructor arguments, e.g. ``{"alpha": 0.75}``.
        after_imagenet_load: Fix-up applied after loading ``keras_weights_file`` (see ``weights.efficientnet_input_scale``).
        bundled_weights: The ImageNet weights file shipped with the package, used before Keras's cache (None: none).
    """

    constructor: Callable[..., keras.Model]
    preprocess_input: Callable[..., Any]
    min_size: int
    default_unfreeze_layer: str
    keras_weights_file: str
    weights_url: str
    weights_hash: str | None = None
    constructor_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    after_imagenet_load: Callable[[keras.Model], None] | None = None
    bundled_weights: BundledWeights | None = None


_apps = keras.applications
BACKBONES: dict[str, BackboneSpec] = {
    "mobilenet_v2": BackboneSpec(
        constructor=_apps.MobileNetV2,
        preprocess_input=_apps.mobilenet_v2.preprocess_input,
        min_size=32,
        default_unfreeze_layer="block_12_expand",  # the top 6 blocks (Conv_1 counted)
        keras_weights_file="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        weights_url=_KERAS_BASE_URL
        + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        bundled_weights=BundledWeights(
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
            "71e4c4ec4aa24c9c951b9265d6de42e1336dcf614c2214fa6a989208615e232c",
        ),
    ),
    "mobilenet_v1_075": BackboneSpec(
        constructor=_apps.MobileNet,
        preprocess_input=_apps.mobilenet.preprocess_input,
        min_size=32,
        default_unfreeze_layer="conv_dw_10",  # the top 4 blocks
        keras_weights_file="mobilenet_7_5_224_tf_no_top.h5",
        weights_url=_KERAS_BASE_URL + "mobilenet/mobilenet_7_5_224_tf_no_top.h5",
        constructor_kwargs={"alpha": 0.75},
        # Keras 3 .weights.h5 layout under its own name; Keras's legacy file above holds the same weights.
        bundled_weights=BundledWeights(
            "mobilenet_v1_0.75_224_imagenet_notop.weights.h5",
            "5ca63a8d17bcff7750ab81b76822ba8c1338afbfc897cc829c1bcfc1d1d3a974",
        ),
    ),
    "resnet50": BackboneSpec(
        constructor=_apps.ResNet50,
        preprocess_input=_apps.resnet50.preprocess_input,
        min_size=32,
        default_unfreeze_layer="conv5_block1_1_conv",
        keras_weights_file="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_url=_KERAS_BASE_URL + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_hash="4d473c1dd8becc155b73f8504c6f6626",
    ),
    "inception_v3": BackboneSpec(
        constructor=_apps.InceptionV3,
        preprocess_input=_apps.inception_v3.preprocess_input,
        min_size=75,
        default_unfreeze_layer="mixed9",
        keras_weights_file="inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_url=_KERAS_BASE_URL + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_hash="bcbd6486424b2319ff4ef7d526e38f63",
    ),
    "vgg16": BackboneSpec(
        constructor=_apps.VGG16,
        preprocess_input=_apps.vgg16.preprocess_input,
        min_size=32,
        default_unfreeze_layer="block5_conv1",
        keras_weights_file="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_url=_KERAS_BASE_URL + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_hash="6d6bbae143d832006294945121d1f1fc",
    ),
    "vgg19": BackboneSpec(
        constructor=_apps.VGG19,
        preprocess_input=_apps.vgg19.preprocess_input,
        min_size=32,
        default_unfreeze_layer="block5_conv1",
        keras_weights_file="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_url=_KERAS_BASE_URL + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_hash="253f8cb515780f3b799900260a226db6",
    ),
    "efficientnet_b0": BackboneSpec(
        constructor=_apps.EfficientNetB0,
        preprocess_input=_apps.efficientnet.preprocess_input,  # identity: the model rescales its own input
        min_size=32,
        default_unfreeze_layer="block7a_expand_conv",
        keras_weights_file="efficientnetb0_notop.h5",
        weights_url="https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5",
        weights_hash="50bc09e76180e00e4465e1a485ddc09d",
        after_imagenet_load=_weights.efficientnet_input_scale,
    ),
}


def _allowed() -> str:
    return ", ".join(BACKBONES)


def get_backbone_spec(name: str) -> BackboneSpec:
    """The registry entry of ``name``; ValueError listing the allowed names (and close matches) otherwise."""
    if name in BACKBONES:
        return BACKBONES[name]
    close = difflib.get_close_matches(str(name), BACKBONES, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"Unknown backbone '{name}'. Allowed: {_allowed()}.{hint}")


def _image_sides(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int | np.integer):
        return int(image_size), int(image_size)
    sides = tuple(int(side) for side in image_size)
    if len(sides) not in (2, 3):
        raise ValueError(f"image_size must be an int or (height, width[, channels]), got {image_size!r}.")
    if len(sides) == 3 and sides[2] != 3:
        raise ValueError(f"Pretrained backbones take RGB images (3 channels), got input shape {image_size!r}.")
    return sides[0], sides[1]


@functools.cache
def backbone_layer_names(name: str) -> tuple[str, ...]:
    """Layer names of backbone ``name`` in order (built once per process with random weights at its minimum size)."""
    spec = get_backbone_spec(name)
    size = spec.min_size
    model = spec.constructor(include_top=False, weights=None, input_shape=(size, size, 3), **spec.constructor_kwargs)
    return tuple(layer.name for layer in model.layers)


def _check_layer_name(layer_names: Sequence[str], layer_name: str, owner: str) -> None:
    if layer_name in layer_names:
        return
    close = difflib.get_close_matches(layer_name, layer_names, n=5, cutoff=0.6)
    hint = f"Close matches: {', '.join(close)}." if close else f"Its last layers are: {', '.join(layer_names[-8:])}."
    raise ValueError(
        f"Layer '{layer_name}' does not exist in {owner} ({len(layer_names)} layers). {hint} "
        "Set unfreeze_from to one of its layer names (see model.summary()) or to a number of top layers."
    )


def check_layer_exists(model: keras.Model, layer_name: str) -> None:
    """Raises ValueError, with close matches, if ``model`` has no layer called ``layer_name``."""
    _check_layer_name([layer.name for layer in model.layers], layer_name, f"model '{model.name}'")


def validate_backbone_config(
    name: str, image_size: int | Sequence[int], unfreeze_from: str | int | None = None
) -> BackboneSpec:
    """Checks a backbone's settings before anything is trained.

    Args:
        name: Registry name (see ``BACKBONES``).
        image_size: Image side in pixels, or (height, width[, channels]).
        unfreeze_from: Optional fine-tuning start: a layer name (checked against the built architecture) or a
            number of top layers (0 up to the layer count).

    Returns:
        The backbone's ``BackboneSpec``.

    Raises:
        ValueError: Unknown name (lists the allowed ones), image smaller than the backbone's minimum, or an
            ``unfreeze_from`` layer that does not exist (lists close matches).
    """
    spec = get_backbone_spec(name)
    height, width = _image_sides(image_size)
    if min(height, width) < spec.min_size:
        raise ValueError(
            f"Backbone '{name}' needs images of at least {spec.min_size}x{spec.min_size} px, got {height}x{width}. "
            f"Raise image_size to {spec.min_size} or more, or pick another backbone ({_allowed()})."
        )
    if unfreeze_from is None:
        return spec
    layer_names = backbone_layer_names(name)
    if isinstance(unfreeze_from, str):
        _check_layer_name(layer_names, unfreeze_from, f"backbone '{name}'")
    elif isinstance(unfreeze_from, bool) or not isinstance(unfreeze_from, int | np.integer):
        raise ValueError(f"unfreeze_from must be a layer name or a number of top layers, got {unfreeze_from!r}.")
    elif not 0 <= unfreeze_from <= len(layer_names):
        raise ValueError(
            f"unfreeze_from={unfreeze_from} top layers is out of range for backbone '{name}': "
            f"allowed 0 to {len(layer_names)}."
        )
    return spec


def bundled_weights_file(name: str) -> Path | None:
    """The ImageNet weights file bundled for backbone ``name`` (sha256 checked), or None if it has none installed."""
    spec = get_backbone_spec(name)
    return None if spec.bundled_weights is None else _weights.verified_bundled_file(spec.bundled_weights)


def resolve_weights(name: str, weights: str | os.PathLike | None) -> Path | None:
    """The weights file backbone ``name`` will load, or None for random initialisation.

    Args:
        name: Registry name.
        weights: None or ``"random"`` (random init), ``"imagenet"`` (bundled file, else Keras's cache, else
            download: see ``weights.py``), or a file path.

    Raises:
        FileNotFoundError: A path that does not exist, or ImageNet weights neither bundled, cached nor
            downloadable (``BackboneWeightsUnavailableError``).
        BundledWeightsCorruptedError: The bundled file's sha256 is wrong.
    """
    return _weights.weights_file(name, get_backbone_spec(name), weights)


def create_backbone(
    name: str, input_shape: Sequence[int], weights: str | os.PathLike | None, *, model_name: str | None = None
) -> keras.Model:
    """Builds backbone ``name`` without its classifier and loads its weights.

    Args:
        name: Registry name (see ``BACKBONES``).
        input_shape: (height, width, 3).
        weights: None or ``"random"``, ``"imagenet"``, or a weights file path (any input size works).
        model_name: Name of the returned model (Keras's default name when None).

    Returns:
        The backbone ``keras.Model`` (trainable, 4-D feature-map output).

    Raises:
        ValueError: Bad name or size, a weights file that does not fit the architecture, or a damaged bundled file.
        FileNotFoundError: Missing weights (raised before the model is built).
    """
    spec = validate_backbone_config(name, input_shape)
    weights_file = resolve_weights(name, weights)
    extra = {"name": model_name} if model_name else {}
    model = spec.constructor(
        include_top=False, weights=None, input_shape=tuple(int(d) for d in input_shape), **spec.constructor_kwargs,
        **extra,
    )
    if weights_file is None:
        return model
    try:
        model.load_weights(str(weights_file))
    except (ValueError, KeyError, OSError) as error:
        raise ValueError(
            f"Could not load weights file '{weights_file}' into backbone '{name}' (parameter `weights`): {error}. "
            f"The file must hold no-top weights of this architecture, e.g. Keras's {spec.keras_weights_file}."
        ) from error
    if spec.after_imagenet_load is not None and weights_file.name == spec.keras_weights_file:
        spec.after_imagenet_load(model)
    return model
