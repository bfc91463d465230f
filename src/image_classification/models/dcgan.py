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
from dataclasses import dataclass
from typing import Any, ClassVar

import keras
from keras import layers

from image_classification.models.batch_augment import DIFF_AUGMENT_POLICY
from image_classification.models.gan_steps import (  # noqa: F401 - re-exported: code imports them from here
    DCGAN,
    discriminator_loss,
    generator_loss,
)

#: The generator starts from a 4x4 map and doubles it until it reaches ``image_size``.
START_SIDE = 4
#: How the generator doubles the side: resize then convolve, or the paper's strided transposed convolution.
UPSAMPLINGS = ("resize", "transposed")
#: The fixed "learnt nothing" reference: the paper DCGAN of the first version of this pipeline, untrained, built
#: with ``keras.utils.set_random_seed(score_seed)``. Fixed so that a change of architecture cannot move it.
REFERENCE_GENERATOR = {"latent_size": 100, "base_filters": 32, "upsampling": "transposed"}


@dataclass(frozen=True)
class GanSettings:
    """What the gan pipeline reads from ``gan:`` (conf/base/parameters_gan.yml).

    Attributes:
        image_size: Side of the generated (and real, resized) images; a power of two from 16 to 256.
        latent_size: Length of the generator's noise vector.
        base_filters: Filters of the discriminator's first layer and the generator's last hidden one; each other
            layer doubles or halves it (the paper used 128; 64 and more need a GPU).
        epochs: Passes over the training images.
        batch_size: Real images per step (as many generated ones).
        generator_learning_rate: Adam learning rate of the generator.
        discriminator_learning_rate: Adam learning rate of the discriminator.
        beta_1: Adam's first-moment decay, for both networks.
        upsampling: ``resize`` (nearest-neighbour resize then 3x3 convolution) or ``transposed`` (the paper's).
        diff_augment: DiffAugment policy applied to real and generated images in both steps, comma-separated
            transforms of ``color,translation,cutout``; null: none.
        ema_decay: The generator used for samples and scores is the moving average ``ema = d * ema + (1 - d) * w``
            of the trained one's weights (BatchNorm statistics included), updated after every generator step; 0:
            the trained generator itself.
        sample_grid_size: The fixed noise batch drawn every epoch is a ``sample_grid_size`` x ``sample_grid_size`` grid.
        max_images: Train on at most this many real images (a random subset); null: all of train + val.
        eval_samples: Generated images scored against the held-out test images (and the most training images
            used as the real-vs-real reference).
        kid_subsets: Random subsets the KID is averaged over.
        kid_subset_size: Images per side in each KID subset (fewer when a side has fewer).
        kid_bootstraps: Bootstrap resamples of the test images (and of the compared set) that give KID's spread.
        copy_check_samples: Generated images shown beside their nearest training image (the copying check).
        feature_image_size: Images are resized to this side before the MobileNetV2 feature extractor.
        seed: Seeds the training: weights, noise, augmentation, the image order.
        score_seed: Seeds the scoring (evaluation noise, KID subsets, bootstrap) and the untrained reference's
            weights, so every training seed is scored against the same references.
        verbose: Keras progress output during training (0 silent, 2 one line per epoch).
    """

    image_size: int = 64
    latent_size: int = 100
    base_filters: int = 16
    epochs: int = 160
    batch_size: int = 8
    generator_learning_rate: float = 2e-4
    discriminator_learning_rate: float = 2e-4
    beta_1: float = 0.5
    upsampling: str = "resize"
    diff_augment: str | None = "color,translation,cutout"
    ema_decay: float = 0.995
    sample_grid_size: int = 6
    max_images: int | None = None
    eval_samples: int = 256
    kid_subsets: int = 100
    kid_subset_size: int = 50
    kid_bootstraps: int = 200
    copy_check_samples: int = 16
    feature_image_size: int = 160
    seed: int = 42
    score_seed: int = 42
    verbose: int = 2

    WHAT: ClassVar[str] = "gan setting"
    LOWERCASE: ClassVar[tuple[str, ...]] = ("upsampling", "diff_augment")

    @property
    def augment_policy(self) -> tuple[str, ...]:
        """``diff_augment`` as a tuple of transforms (empty: no augmentation)."""
        return tuple(part.strip() for part in (self.diff_augment or "").split(",") if part.strip())

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        power_of_two = self.image_size >= 16 and self.image_size & (self.image_size - 1) == 0
        return [
            ("image_size", power_of_two and self.image_size <= 256, "a power of two from 16 to 256"),
            ("latent_size", self.latent_size >= 1, "at least 1"),
            ("base_filters", self.base_filters >= 1, "at least 1"),
            ("epochs", self.epochs >= 1, "at least 1"),
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("generator_learning_rate", self.generator_learning_rate > 0, "above 0"),
            ("discriminator_learning_rate", self.discriminator_learning_rate > 0, "above 0"),
            ("beta_1", 0 <= self.beta_1 < 1, "from 0 up to (not including) 1"),
            ("upsampling", self.upsampling in UPSAMPLINGS, f"one of {', '.join(UPSAMPLINGS)}"),
            ("diff_augment", set(self.augment_policy) <= set(DIFF_AUGMENT_POLICY),
             f"null or comma-separated transforms of {','.join(DIFF_AUGMENT_POLICY)}"),
            ("ema_decay", 0 <= self.ema_decay < 1, "from 0 up to (not including) 1"),
            ("sample_grid_size", self.sample_grid_size >= 1, "at least 1"),
            ("max_images", self.max_images is None or self.max_images >= 1, "at least 1, or null"),
            ("eval_samples", self.eval_samples >= 2, "at least 2"),
            ("kid_subsets", self.kid_subsets >= 1, "at least 1"),
            ("kid_subset_size", self.kid_subset_size >= 2, "at least 2"),
            ("kid_bootstraps", self.kid_bootstraps >= 2, "at least 2"),
            ("copy_check_samples", 1 <= self.copy_check_samples <= self.eval_samples, "from 1 to eval_samples"),
            ("feature_image_size", self.feature_image_size >= 32, "at least 32 (MobileNetV2's smallest input)"),
            ("verbose", self.verbose in (0, 1, 2), "0, 1 or 2"),
        ]


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
