"""Transfer-learning models: a frozen pretrained backbone with a new head, feature extraction and fine-tuning.

Layout of every model built here (the layer names are what the other functions look up)::

    image (float32, 0..255) -> [augmentation] -> preprocessing -> backbone -> pooling -> head (softmax)

Backend-neutral Keras 3.
"""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from image_classification.models.backbones import (
    BACKBONES,
    backbone_layer_names,
    check_layer_exists,
    create_backbone,
    validate_backbone_config,
)
from image_classification.models.heads import build_head
from image_classification.models.preprocessing import BackbonePreprocessing

POOLING_LAYERS = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D}
_REQUIRED_LAYERS = ("preprocessing", "backbone", "pooling", "head")
# The first layer of each block, per backbone, for ``unfreeze_blocks`` (Keras's own layer names).
BLOCK_STARTS = {
    "mobilenet_v2": r"block_\d+_expand|Conv_1",
    "mobilenet_v1_075": r"conv_dw_\d+",
    "resnet50": r"conv\d_block\d+_1_conv",
    "inception_v3": r"mixed\d+",  # a block's last layer (its concatenation): the next layer starts a block
    "vgg16": r"block\d_conv1",
    "vgg19": r"block\d_conv1",
    "efficientnet_b0": r"block1a_dwconv|block\d[a-z]_expand_conv",
}


def build_transfer_model(
    backbone_name: str,
    input_shape: Sequence[int],
    num_classes: int,
    weights: str | os.PathLike | None,
    head_config: dict[str, Any] | None = None,
    *,
    pooling: str = "avg",
    augmentation: keras.layers.Layer | None = None,
) -> keras.Model:
    """Builds a classifier from a frozen pretrained backbone and a new head (not compiled).

    Args:
        backbone_name: Registry name (see ``backbones.BACKBONES``).
        input_shape: (height, width, 3) of the images.
        num_classes: Number of classes.
        weights: Backbone weights: ``"imagenet"``, a file path, or None/``"random"`` (see ``create_backbone``).
        head_config: Settings of ``heads.build_head`` (None for its defaults).
        pooling: ``avg`` (GlobalAveragePooling2D) or ``max`` (GlobalMaxPooling2D).
        augmentation: Optional augmentation layer, active only while training; it is named ``augmentation``
            (wrapped in a Sequential of that name if it has another).

    Returns:
        A functional ``keras.Model`` taking float32 0..255 images and returning class probabilities.

    Raises:
        ValueError: Unknown backbone or pooling, image too small, bad head settings.
        FileNotFoundError: Weights unavailable (before anything is built).
    """
    input_shape = tuple(int(side) for side in input_shape)
    if len(input_shape) == 2:
        input_shape = (*input_shape, 3)
    validate_backbone_config(backbone_name, input_shape)
    if pooling not in POOLING_LAYERS:
        raise ValueError(f"Unknown pooling '{pooling}'. Allowed: {', '.join(POOLING_LAYERS)}.")
    backbone = create_backbone(backbone_name, input_shape, weights, model_name="backbone")
    backbone.trainable = False

    inputs = keras.Input(shape=input_shape, dtype="float32", name="image")
    x = inputs
    if augmentation is not None:
        if augmentation.name != "augmentation":
            augmentation = keras.Sequential([augmentation], name="augmentation")
        x = augmentation(x)
    x = BackbonePreprocessing(backbone_name, name="preprocessing")(x)
    # training=False asks for BatchNorm inference mode even once unfrozen; Keras 3 fit() overrides it, so
    # unfreeze_model also keeps BN layers frozen (frozen BN always runs in inference mode).
    x = backbone(x, training=False)
    features = POOLING_LAYERS[pooling](name="pooling")(x)
    outputs = build_head(int(features.shape[-1]), num_classes, head_config)(features)
    return keras.Model(inputs, outputs, name=f"transfer_{backbone_name}")


def _layer(model: keras.Model, name: str) -> keras.layers.Layer:
    names = [layer.name for layer in model.layers]
    if not all(required in names for required in _REQUIRED_LAYERS):
        raise ValueError(
            f"Model '{model.name}' was not built by build_transfer_model: it needs layers named "
            f"{', '.join(_REQUIRED_LAYERS)}, has {', '.join(names)}."
        )
    return model.get_layer(name)


def feature_extractor(model: keras.Model) -> keras.Model:
    """The part of a transfer model from its input to the pooled features, sharing its layers and weights.

    Augmentation is left out: it does nothing at inference anyway.
    """
    inputs = keras.Input(shape=model.input_shape[1:], dtype="float32", name="image")
    x = _layer(model, "preprocessing")(inputs)
    x = _layer(model, "backbone")(x, training=False)
    features = _layer(model, "pooling")(x)
    return keras.Model(inputs, features, name=f"{model.name}_features")


#: One feature extractor per model: a new one per call would trace a new predict graph per call (TensorFlow warns
#: about retracing when the train, validation and test sets are embedded in turn).
_FEATURE_EXTRACTORS: weakref.WeakKeyDictionary[keras.Model, keras.Model] = weakref.WeakKeyDictionary()


def _cached_feature_extractor(model: keras.Model) -> keras.Model:
    if model not in _FEATURE_EXTRACTORS:
        _FEATURE_EXTRACTORS[model] = feature_extractor(model)
    return _FEATURE_EXTRACTORS[model]


def extract_features(model: keras.Model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Pooled backbone features of ``images``, for training the head alone (feature-extraction mode).

    Args:
        model: A model from ``build_transfer_model``.
        images: uint8 (or float 0..255) array (N, H, W, 3) of the model's input size.
        batch_size: Images per forward pass; only one batch is cast to float32 at a time.

    Returns:
        float32 array (N, feature_dim).
    """
    extractor = _cached_feature_extractor(model)
    expected = tuple(extractor.input_shape[1:])
    if images.ndim != 4 or tuple(images.shape[1:]) != expected:
        raise ValueError(f"Images must have shape (N, {', '.join(map(str, expected))}), got {images.shape}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    dim = int(extractor.output_shape[-1])
    batches = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32)
        rows = len(batch)
        # The last batch is padded to the full size: one input shape, so the predict function is traced once
        # (a short batch per split would retrace it, and TensorFlow warns). Inference mode: rows do not mix.
        padding = np.zeros((batch_size - rows, *batch.shape[1:]), dtype=np.float32)
        batches.append(np.asarray(extractor.predict_on_batch(np.concatenate([batch, padding])))[:rows])
    return np.concatenate(batches).astype(np.float32) if batches else np.zeros((0, dim), dtype=np.float32)


def head_model(model: keras.Model) -> keras.Model:
    """The head of a transfer model: training it on cached features updates the full model (shared weights)."""
    return _layer(model, "head")


def unfreeze_model(model: keras.Model, unfreeze_from: str | int) -> keras.Model:
    """Makes the top of the backbone trainable for fine-tuning (the caller compiles, which applies the change).

    Args:
        model: A model from ``build_transfer_model`` (usually with its head trained already).
        unfreeze_from: Name of the first backbone layer to train (every layer before it stays frozen), or a number
            of top backbone layers to train (layers counted as in ``backbone.layers``).

    Returns:
        The same model. BatchNormalization layers of the backbone stay frozen.

    Raises:
        ValueError: Unknown layer name (with close matches) or a layer count out of range.
    """
    backbone = _layer(model, "backbone")
    layers = backbone.layers
    if isinstance(unfreeze_from, str):
        check_layer_exists(backbone, unfreeze_from)
        start = [layer.name for layer in layers].index(unfreeze_from)
    elif isinstance(unfreeze_from, int | np.integer) and not isinstance(unfreeze_from, bool):
        if not 0 <= unfreeze_from <= len(layers):
            raise ValueError(f"unfreeze_from={unfreeze_from} top layers is out of range: allowed 0 to {len(layers)}.")
        start = len(layers) - int(unfreeze_from)
    else:
        raise ValueError(f"unfreeze_from must be a layer name or a number of top layers, got {unfreeze_from!r}.")

    backbone.trainable = True
    for index, layer in enumerate(layers):
        # Frozen BatchNorm keeps its ImageNet statistics, which small fine-tuning batches would otherwise overwrite.
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= start and not is_batch_norm
    return model


def unfreeze_point(backbone_name: str, unfreeze_from: str | int | None, unfreeze_blocks: int | None) -> str | int:
    """Where fine-tuning starts: a layer name or a number of top layers, for ``unfreeze_model``.

    Args:
        backbone_name: Registry name of the transfer model's backbone.
        unfreeze_from: A layer name or a number of top layers, or None.
        unfreeze_blocks: A number of top blocks (see ``BLOCK_STARTS``), or None. At most one of the two is set.

    Returns:
        ``unfreeze_from``; else the first layer of the ``unfreeze_blocks``-th block from the top (as a number of
        top layers for inception_v3); else the backbone's ``default_unfreeze_layer``.

    Raises:
        ValueError: Both set, or a block count out of range (naming the allowed range).
    """
    if unfreeze_from is not None and unfreeze_blocks is not None:
        raise ValueError(
            f"Set either unfreeze_from ({unfreeze_from!r}) or unfreeze_blocks ({unfreeze_blocks!r}) for a fine-tuned "
            f"{backbone_name}, not both."
        )
    if unfreeze_from is not None:
        return unfreeze_from
    if unfreeze_blocks is None:
        return BACKBONES[backbone_name].default_unfreeze_layer
    names = backbone_layer_names(backbone_name)
    pattern = BLOCK_STARTS[backbone_name]
    if backbone_name == "inception_v3":
        # Its convolutions are auto-named (conv2d_N, numbered per process), so a block is given as a layer count.
        starts = [len(names) - i - 1 for i, name in enumerate(names[:-1]) if re.fullmatch(pattern, name)]
    else:
        starts = [name for name in names if re.fullmatch(pattern, name)]
    if isinstance(unfreeze_blocks, bool) or not isinstance(unfreeze_blocks, int) or not 1 <= unfreeze_blocks <= len(starts):
        raise ValueError(
            f"unfreeze_blocks for {backbone_name} must be a whole number from 1 to {len(starts)} (its blocks), "
            f"got {unfreeze_blocks!r}."
        )
    return starts[-unfreeze_blocks]
