"""Nodes of the ``gan`` pipeline: resize the preprocessed arrays, train a DCGAN, generate images (``scoring.py``
scores them)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PIL import Image

from image_classification.config import load_settings
from image_classification.data.resize import resize_image
from image_classification.models.gan_settings import GanSettings
from image_classification.pipelines.gan.images import to_uint8, to_unit_range

logger = logging.getLogger(__name__)


def gan_settings(config: GanSettings | dict[str, Any] | None) -> GanSettings:
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
    config: GanSettings,
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


def train_gan(
    training_images: np.ndarray, config: GanSettings
) -> tuple[Any, dict[str, list[float]], dict[str, np.ndarray]]:
    """Trains a DCGAN on the real images and records samples of a fixed noise batch along the way.

    The generator returned, sampled and scored is the moving average of the trained one's weights (``ema_decay``).

    Args:
        training_images: uint8 ``(N, S, S, 3)`` images at ``image_size``.
        config: ``params:gan``.

    Returns:
        The moving-average generator (a ``keras.Model``); ``{"generator_loss": [...], "discriminator_loss": [...]}``
        (epoch means); and ``{"grids": uint8 (K, rows * S, cols * S, 3), "epochs": (K,)}``: the fixed noise batch
        before training (epoch 0) and after every epoch, or every few epochs so that there are at most
        ``MAX_SAMPLE_GRIDS`` after epochs (the last one included).
    """
    # Imported here: Keras is not needed to register the pipeline.
    import keras  # noqa: PLC0415

    from image_classification.models.dcgan import compiled_dcgan  # noqa: PLC0415
    from image_classification.pipelines.gan.sample_grids import SampleGrids  # noqa: PLC0415

    settings = gan_settings(config)
    keras.utils.set_random_seed(settings.seed)
    gan = compiled_dcgan(settings)
    grid = settings.sample_grid_size
    noise = np.random.default_rng(settings.seed).normal(size=(grid * grid, settings.latent_size)).astype("float32")
    samples = SampleGrids(noise, grid, settings.epochs)
    logger.info(
        "Training a %dx%d DCGAN (%s upsampling, DiffAugment %s, EMA %g) on %d images for %d epochs (backend: %s).",
        settings.image_size, settings.image_size, settings.upsampling, ",".join(settings.augment_policy) or "off",
        settings.ema_decay, len(training_images), settings.epochs, keras.backend.backend(),
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
    grids = {"grids": np.stack(samples.grids), "epochs": np.array(samples.epochs)}
    return gan.ema_generator, losses, grids


def history_to_epoch_metrics(history: dict[str, list[float]]) -> dict[str, list[dict[str, float]]]:
    """Per-epoch losses as metric histories (one step per epoch), for kedro-mlflow's ``MlflowMetricsHistoryDataset``
    (``gan.epoch_metrics``).

    Args:
        history: Metric name -> one value per epoch, e.g. ``{"generator_loss": [0.9, 0.5]}``.

    Returns:
        Metric name -> ``[{"value": v, "step": epoch}, ...]``.
    """
    return {
        name: [{"value": float(value), "step": epoch} for epoch, value in enumerate(values)]
        for name, values in history.items()
    }


def untrained_generator(config: GanSettings) -> Any:
    """The fixed "learnt nothing" reference: the untrained paper DCGAN (``dcgan.REFERENCE_GENERATOR``) at
    ``image_size``, seeded by ``score_seed``, whatever architecture, width and seed the trained one has (a
    ``keras.Model``)."""
    # Imported here: Keras is not needed to register the pipeline.
    from image_classification.models.dcgan import reference_generator  # noqa: PLC0415

    settings = gan_settings(config)
    return reference_generator(settings.image_size, settings.score_seed)


def generate_images(generator: Any, config: GanSettings) -> np.ndarray:
    """``eval_samples`` uint8 images from noise seeded by ``score_seed`` (the same for every generator scored), by
    ``generator`` (a ``keras.Model``)."""
    settings = gan_settings(config)
    latent = int(generator.input_shape[-1])
    rng = np.random.default_rng(settings.score_seed + 1)
    noise = rng.normal(size=(settings.eval_samples, latent)).astype("float32")
    return to_uint8(generator.predict(noise, batch_size=64, verbose=0))
