"""Convolutional networks trained from scratch, looked up by name (a registry in the style of timm).

Every model is ``Input(float32 0..255) -> [augmentation] -> Rescaling(1/255) -> body -> Dense(softmax)``; the body
is the registered function. Backend-neutral Keras 3 (runs under TensorFlow and JAX).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import keras
from keras import layers

# name -> body(x, num_classes, **options) -> softmax output tensor. Each body carries ``min_size``: the smallest
# image side (pixels) for which every convolution and pooling still has at least one pixel to work on.
SCRATCH_MODELS: dict[str, Callable[..., Any]] = {}


#: Momentum of the scratch nets' batch norm. Keras's 0.99 moves the moving mean and variance (initialised to 0 and 1)
#: too slowly for a few dozen steps an epoch: after 10 epochs of 51 steps, validation in inference mode was still at
#: chance on cats vs dogs while the batch statistics had long settled; 0.9 follows them within an epoch.
BATCH_NORM_MOMENTUM = 0.9


def register_model(name: str, min_size: int | Callable[[dict[str, Any]], int]) -> Callable:
    """Adds a model body to ``SCRATCH_MODELS`` under ``name``; ``min_size`` may depend on the options."""

    def add(body: Callable[..., Any]) -> Callable[..., Any]:
        body.min_size = min_size  # type: ignore[attr-defined]
        SCRATCH_MODELS[name] = body
        return body

    return add


def _classifier(x: Any, num_classes: int) -> Any:
    # float32 whatever the dtype policy: under mixed precision the softmax and the loss stay in full precision.
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)


@register_model("dense_baseline", min_size=1)
def dense_baseline(
    x: Any, num_classes: int, *, hidden_units: int = 128, dropout: float = 0.2
) -> Any:
    """Seed 000's baseline: Flatten -> Dense(hidden_units, relu) -> Dropout(dropout) -> Dense(softmax)."""
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(hidden_units, activation="relu", name="hidden")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return _classifier(x, num_classes)


@register_model("basenet", min_size=16)  # 16 -> conv 12 -> pool 6 -> conv 2 -> pool 1
def basenet(x: Any, num_classes: int) -> Any:
    """Seed 001's LeNet-style net: Conv 6@5x5 relu -> MaxPool 2 -> Conv 16@5x5 relu -> MaxPool 2 -> Flatten ->
    Dense 50 relu -> Dense(softmax). Convolutions are 'valid' (no padding): 24,197 parameters at 32x32x3, 25 classes.
    """
    x = layers.Conv2D(6, 5, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(16, 5, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(50, activation="relu", name="fc1")(x)
    return _classifier(x, num_classes)


@register_model(
    "basenet_bn", min_size=8
)  # three 'same' convs each halved by pooling: 8 -> 4 -> 2 -> 1
def basenet_bn(x: Any, num_classes: int, *, dense_units: int = 50, dropout: float = 0.0) -> Any:
    """Seed 001's improved basenet: wider, deeper and batch-normalised.

    Exact architecture (every convolution 5x5, stride 1, padding 'same'; pooling 2x2, stride 2)::

        Conv2D 6   -> ReLU -> BatchNormalization -> MaxPool 2
        Conv2D 56  -> ReLU -> BatchNormalization -> MaxPool 2
        Conv2D 106 -> ReLU -> BatchNormalization -> MaxPool 2
        Flatten -> Dense dense_units (50) ReLU -> Dropout(dropout, 0 = none) -> Dense(num_classes, softmax)

    BatchNormalization follows the ReLU as in the seed (normalising the activations the next layer sees). At 32x32x3
    with 25 classes: 244,215 parameters, 243,879 of them trainable.
    """
    for index, filters in enumerate((6, 56, 106), start=1):
        x = layers.Conv2D(filters, 5, padding="same", name=f"conv{index}")(x)
        x = layers.ReLU(name=f"relu{index}")(x)
        x = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"bn{index}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="fc1")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return _classifier(x, num_classes)


@register_model("cnn3_dropout", min_size=8)  # three 'same' conv blocks each halved by pooling
def cnn3_dropout(x: Any, num_classes: int, *, dense_units: int = 128, dropout: float = 0.5) -> Any:
    """Seed 002's CNN: three [Conv 3x3 same relu -> MaxPool 2] blocks with 32/64/128 filters -> Flatten ->
    Dense dense_units (128) relu -> Dropout(dropout, 0.5) -> Dense(softmax)."""
    for index, filters in enumerate((32, 64, 128), start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{index}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="fc1")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return _classifier(x, num_classes)


def _residual_block(x: Any, filters: int, stride: int, regularizer: Any, name: str) -> Any:
    """conv3x3(stride)-BN-ReLU-conv3x3-BN plus the input (1x1 conv + BN projection when the shape changes) -> ReLU."""
    conv = {"padding": "same", "use_bias": False, "kernel_regularizer": regularizer}
    shortcut = x
    x = layers.Conv2D(filters, 3, strides=stride, name=f"{name}_conv1", **conv)(x)
    x = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn1")(x)
    x = layers.ReLU(name=f"{name}_relu1")(x)
    x = layers.Conv2D(filters, 3, name=f"{name}_conv2", **conv)(x)
    x = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn2")(x)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_proj", **conv)(shortcut)
        shortcut = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_proj_bn")(shortcut)
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.ReLU(name=f"{name}_out")(x)


def _residual_min_size(options: dict[str, Any]) -> int:
    # 'same' padding never fails, but below this size a stride-2 stage (or the stem) has nothing left to halve.
    stages = len(options.get("filters", (32, 64, 128)))
    return options.get("stem_stride", 1) * 2 ** (stages - 1)


@register_model("residual_cnn", min_size=_residual_min_size)
def residual_cnn(
    x: Any,
    num_classes: int,
    *,
    filters: tuple[int, ...] = (32, 64, 128),
    blocks_per_stage: int = 1,
    weight_decay: float = 1e-4,
    dropout: float = 0.3,
    stem_stride: int = 1,
) -> Any:
    """Seed 004's regularised CNN with residual blocks.

    Stem Conv 3x3 (filters[0], stride ``stem_stride``; use 2 for images of 128 px and more to save compute) -> BN ->
    ReLU, then one stage per entry of ``filters`` with ``blocks_per_stage`` residual blocks (the first block of every
    stage but the first has stride 2), GlobalAveragePooling -> Dropout(dropout) -> Dense(softmax). ``weight_decay`` is
    the L2 factor on every convolution and the classifier kernel (0 disables it). At 32x32x3 with 25 classes and the
    defaults: 311,929 parameters.
    """
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    x = layers.Conv2D(
        filters[0],
        3,
        strides=stem_stride,
        padding="same",
        use_bias=False,
        kernel_regularizer=regularizer,
        name="stem_conv",
    )(x)
    x = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for stage, stage_filters in enumerate(filters, start=1):
        for block in range(1, blocks_per_stage + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            x = _residual_block(
                x, stage_filters, stride, regularizer, name=f"stage{stage}_block{block}"
            )
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return layers.Dense(
        num_classes, activation="softmax", kernel_regularizer=regularizer, name="predictions"
    )(x)


def model_min_size(name: str, **options: Any) -> int:
    """Smallest image side (pixels) the model ``name`` accepts with these options."""
    min_size = _lookup(name).min_size
    return int(min_size(options) if callable(min_size) else min_size)


def _lookup(name: str) -> Callable[..., Any]:
    if name not in SCRATCH_MODELS:
        raise ValueError(
            f"Unknown scratch model '{name}'. Available: {', '.join(sorted(SCRATCH_MODELS))}."
        )
    return SCRATCH_MODELS[name]


def create_scratch_model(
    name: str,
    input_shape: tuple[int, int, int],
    num_classes: int,
    augmentation: keras.layers.Layer | None = None,
    seed: int | None = None,
    input_size: int | None = None,
    **options: Any,
) -> keras.Model:
    """Builds the scratch model registered as ``name``.

    Args:
        name: A key of ``SCRATCH_MODELS``.
        input_shape: (height, width, channels) of the images.
        num_classes: Number of output probabilities.
        augmentation: Layer applied to the 0..255 images while training (e.g. ``build_augmentation(...)``).
        seed: When given, seeds Python, NumPy and Keras (``keras.utils.set_random_seed``) before the weights are
            initialised, so the same seed builds the same model.
        input_size: When given and below the image size, a ``Resizing`` layer first shrinks the images to
            ``input_size`` x ``input_size`` (antialiased): small nets made for 32-64 px then cost a fraction of the
            compute on a cache preprocessed at 224 px for the pretrained backbones.
        **options: Keyword options of the model body (see its docstring), e.g. ``hidden_units`` for dense_baseline.

    Returns:
        An uncompiled functional ``keras.Model`` named ``name``.
    """
    body = _lookup(name)
    allowed = [p for p in inspect.signature(body).parameters if p not in ("x", "num_classes")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for scratch model '{name}'. Allowed: {', '.join(allowed) or 'none'}."
        )
    input_shape = tuple(int(side) for side in input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}.")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
    min_size = model_min_size(name, **options)
    if input_size is not None and (isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1):
        raise ValueError(f"input_size of scratch model '{name}' must be a whole number of pixels, got {input_size!r}.")
    resize = input_size is not None and input_size < min(input_shape[:2])
    seen = (input_size, input_size) if resize else input_shape[:2]
    if min(seen) < min_size:
        raise ValueError(
            f"Scratch model '{name}' needs images of at least {min_size}x{min_size} pixels, got {seen[0]}x{seen[1]}; "
            "raise the image size (or the model's input_size) or pick another model."
        )
    if seed is not None:
        keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=input_shape, dtype="float32", name="image")
    x = inputs
    if resize:  # before augmentation, which then also runs at the small size
        x = layers.Resizing(input_size, input_size, antialias=True, name="resize")(x)
    x = augmentation(x) if augmentation is not None else x
    x = layers.Rescaling(1.0 / 255, name="rescaling")(x)
    return keras.Model(inputs, body(x, num_classes, **options), name=name)
