"""A DCGAN (Radford, Metz and Chintala, 2016) for Keras 3, trained by ``fit`` on TensorFlow or JAX.

Generator: latent vector -> 4x4 feature map -> strided transposed convolutions, each doubling the side, with
BatchNorm and ReLU -> ``tanh`` RGB in [-1, 1]. Discriminator: the mirror image, strided convolutions with LeakyReLU
(0.2) and BatchNorm (none on its first layer) -> one logit. Weights start from N(0, 0.02) as in the paper, and both
networks learn with their own Adam (paper: learning rate 2e-4, beta1 0.5).

``DCGAN.train_step`` is the only backend-specific part (one small function per backend in ``gan_steps.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import keras
from keras import layers

from image_classification.models import gan_steps
from image_classification.models.gan_steps import discriminator_loss, generator_loss  # noqa: F401 - re-exported

#: The generator starts from a 4x4 map and doubles it until it reaches ``image_size``.
START_SIDE = 4


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
        sample_grid_size: The fixed noise batch drawn every epoch is a ``sample_grid_size`` x ``sample_grid_size`` grid.
        max_images: Train on at most this many real images (a random subset); null: all of train + val.
        eval_samples: Generated images scored against the held-out test images (and the most training images
            used as the real-vs-real reference).
        kid_subsets: Random subsets the KID is averaged over.
        kid_subset_size: Images per side in each KID subset (fewer when a side has fewer).
        feature_image_size: Images are resized to this side before the MobileNetV2 feature extractor.
        seed: Seeds the weights, the noise, the subsets and the image order.
        verbose: Keras progress output during training (0 silent, 2 one line per epoch).
    """

    image_size: int = 64
    latent_size: int = 100
    base_filters: int = 32
    epochs: int = 60
    batch_size: int = 8
    generator_learning_rate: float = 2e-4
    discriminator_learning_rate: float = 2e-4
    beta_1: float = 0.5
    sample_grid_size: int = 6
    max_images: int | None = None
    eval_samples: int = 256
    kid_subsets: int = 100
    kid_subset_size: int = 50
    feature_image_size: int = 160
    seed: int = 42
    verbose: int = 2

    WHAT: ClassVar[str] = "gan setting"

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
            ("sample_grid_size", self.sample_grid_size >= 1, "at least 1"),
            ("max_images", self.max_images is None or self.max_images >= 1, "at least 1, or null"),
            ("eval_samples", self.eval_samples >= 2, "at least 2"),
            ("kid_subsets", self.kid_subsets >= 1, "at least 1"),
            ("kid_subset_size", self.kid_subset_size >= 2, "at least 2"),
            ("feature_image_size", self.feature_image_size >= 32, "at least 32 (MobileNetV2's smallest input)"),
            ("verbose", self.verbose in (0, 1, 2), "0, 1 or 2"),
        ]


def _weights() -> dict[str, Any]:
    return {"kernel_initializer": keras.initializers.RandomNormal(0.0, 0.02), "use_bias": False}


def _batch_norm() -> layers.Layer:
    return layers.BatchNormalization(gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02))


def _upsamplings(image_size: int) -> int:
    return int(math.log2(image_size // START_SIDE))


def build_generator(image_size: int, latent_size: int, base_filters: int) -> keras.Model:
    """The generator: ``(N, latent_size)`` noise -> ``(N, image_size, image_size, 3)`` images in [-1, 1].

    Args:
        image_size: Output side, a power of two of at least 16.
        latent_size: Length of the noise vector.
        base_filters: Filters of the last hidden layer; each earlier one has twice as many.
    """
    upsamplings = _upsamplings(image_size)
    filters = base_filters * 2 ** (upsamplings - 1)
    noise = keras.Input((latent_size,), name="noise")
    x = layers.Dense(START_SIDE * START_SIDE * filters, **_weights())(noise)
    x = layers.Reshape((START_SIDE, START_SIDE, filters))(x)
    x = layers.ReLU()(_batch_norm()(x))
    for _ in range(upsamplings - 1):
        filters //= 2
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", **_weights())(x)
        x = layers.ReLU()(_batch_norm()(x))
    images = layers.Conv2DTranspose(
        3, 4, strides=2, padding="same", activation="tanh", kernel_initializer=keras.initializers.RandomNormal(0.0, 0.02)
    )(x)
    return keras.Model(noise, images, name="generator")


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


class DCGAN(keras.Model):
    """A generator and a discriminator trained against each other by ``fit(real_images_in_minus1_1)``.

    Each step draws two noise batches from the model's own seed generator: one for a discriminator update (real
    vs generated images), one for a generator update. ``fit`` logs ``generator_loss`` and ``discriminator_loss``
    (epoch means). Calling the model generates images from noise.

    Two Adam optimizers: the generator's is the model's ``optimizer`` (what ``compile`` takes and ``fit`` steps
    with); the discriminator's state is kept as the model's own non-trainable variables, so JAX's stateless
    ``fit`` carries it from step to step as it does the BatchNorm statistics.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_size = int(generator.input_shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.generator_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.discriminator_loss_tracker = keras.metrics.Mean(name="discriminator_loss")
        self.discriminator_optimizer: keras.optimizers.Optimizer | None = None
        self.built = True  # both networks are built: fit need not trace this model to build it

    def compile(
        self, generator_optimizer: keras.optimizers.Optimizer, discriminator_optimizer: keras.optimizers.Optimizer
    ) -> None:
        """Sets both optimizers (the generator's becomes ``self.optimizer``) and creates their state."""
        generator_optimizer.build(self.generator.trainable_variables)
        discriminator_optimizer.build(self.discriminator.trainable_variables)
        super().compile(optimizer=generator_optimizer)
        self.discriminator_optimizer = discriminator_optimizer
        self.discriminator_optimizer_state = list(discriminator_optimizer.variables)  # tracked: non-trainable

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.generator_loss_tracker, self.discriminator_loss_tracker]

    def call(self, noise: Any, training: bool = False) -> Any:
        return self.generator(noise, training=training)

    def train_step(self, *args: Any) -> Any:
        """``fit``'s step: ``(data)`` on TensorFlow, ``(state, data)`` on JAX (see ``gan_steps.py``)."""
        return gan_steps.train_step(self, *args)


def compiled_dcgan(settings: GanSettings) -> DCGAN:
    """A new DCGAN with the architecture and Adam settings of ``settings``, ready for ``fit``."""
    gan = DCGAN(
        build_generator(settings.image_size, settings.latent_size, settings.base_filters),
        build_discriminator(settings.image_size, settings.base_filters),
        seed=settings.seed,
    )
    gan.compile(
        generator_optimizer=keras.optimizers.Adam(settings.generator_learning_rate, beta_1=settings.beta_1),
        discriminator_optimizer=keras.optimizers.Adam(settings.discriminator_learning_rate, beta_1=settings.beta_1),
    )
    return gan
