"""Fixtures of the report tests: tiny colour-coded test images and a tiny Keras model really trained on them."""

from __future__ import annotations

import keras
import numpy as np
import pytest

CLASS_NAMES = ["blue", "green", "red"]
IMAGE_SIZE = 8


def colour_images(per_class: int, seed: int) -> dict:
    """Noisy 8x8 RGB images whose dominant channel is the class (red -> channel 0, green -> 1, blue -> 2)."""
    rng = np.random.default_rng(seed)
    channel_of_class = {0: 2, 1: 1, 2: 0}  # CLASS_NAMES is sorted: blue, green, red
    images, labels = [], []
    for label, channel in channel_of_class.items():
        block = rng.integers(0, 90, size=(per_class, IMAGE_SIZE, IMAGE_SIZE, 3))
        block[..., channel] += 160
        images.append(block)
        labels += [label] * per_class
    return {
        "images": np.concatenate(images).astype(np.uint8),
        "labels": np.asarray(labels, dtype=np.int64),
    }


@pytest.fixture(scope="session")
def class_names() -> list[str]:
    return list(CLASS_NAMES)


@pytest.fixture(scope="session")
def images_test() -> dict:
    return colour_images(per_class=10, seed=1)


@pytest.fixture(scope="session")
def trained_model_and_history():
    """A softmax classifier over flattened pixels, trained for two epochs on separate training images."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)),
            keras.layers.Rescaling(1.0 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(len(CLASS_NAMES), activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    train = colour_images(per_class=20, seed=0)
    order = np.random.default_rng(0).permutation(
        train["labels"].size
    )  # validation_split takes the tail
    train = {key: values[order] for key, values in train.items()}
    history = model.fit(
        train["images"].astype("float32"),
        train["labels"],
        validation_split=0.25,
        epochs=2,
        batch_size=16,
        verbose=0,
    )
    return model, {key: [float(v) for v in values] for key, values in history.history.items()}


@pytest.fixture(scope="session")
def report_config() -> dict:
    return {
        "batch_size": 8,
        "bootstrap_samples": 200,
        "confidence": 0.95,
        "alpha": 0.05,
        "seed": 0,
        "grid_images": 6,
    }
