"""``predict_proba``: one batch is a direct call of the model, more go through Keras's predict loop; alike."""

from __future__ import annotations

import keras
import numpy as np

from image_classification.models.inference import predict_proba


def test_one_batch_and_several_batches_give_the_same_probabilities() -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.5), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    images = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    direct = predict_proba(model, images, batch_size=16)  # one batch: model(images, training=False)
    looped = predict_proba(model, images, batch_size=3)  # four batches through model.predict
    assert direct.dtype == looped.dtype == np.float32 and direct.shape == (10, 3)
    np.testing.assert_allclose(direct, looped, rtol=1e-5, atol=1e-6)  # dropout off in both
    np.testing.assert_allclose(direct.sum(axis=1), 1.0, rtol=1e-5)
