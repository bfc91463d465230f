"""One random affine transform per image (flip, rotation, zoom, translation, shear) as a single resampling.

Keras's ``RandomFlip``/``RandomRotation``/``RandomZoom``/``RandomTranslation``/``RandomShear`` each resample the whole
batch, so four spatial settings cost four passes, and the last four mark themselves ``supports_jit = False``, which
makes Keras train the whole model without ``jit`` on JAX. ``RandomAffine`` composes the five into one matrix per image
and samples once, bilinearly, with gathers written in ``keras.ops``. JAX compiles them with the model. TensorFlow on
CPU trains without XLA (Keras's default there), which would run the ~40 ops of the resampling one by one, each a pass
over the batch; so on TensorFlow the resampling alone is compiled by XLA (``tf.function(jit_compile=True)``): about 4x
faster on 2 CPU cores (160 px, batch 32) than op by op, and than TensorFlow's fused ``ImageProjectiveTransformV3``
kernel behind ``keras.ops.image.affine_transform`` (which gives the same output, but has no XLA version). The
random ranges are those of the Keras layers with the same factors.
"""

from __future__ import annotations

import functools
import math
import platform
from collections.abc import Callable
from typing import Any

import keras
from keras import ops

FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _reflect(index: Any, size: int) -> Any:
    """Maps integer pixel indices outside ``[0, size)`` back inside, mirrored: ``d c b a | a b c d | d c b a``
    (Keras's ``fill_mode="reflect"``)."""
    period = 2 * size
    index = ops.mod(index, period)
    return ops.minimum(index, period - 1 - index)


def sample_bilinear(images: Any, source_x: Any, source_y: Any) -> Any:
    """Bilinear samples of ``images`` at the given source coordinates, edges reflected.

    Args:
        images: Batch ``(B, H, W, C)``.
        source_x: ``(B, H * W)`` column, in pixels, that each output pixel (row-major) is read from.
        source_y: ``(B, H * W)`` row, in pixels, likewise.

    Returns:
        ``(B, H, W, C)`` in the dtype of ``images``.
    """
    batch, height, width, channels = ops.shape(images)
    left, top = ops.floor(source_x), ops.floor(source_y)
    weight_x = ops.expand_dims(ops.cast(source_x - left, images.dtype), -1)
    weight_y = ops.expand_dims(ops.cast(source_y - top, images.dtype), -1)
    left, top = ops.cast(left, "int32"), ops.cast(top, "int32")
    columns = (_reflect(left, width), _reflect(left + 1, width))
    image_start = ops.expand_dims(ops.arange(batch, dtype="int32") * (height * width), -1)
    row_starts = (image_start + _reflect(top, height) * width, image_start + _reflect(top + 1, height) * width)
    # One gather per neighbour over all pixels of the batch: rows of C values, not C separate lookups.
    pixels = ops.reshape(images, (-1, channels))
    (upper_left, upper_right), (lower_left, lower_right) = [
        [ops.take(pixels, row + column, axis=0) for column in columns] for row in row_starts
    ]
    upper = upper_left + (upper_right - upper_left) * weight_x
    lower = lower_left + (lower_right - lower_left) * weight_x
    return ops.reshape(upper + (lower - upper) * weight_y, ops.shape(images))


def transformed_coordinates(transforms: Any, height: int, width: int) -> tuple[Any, Any]:
    """Where each output pixel is read from, for transforms in ``keras.ops.image.affine_transform``'s convention.

    Args:
        transforms: ``(B, 8)`` rows ``[a0, a1, a2, b0, b1, b2, 0, 0]``: output pixel ``(x, y)`` reads the input at
            ``(a0 x + a1 y + a2, b0 x + b1 y + b2)`` (the projective terms must be 0).
        height: Image height (an int, or a scalar tensor).
        width: Image width, likewise.

    Returns:
        Source x and y, each ``(B, height * width)``, output pixels in row-major order.
    """
    rows, columns = ops.meshgrid(
        ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"), indexing="ij"
    )
    x, y = ops.reshape(columns, (1, -1)), ops.reshape(rows, (1, -1))
    a0, a1, a2, b0, b1, b2 = (transforms[:, index : index + 1] for index in range(6))
    return a0 * x + a1 * y + a2, b0 * x + b1 * y + b2


def resample(images: Any, transforms: Any) -> Any:
    """``keras.ops.image.affine_transform(images, transforms, fill_mode="reflect")`` (bilinear) with gathers that
    XLA compiles; TensorFlow's kernel for it has no XLA version."""
    _, height, width, _ = ops.shape(images)  # dynamic under TensorFlow's tracing, which leaves sizes open
    source_x, source_y = transformed_coordinates(transforms, height, width)
    return sample_bilinear(images, source_x, source_y)


@functools.cache
def compiled_on_tensorflow(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (pure ``keras.ops``, module-level) as the running backend computes it fastest: compiled by XLA
    on its own on TensorFlow, also inside models that TensorFlow runs op by op (Keras's default on CPU), where each op
    would be a separate pass over the batch; unchanged elsewhere (JAX compiles it with the model). TensorFlow with a
    GPU on Apple silicon has no XLA (as Keras's own ``jit_compile`` check knows) and keeps the op-by-op path."""
    if keras.backend.backend() != "tensorflow":
        return function
    import tensorflow as tf  # only on the TensorFlow backend

    if platform.system() == "Darwin" and "arm" in platform.processor().lower() and tf.config.list_physical_devices("GPU"):
        return function
    # No autograph: the functions have no Python control flow on tensors, and it would re-read their source files.
    return tf.function(function, jit_compile=True, reduce_retracing=True, autograph=False)


def backend_resample() -> Callable[[Any, Any], Any]:
    """``resample`` as the running backend computes it fastest (``compiled_on_tensorflow``)."""
    return compiled_on_tensorflow(resample)


@keras.saving.register_keras_serializable(package="image_classification")
class RandomAffine(keras.layers.Layer):
    """Random flip, rotation, zoom, translation and shear of each image, about its centre, in one resampling.

    Args:
        flip: ``horizontal``, ``vertical``, ``horizontal_and_vertical`` (each axis flipped with probability 1/2) or
            None.
        rotation: Largest rotation as a fraction of a full turn (0.1 = +-36 degrees), as ``RandomRotation``.
        zoom: Largest zoom as a fraction of the side, the same for both axes (positive draws zoom out), as
            ``RandomZoom(zoom)``.
        translation: Largest shift as a fraction of the side, drawn per axis, as ``RandomTranslation(t, t)``.
        shear: Largest shear per axis, as ``RandomShear(s, s)``.
        seed: Seed of the random draws; None draws at random.
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ...). The layer computes in float32 (``dtype``
            defaults to it) because coordinates need more precision than float16 has.
    """

    def __init__(
        self,
        flip: str | None = None,
        rotation: float = 0.0,
        zoom: float = 0.0,
        translation: float = 0.0,
        shear: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if flip is not None and flip not in FLIP_MODES:
            raise ValueError(f"RandomAffine flip must be one of {', '.join(FLIP_MODES)} or None, got {flip!r}.")
        factors = {"rotation": rotation, "zoom": zoom, "translation": translation, "shear": shear}
        for key, value in factors.items():
            if not 0 <= value < 1:
                raise ValueError(f"RandomAffine {key} must be in [0, 1), got {value!r}.")
        self.flip, self.seed = flip, seed
        self.rotation, self.zoom, self.translation, self.shear = map(float, factors.values())
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, batch: Any, extent: float) -> Any:
        return keras.random.uniform((batch,), -extent, extent, seed=self.seed_generator)

    def _flip_signs(self, batch: Any) -> tuple[Any, Any]:
        """+1 or -1 per image for x and y: -1 mirrors that axis."""

        def signs(axis_flips: bool) -> Any:
            if not axis_flips:
                return ops.ones((batch,))
            return ops.where(keras.random.uniform((batch,), seed=self.seed_generator) < 0.5, -1.0, 1.0)

        return signs(self.flip in ("horizontal", "horizontal_and_vertical")), signs(
            self.flip in ("vertical", "horizontal_and_vertical")
        )

    def random_transforms(self, batch: Any, height: int, width: int) -> Any:
        """One random transform per image, ``(batch, 8)`` in ``keras.ops.image.affine_transform``'s convention:
        ``source = centre + A @ (pixel - centre) + shift`` with ``A = flip @ rotation @ shear @ zoom``."""
        angle = self._uniform(batch, self.rotation * 2 * math.pi)
        scale = 1.0 + self._uniform(batch, self.zoom)
        shear_x, shear_y = self._uniform(batch, self.shear), self._uniform(batch, self.shear)
        shift_x = self._uniform(batch, self.translation * width)
        shift_y = self._uniform(batch, self.translation * height)
        sign_x, sign_y = self._flip_signs(batch)
        cos, sin = ops.cos(angle), ops.sin(angle)
        # rotation @ [[1, shear_x], [shear_y, 1]] @ scale, then the flips negate whole rows.
        a00 = sign_x * scale * (cos - sin * shear_y)
        a01 = sign_x * scale * (cos * shear_x - sin)
        a10 = sign_y * scale * (sin + cos * shear_y)
        a11 = sign_y * scale * (sin * shear_x + cos)
        centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
        offset_x = centre_x - a00 * centre_x - a01 * centre_y + shift_x
        offset_y = centre_y - a10 * centre_x - a11 * centre_y + shift_y
        zeros = ops.zeros_like(a00)
        return ops.stack([a00, a01, offset_x, a10, a11, offset_y, zeros, zeros], axis=1)

    def source_coordinates(self, batch: Any, height: int, width: int) -> tuple[Any, Any]:
        """Per image, where each output pixel is read from (``random_transforms`` applied to the pixel grid).
        Returns x and y, each ``(batch, height * width)``."""
        return transformed_coordinates(self.random_transforms(batch, height, width), height, width)

    def call(self, images: Any, training: bool = True) -> Any:
        if not training:
            return images
        batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        if height is None or width is None:
            raise ValueError(f"RandomAffine needs images of a fixed size, got shape {images.shape}.")
        return backend_resample()(images, self.random_transforms(batch, height, width))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "flip": self.flip,
            "rotation": self.rotation,
            "zoom": self.zoom,
            "translation": self.translation,
            "shear": self.shear,
            "seed": self.seed,
        }
