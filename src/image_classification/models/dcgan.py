"""A DCGAN (Radford, Metz and Chintala, 2016) for Keras 3, trained by ``fit`` on TensorFlow or JAX.

Generator: latent vector -> 4x4 feature map -> upsamplings, each doubling the side, with BatchNorm and ReLU ->
``tanh`` RGB in [-1, 1]. Each upsampling is a nearest-neighbour resize then a 3x3 convolution (``resize``: no
checkerboard, Odena, Dumoulin and Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016) or the paper's
strided transposed convolution (``transposed``, kept for the fixed untrained reference). Discriminator: strided
convolutions with LeakyReLU (0.2) and BatchNorm (none on its first layer) -> one logit. Weights start from
N(0, 0.02) as in the paper, and both networks learn with their own Adam (paper: learning rate 2e-4, beta1 0.5).

Training augments real and generated images alike with DiffAugment (``batch_augment.py``) in both networks' steps,
and keeps an exponential moving average of the generator's weights (``DCGAN.ema_generator``), the one sampled and
scored.

The model itself (``DCGAN``: its own ``compile`` with two optimizers, and ``fit``'s step, the only backend-specific
part, one small function per backend) is in ``gan_steps.py``; this module holds the settings, the two networks'
builders and ``compiled_dcgan``.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import layers

from image_classification.models.gan_settings import UPSAMPLINGS, GanSettings  # noqa: F401 - GanSettings re-exported
from image_classification.models.gan_steps import (  # noqa: F401 - re-exported: code imports them from here
    DCGAN,
    discriminator_loss,
    generator_loss,
)

#: The generator starts from a 4x4 map and doubles it until it reaches ``image_size``.
START_SIDE = 4
#: The fixed "learnt nothing" reference: the paper DCGAN of the first version of this pipeline, untrained, built
#: with ``keras.utils.set_random_seed(score_seed)``. Fixed so that a change of architecture cannot move it.
REFERENCE_GENERATOR = {"latent_size": 100, "base_filters": 32, "upsampling": "transposed"}


def _weights() -> dict[str, Any]:
    return {"kernel_initializer": keras.initializers.RandomNormal(0.0, 0.02), "use_bias": False}


def _batch_norm() -> layers.Layer:
    return layers.BatchNormalization(gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02))


def _upsamplings(image_size: int) -> int:
    return int(math.log2(image_size // START_SIDE))


def _upsampled(x: Any, filters: int, upsampling: str, **kwargs: Any) -> Any:
    """Doubles the side of ``x``: nearest-neighbour resize then a 3x3 convolution, or a 4x4 stride-2 transposed one.

    Every output pixel of the resize-then-convolve path sees the same number of input pixels, so it leaves no
    checkerboard; a transposed convolution whose kernel (4) the stride (2) divides does too in theory, but its
    uneven overlap shows once the kernel is trained (Odena et al. 2016).
    """
    if upsampling == "resize":
        x = layers.UpSampling2D(2, interpolation="nearest")(x)
        return layers.Conv2D(filters, 3, padding="same", **kwargs)(x)
    return layers.Conv2DTranspose(filters, 4, strides=2, padding="same", **kwargs)(x)


def build_generator(image_size: int, latent_size: int, base_filters: int, upsampling: str = "resize") -> keras.Model:
    """The generator: ``(N, latent_size)`` noise -> ``(N, image_size, image_size, 3)`` images in [-1, 1].

    Args:
        image_size: Output side, a power of two of at least 16.
        latent_size: Length of the noise vector.
        base_filters: Filters of the last hidden layer; each earlier one has twice as many.
        upsampling: ``resize`` (resize then convolve) or ``transposed`` (the paper's transposed convolutions).

    Raises:
        ValueError: An unknown ``upsampling``.
    """
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"upsampling must be one of {UPSAMPLINGS}, got {upsampling!r}.")
    upsamplings = _upsamplings(image_size)
    filters = base_filters * 2 ** (upsamplings - 1)
    noise = keras.Input((latent_size,), name="noise")
    x = layers.Dense(START_SIDE * START_SIDE * filters, **_weights())(noise)
    x = layers.Reshape((START_SIDE, START_SIDE, filters))(x)
    x = layers.ReLU()(_batch_norm()(x))
    for _ in range(upsamplings - 1):
        filters //= 2
        x = _upsampled(x, filters, upsampling, **_weights())
        x = layers.ReLU()(_batch_norm()(x))
    images = _upsampled(
        x, 3, upsampling, activation="tanh", kernel_initializer=keras.initializers.RandomNormal(0.0, 0.02)
    )
    return keras.Model(noise, images, name="generator")


def reference_generator(image_size: int, seed: int) -> keras.Model:
    """The fixed untrained reference (``REFERENCE_GENERATOR``), its weights seeded by ``seed``."""
    keras.utils.set_random_seed(seed)
    return build_generator(image_size, **REFERENCE_GENERATOR)


def build_discriminator(image_size: int, base_filters: int) -> keras.Model:
    """The discriminator: ``(N, image_size, image_size, 3)`` images in [-1, 1] -> ``(N, 1)`` logits (real > 0)."""
    images = keras.Input((image_size, image_size, 3), name="images")
    x = layers.Conv2D(base_filters, 4, strides=2, padding="same", **_weights())(images)
    x = layers.LeakyReLU(0.2)(x)
    filters = base_filters
    for _ in range(_upsamplings(image_size) - 1):
        filters *= 2
        x = layers.Conv2D(filters, 4, strides=2, padding="same", **_weights())(x)
        x = layers.LeakyReLU(0.2)(_batch_norm()(x))
    logits = layers.Dense(1, kernel_initializer=keras.initializers.RandomNormal(0.0, 0.02))(layers.Flatten()(x))
    return keras.Model(images, logits, name="discriminator")


def compiled_dcgan(settings: GanSettings) -> DCGAN:
    """A new DCGAN with the architecture, augmentation, EMA and Adam settings of ``settings``, ready for ``fit``."""
    architecture = (settings.image_size, settings.latent_size, settings.base_filters, settings.upsampling)
    gan = DCGAN(
        build_generator(*architecture),
        build_discriminator(settings.image_size, settings.base_filters),
        build_generator(*architecture),
        seed=settings.seed,
        policy=settings.augment_policy,
        ema_decay=settings.ema_decay,
    )
    gan.compile(
        generator_optimizer=keras.optimizers.Adam(settings.generator_learning_rate, beta_1=settings.beta_1),
        discriminator_optimizer=keras.optimizers.Adam(settings.discriminator_learning_rate, beta_1=settings.beta_1),
    )
    return gan
