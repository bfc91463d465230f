"""Nodes of the ``gan`` pipeline: resize the preprocessed arrays, train a DCGAN, generate images and score them.

Scores compare images with the held-out test split on the pooled features of the bundled ImageNet MobileNetV2
(ImageNet Inception weights, the papers' choice, are not available offline): KID and FID of the trained generator,
of its random starting point, and of the real training images (the real-vs-real floor).
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np
import pandas as pd
from PIL import Image

from image_classification.config import load_settings
from image_classification.data.resize import resize_image
from image_classification.models.backbones import get_backbone_spec, resolve_weights
from image_classification.models.dcgan import GanSettings, build_generator, compiled_dcgan
from image_classification.reporting.generative_metrics import frechet_distance, kernel_distance

logger = logging.getLogger(__name__)

#: The feature network: MobileNetV2, whose ImageNet weights ship with the package.
FEATURE_BACKBONE = "mobilenet_v2"
#: Image sets scored against the test images, in the order of the scores table.
COMPARISONS = {
    "real_train": "real training images (reference: real vs real)",
    "untrained_generator": "random-initialised generator (reference)",
    "generator": "trained generator",
}


def gan_settings(config: dict[str, Any] | None) -> GanSettings:
    """``params:gan`` as ``GanSettings``; ValueError naming every unknown key (with a "did you mean") or bad value."""
    return load_settings(GanSettings, config, "gan")


def _resized(images: np.ndarray, size: int) -> np.ndarray:
    if images.shape[1:3] == (size, size):
        return images
    return np.stack([resize_image(Image.fromarray(image), size, "stretch") for image in images])


def resize_images(
    images_train: dict[str, np.ndarray],
    images_val: dict[str, np.ndarray],
    images_test: dict[str, np.ndarray],
    config: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """The GAN's real images: training (train + val, at most ``max_images``) and held-out test, at ``image_size``.

    Args:
        images_train: The preprocess bundle ``{"images": uint8 (N, S, S, 3), "labels": ...}``; labels are unused.
        images_val: Likewise; the GAN has no use for a validation split, so it trains on it too.
        images_test: Likewise; never trained on, only scored against.
        config: ``params:gan``.

    Raises:
        ValueError: A bad setting, or a split without images.

    Returns:
        uint8 ``(N, image_size, image_size, 3)`` training and test images.
    """
    settings = gan_settings(config)
    training = np.concatenate([images_train["images"], images_val["images"]])
    test = images_test["images"]
    for name, images in (("images_train + images_val", training), ("images_test", test)):
        if len(images) < 2:
            raise ValueError(
                f"The gan pipeline needs at least 2 images in {name}, got {len(images)}: run the preprocess "
                "pipeline on a data set with more images (or a larger split.test_fraction)."
            )
    if settings.max_images is not None and settings.max_images < len(training):
        keep = np.random.default_rng(settings.seed).choice(len(training), settings.max_images, replace=False)
        training = training[np.sort(keep)]
    return _resized(training, settings.image_size), _resized(test, settings.image_size)


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1], the generator's ``tanh`` range."""
    return images.astype("float32") / 127.5 - 1.0


def to_uint8(images: Any) -> np.ndarray:
    """Generator output in [-1, 1] -> uint8 [0, 255]."""
    return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def tile(images: np.ndarray, columns: int) -> np.ndarray:
    """``(N, H, W, 3)`` images as one ``(rows * H, columns * W, 3)`` grid, row by row (blank cells stay black)."""
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    grid = np.zeros((rows * height, columns * width, channels), dtype=images.dtype)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[row * height : (row + 1) * height, column * width : (column + 1) * width] = image
    return grid


class SampleGrids(keras.callbacks.Callback):
    """Generates a fixed noise batch before training and after every epoch, as one tiled uint8 grid each."""

    def __init__(self, noise: np.ndarray, columns: int) -> None:
        super().__init__()
        self.noise, self.columns, self.grids = noise, columns, []

    def _record(self) -> None:
        self.grids.append(tile(to_uint8(self.model.generator(self.noise, training=False)), self.columns))

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._record()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._record()


def train_gan(
    training_images: np.ndarray, config: dict[str, Any]
) -> tuple[keras.Model, dict[str, list[float]], dict[str, np.ndarray]]:
    """Trains a DCGAN on the real images and records samples of a fixed noise batch along the way.

    Args:
        training_images: uint8 ``(N, S, S, 3)`` images at ``image_size``.
        config: ``params:gan``.

    Returns:
        The trained generator; ``{"generator_loss": [...], "discriminator_loss": [...]}`` (epoch means); and
        ``{"grids": uint8 (epochs + 1, rows * S, cols * S, 3), "epochs": 0..epochs}``: the fixed noise batch before
        training (epoch 0) and after each epoch.
    """
    settings = gan_settings(config)
    keras.utils.set_random_seed(settings.seed)  # the same starting weights as untrained_generator's
    gan = compiled_dcgan(settings)
    grid = settings.sample_grid_size
    noise = np.random.default_rng(settings.seed).normal(size=(grid * grid, settings.latent_size)).astype("float32")
    samples = SampleGrids(noise, grid)
    logger.info(
        "Training a %dx%d DCGAN on %d images for %d epochs (backend: %s).",
        settings.image_size, settings.image_size, len(training_images), settings.epochs, keras.backend.backend(),
    )  # fmt: skip
    history = gan.fit(
        to_unit_range(training_images),
        batch_size=settings.batch_size,
        epochs=settings.epochs,
        shuffle=True,
        callbacks=[samples],
        verbose=settings.verbose,
    )
    losses = {name: [float(value) for value in values] for name, values in history.history.items()}
    grids = {"grids": np.stack(samples.grids), "epochs": np.arange(len(samples.grids))}
    return gan.generator, losses, grids


def untrained_generator(config: dict[str, Any]) -> keras.Model:
    """The generator ``train_gan`` starts from (same seed, same architecture): the random-initialised reference."""
    settings = gan_settings(config)
    keras.utils.set_random_seed(settings.seed)
    return build_generator(settings.image_size, settings.latent_size, settings.base_filters)


def generate_images(generator: keras.Model, config: dict[str, Any]) -> np.ndarray:
    """``eval_samples`` uint8 images from seeded noise (the same noise for every generator scored)."""
    settings = gan_settings(config)
    latent = int(generator.input_shape[-1])
    noise = np.random.default_rng(settings.seed + 1).normal(size=(settings.eval_samples, latent)).astype("float32")
    return to_uint8(generator.predict(noise, batch_size=64, verbose=0))


def _feature_extractor(size: int) -> keras.Model:
    weights = resolve_weights(FEATURE_BACKBONE, "imagenet")  # the bundled file: no download
    return keras.applications.MobileNetV2(
        input_shape=(size, size, 3), include_top=False, weights=str(weights), pooling="avg"
    )


def image_features(
    training_images: np.ndarray,
    test_images: np.ndarray,
    generated_images: np.ndarray,
    untrained_generated_images: np.ndarray,
    config: dict[str, Any],
) -> dict[str, np.ndarray]:
    """Pooled MobileNetV2 features (1280 per image) of the test images and of each set compared with them.

    Every set is at ``image_size`` (the real ones resized like the generated ones are), then resized to
    ``feature_image_size`` for the network, so resolution alone does not tell real from generated.

    Returns:
        ``{"test": ..., "real_train": ..., "untrained_generator": ..., "generator": ...}``, float32 (N, 1280);
        ``real_train`` holds at most ``eval_samples`` random training images.
    """
    settings = gan_settings(config)
    size = settings.feature_image_size
    extractor = _feature_extractor(size)
    preprocess = get_backbone_spec(FEATURE_BACKBONE).preprocess_input
    rng = np.random.default_rng(settings.seed)
    count = min(settings.eval_samples, len(training_images))
    real_train = training_images[np.sort(rng.choice(len(training_images), count, replace=False))]
    sets = {"test": test_images, "real_train": real_train, "untrained_generator": untrained_generated_images,
            "generator": generated_images}  # fmt: skip
    features = {}
    for name, images in sets.items():
        inputs = preprocess(keras.ops.image.resize(images.astype("float32"), (size, size), interpolation="bilinear"))
        features[name] = np.asarray(extractor.predict(inputs, batch_size=64, verbose=0), dtype=np.float32)
    return features


def generative_scores(
    features: dict[str, np.ndarray], config: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, list[dict[str, float]]]]:
    """KID and FID of each image set against the held-out test images.

    Returns:
        A table (one row per compared set: ``comparison``, ``description``, ``images``, ``test_images``, ``kid``,
        ``kid_std``, ``kid_subset_size``, ``fid``, ``features``) and the same scores as MLflow metrics
        (``kid.<set>``, ``fid.<set>``).
    """
    settings = gan_settings(config)
    test = features["test"]
    rows = []
    for name, description in COMPARISONS.items():
        kid = kernel_distance(
            test, features[name], subsets=settings.kid_subsets, subset_size=settings.kid_subset_size, seed=settings.seed
        )
        rows.append({
            "comparison": name, "description": description, "images": len(features[name]), "test_images": len(test),
            "kid": kid.mean, "kid_std": kid.std, "kid_subset_size": kid.subset_size,
            "fid": frechet_distance(test, features[name]), "features": f"{FEATURE_BACKBONE} (ImageNet), pooled",
        })  # fmt: skip
        logger.info("%s vs test: KID %.4f ± %.4f, FID %.1f", name, kid.mean, kid.std, rows[-1]["fid"])
    scores = pd.DataFrame(rows)
    metrics = {
        f"{metric}.{row['comparison']}": [{"value": float(row[metric]), "step": 0}]
        for row in rows
        for metric in ("kid", "fid")
    }
    return scores, metrics
