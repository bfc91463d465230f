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

``DCGAN.train_step`` is the only backend-specific part (one small function per backend in ``gan_steps.py``).
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import layers

from image_classification.models import gan_steps
from image_classification.models.gan_settings import UPSAMPLINGS, GanSettings
from image_classification.models.gan_steps import discriminator_loss, generator_loss  # noqa: F401 - re-exported

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


class DCGAN(keras.Model):
    """A generator and a discriminator trained against each other by ``fit(real_images_in_minus1_1)``.

    Each step draws two noise batches from the model's own seed generator: one for a discriminator update (real
    vs generated images), one for a generator update. With an augmentation ``policy``, every batch the
    discriminator sees, real or generated, in either update, is DiffAugmented with parameters from the same seed
    generator. ``fit`` logs ``generator_loss`` and ``discriminator_loss`` (epoch means). Calling the model
    generates images with ``ema_generator``.

    Two Adam optimizers: the generator's is the model's ``optimizer`` (what ``compile`` takes and ``fit`` steps
    with); the discriminator's state is kept as the model's own non-trainable variables, so JAX's stateless
    ``fit`` carries it from step to step as it does the BatchNorm statistics.

    ``ema_generator`` (another build of the generator's architecture, given its weights here) does not train:
    after each generator update every one of its weights (BatchNorm statistics included) moves to
    ``ema_decay * ema + (1 - ema_decay) * trained``.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        ema_generator: keras.Model,
        seed: int = 0,
        policy: tuple[str, ...] = (),
        ema_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = ema_generator  # a second build, not clone_model: that imports TensorFlow under JAX
        self.ema_generator.set_weights(generator.get_weights())
        self.ema_generator.trainable = False
        self.policy, self.ema_decay = tuple(policy), float(ema_decay)
        self.latent_size = int(generator.input_shape[-1])
        self.image_size = int(generator.output_shape[1])
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
        return self.ema_generator(noise, training=False)

    def train_step(self, *args: Any) -> Any:
        """``fit``'s step: ``(data)`` on TensorFlow, ``(state, data)`` on JAX (see ``gan_steps.py``)."""
        return gan_steps.train_step(self, *args)


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
