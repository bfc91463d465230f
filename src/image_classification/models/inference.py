"""The one way a trained classifier predicts: the report's evaluation, the predict pipeline and the served model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

# Batches cast to float32 per predict call: the input stays uint8 in memory and only this much of it is ever
# float32 at once (one 224 px float32 image is 0.6 MB).
BATCHES_PER_CHUNK = 8


def predict_proba(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Class probabilities of images, predicted in batches.

    Args:
        model: Classifier taking float32 0..255 images (it rescales them itself) and returning softmax probabilities.
        images: Array (N, H, W, 3) of 0..255 pixel values, uint8 or float; or any array matching the model's input.
        batch_size: Images per forward pass; bounds memory on large sets.

    Returns:
        float32 array (N, num_classes); (0, num_classes) for no images.

    Raises:
        ValueError: ``batch_size`` is below 1.
    """
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"The prediction batch size must be at least 1, got {batch_size}.")
    if len(images) == 0:
        return np.zeros((0, int(model.output_shape[-1])), dtype=np.float32)
    if len(images) <= batch_size:
        # One batch: called directly, as Keras's ``predict`` documentation advises for inputs that fit one batch; its
        # compiled loop would trace a graph for a single call (and TensorFlow warns of retracing when a report
        # scores many models that way).
        import keras  # noqa: PLC0415 - imported by whoever built the model; not when this module is

        return keras.ops.convert_to_numpy(model(np.asarray(images, dtype=np.float32), training=False)).astype(
            np.float32, copy=False
        )
    chunk = batch_size * BATCHES_PER_CHUNK
    parts = [
        np.asarray(
            model.predict(
                np.asarray(images[start : start + chunk], dtype=np.float32),
                batch_size=batch_size,
                verbose=0,
            )
        )
        for start in range(0, len(images), chunk)
    ]
    return np.concatenate(parts).astype(np.float32, copy=False)
