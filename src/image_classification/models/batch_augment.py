"""Augmentations of whole batches, written in ``keras.ops``: differentiable, and the same on TensorFlow and JAX.

Pure functions, no state and no Kedro. Every random draw is separate from the transform that uses it: a
``draw_*`` function turns a seed into a dict of parameters, and the transform applies given parameters. Tests pass
fixed parameters to compare backends; training draws fresh ones each step.

**DiffAugment** (Zhao, Liu, Lin, Zhu and Han, "Differentiable Augmentation for Data-Efficient GAN Training",
NeurIPS 2020; ``mit-han-lab/data-efficient-gans``, ``DiffAugment_tf.py``): a GAN trained on ~100 images augments the
real *and* the generated images, in the discriminator's step and in the generator's, with transforms that let the
gradient flow back to the generator. Its policy for small sets, ``color,translation,cutout``, on images in [-1, 1]:

* ``color``: brightness ``+ U(-0.5, 0.5)``; saturation: the distance from the pixel's channel mean times
  ``U(0, 2)``; contrast: the distance from the image's mean times ``U(0.5, 1.5)``;
* ``translation``: a whole-pixel shift of up to 1/8 of the side in each direction, zeros (mid-grey) filling in;
* ``cutout``: a square of half the side, anywhere (it may overhang the border), set to zero.

Shifts and squares are one-hot matrices and masks built from comparisons of index ranges, so the transforms are
matrix products and multiplications, which carry gradients on every backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
from keras import ops

from image_classification.models.gan_settings import DIFF_AUGMENT_POLICY

#: Largest shift, as a share of the side (DiffAugment's default).
TRANSLATION_RATIO = 0.125
#: Side of the cut-out square, as a share of the side (DiffAugment's default).
CUTOUT_RATIO = 0.5
#: The parameters each transform reads, as drawn by ``draw_diff_augment_parameters``.
PARAMETER_KEYS = {
    "color": ("brightness", "saturation", "contrast"),
    "translation": ("shift",),
    "cutout": ("cutout_offset",),
}


def check_policy(policy: Sequence[str]) -> tuple[str, ...]:
    """``policy`` as a tuple; ValueError for a transform DiffAugment does not have."""
    unknown = [name for name in policy if name not in PARAMETER_KEYS]
    if unknown:
        raise ValueError(f"Unknown DiffAugment transform(s) {unknown}: choose from {list(PARAMETER_KEYS)}.")
    return tuple(policy)


def draw_diff_augment_parameters(
    batch_size: int, image_size: int, seed: Any, policy: Sequence[str] = DIFF_AUGMENT_POLICY
) -> dict[str, Any]:
    """Random parameters of ``policy`` for one batch of square images.

    Args:
        batch_size: Images in the batch (each gets its own draw).
        image_size: Their side in pixels.
        seed: A ``keras.random.SeedGenerator`` (or an int): what ``keras.random`` takes.
        policy: Transforms to draw for, from ``DIFF_AUGMENT_POLICY``.

    Returns:
        float32 ``brightness`` (B, 1, 1, 1) in [-0.5, 0.5), ``saturation`` (B, 1, 1, 1) in [0, 2) and ``contrast``
        (B, 1, 1, 1) in [0.5, 1.5) for ``color``; int32 ``shift`` (B, 2) (rows, columns) in [-s/8, s/8] for
        ``translation``; int32 ``cutout_offset`` (B, 2) in [0, s + 1 - (s/2) % 2) for ``cutout``.
    """
    policy = check_policy(policy)
    parameters: dict[str, Any] = {}
    if "color" in policy:
        scalar = (batch_size, 1, 1, 1)
        parameters["brightness"] = keras.random.uniform(scalar, -0.5, 0.5, seed=seed)
        parameters["saturation"] = keras.random.uniform(scalar, 0.0, 2.0, seed=seed)
        parameters["contrast"] = keras.random.uniform(scalar, 0.5, 1.5, seed=seed)
    if "translation" in policy:
        most = int(image_size * TRANSLATION_RATIO + 0.5)
        parameters["shift"] = keras.random.randint((batch_size, 2), -most, most + 1, seed=seed, dtype="int32")
    if "cutout" in policy:
        side = int(image_size * CUTOUT_RATIO + 0.5)
        parameters["cutout_offset"] = keras.random.randint(
            (batch_size, 2), 0, image_size + (1 - side % 2), seed=seed, dtype="int32"
        )
    return parameters


def adjust_color(images: Any, brightness: Any, saturation: Any, contrast: Any) -> Any:
    """DiffAugment's colour transform: brightness, then saturation, then contrast (see the module docstring).

    Args:
        images: float (B, H, W, C) in [-1, 1].
        brightness: (B, 1, 1, 1) added to every pixel.
        saturation: (B, 1, 1, 1) factors on each pixel's distance from its channel mean.
        contrast: (B, 1, 1, 1) factors on each pixel's distance from the image's mean.
    """
    images = images + brightness
    channel_mean = ops.mean(images, axis=3, keepdims=True)
    images = (images - channel_mean) * saturation + channel_mean
    image_mean = ops.mean(images, axis=(1, 2, 3), keepdims=True)
    return (images - image_mean) * contrast + image_mean


def _shift_matrices(shift: Any, size: int) -> Any:
    """(B, size, size) one-hot rows: output index ``i`` takes input ``i - shift``; none (zero) outside the image."""
    positions = ops.arange(size, dtype="int32")
    source = ops.expand_dims(positions, 0) - ops.expand_dims(shift, 1)  # (B, size): which input row lands at i
    return ops.cast(ops.equal(ops.expand_dims(source, 2), positions[None, None, :]), "float32")


def translate(images: Any, shift: Any) -> Any:
    """Moves each image by whole pixels, filling with zeros: ``shift`` (B, 2) int, rows then columns, down/right > 0.

    The image is multiplied by a one-hot matrix on each side (``rows @ image @ columns^T``), so the result is
    differentiable in ``images``; a shift of the side or more leaves zeros.
    """
    shift = ops.cast(shift, "int32")
    rows = _shift_matrices(shift[:, 0], images.shape[1])
    columns = _shift_matrices(shift[:, 1], images.shape[2])
    images = ops.einsum("bij,bjwc->biwc", ops.cast(rows, images.dtype), images)
    return ops.einsum("bkw,biwc->bikc", ops.cast(columns, images.dtype), images)


def _outside(offset: Any, side: int, size: int) -> Any:
    """(B, size) 1.0 where an index is outside the cut ``[offset - side // 2, offset - side // 2 + side)``."""
    start = ops.expand_dims(offset - side // 2, 1)
    positions = ops.arange(size, dtype="int32")[None, :]
    inside = ops.logical_and(positions >= start, positions < start + side)
    return 1.0 - ops.cast(inside, "float32")


def cutout(images: Any, cutout_offset: Any, ratio: float = CUTOUT_RATIO) -> Any:
    """Zeroes a square of ``ratio`` times the side centred at ``cutout_offset`` (B, 2) int (row, column) per image."""
    cutout_offset = ops.cast(cutout_offset, "int32")
    height, width = images.shape[1], images.shape[2]
    side_rows, side_columns = int(height * ratio + 0.5), int(width * ratio + 0.5)
    keep_rows = _outside(cutout_offset[:, 0], side_rows, height)  # (B, H)
    keep_columns = _outside(cutout_offset[:, 1], side_columns, width)  # (B, W)
    # A pixel is kept unless both its row and its column are inside the square.
    keep = 1.0 - (1.0 - keep_rows[:, :, None]) * (1.0 - keep_columns[:, None, :])
    return images * ops.cast(keep[:, :, :, None], images.dtype)


def diff_augment(images: Any, parameters: Mapping[str, Any], policy: Sequence[str] = DIFF_AUGMENT_POLICY) -> Any:
    """Applies the transforms of ``policy`` in order, with given ``parameters``.

    Args:
        images: float (B, H, W, C) in [-1, 1], real or generated.
        parameters: What ``draw_diff_augment_parameters`` returns (or fixed values of the same shapes).
        policy: Transforms, from ``DIFF_AUGMENT_POLICY``.

    Raises:
        ValueError: An unknown transform, or a parameter the policy needs missing.
    """
    policy = check_policy(policy)
    missing = [key for name in policy for key in PARAMETER_KEYS[name] if key not in parameters]
    if missing:
        raise ValueError(f"DiffAugment parameters missing for policy {list(policy)}: {missing}.")
    for name in policy:
        if name == "color":
            images = adjust_color(images, parameters["brightness"], parameters["saturation"], parameters["contrast"])
        elif name == "translation":
            images = translate(images, parameters["shift"])
        else:
            images = cutout(images, parameters["cutout_offset"])
    return images


def random_diff_augment(images: Any, seed: Any, policy: Sequence[str] = DIFF_AUGMENT_POLICY) -> Any:
    """``diff_augment`` with parameters drawn from ``seed`` for ``images`` (square, batch size known or traced)."""
    batch_size = ops.shape(images)[0]
    parameters = draw_diff_augment_parameters(batch_size, images.shape[1], seed, policy)
    return diff_augment(images, parameters, policy)
