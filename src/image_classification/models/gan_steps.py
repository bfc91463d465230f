"""The DCGAN model (``DCGAN``, a ``keras.Model`` with two optimizers) and its training step per Keras backend: the only
place the GAN code names TensorFlow or JAX. Its networks, settings and ``compiled_dcgan`` are in ``dcgan.py``.

Both steps do the same: a discriminator update on real images vs images generated from fresh noise, then a generator
update on more fresh noise, each with its own Adam, every batch the discriminator sees DiffAugmented (when the
model has a policy) with its own random parameters; then the moving average of the generator's weights moves. TensorFlow records gradients with ``GradientTape`` and updates
the variables in place; JAX's ``fit`` passes the model's state in and takes the new state back, so its step is a
pure function of ``stateless_call``, ``jax.value_and_grad`` and ``stateless_apply`` (see Keras's guides
"Customizing what happens in fit() with TensorFlow / with JAX").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from image_classification.models.batch_augment import diff_augment, draw_diff_augment_parameters

SUPPORTED_BACKENDS = ("tensorflow", "jax")
_binary_crossentropy = keras.losses.BinaryCrossentropy(from_logits=True)


def discriminator_loss(real_logits: Any, fake_logits: Any) -> Any:
    """Binary cross-entropy: real images labelled 1, generated ones 0."""
    return _binary_crossentropy(ops.ones_like(real_logits), real_logits) + _binary_crossentropy(
        ops.zeros_like(fake_logits), fake_logits
    )


def generator_loss(fake_logits: Any) -> Any:
    """The non-saturating generator loss: generated images labelled 1 (stronger gradients early on)."""
    return _binary_crossentropy(ops.ones_like(fake_logits), fake_logits)


def ema_update(averages: Sequence[Any], values: Sequence[Any], decay: float) -> list[Any]:
    """One step of an exponential moving average: ``decay * average + (1 - decay) * value``, pairwise."""
    return [
        ops.add(ops.multiply(average, decay), ops.multiply(ops.cast(value, average.dtype), 1.0 - decay))
        for average, value in zip(averages, values, strict=True)
    ]


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
        """``fit``'s step: ``(data)`` on TensorFlow, ``(state, data)`` on JAX (the module's ``train_step``)."""
        return train_step(self, *args)



def _augmenter(gan: DCGAN, batch_size: Any) -> Any:
    """A function that DiffAugments one batch with fresh parameters from ``gan``'s seed generator (or leaves it)."""

    def augmented(images: Any) -> Any:
        if not gan.policy:
            return images
        parameters = draw_diff_augment_parameters(batch_size, gan.image_size, gan.seed_generator, gan.policy)
        return diff_augment(images, parameters, gan.policy)

    return augmented


def train_step(gan: DCGAN, *args: Any) -> Any:
    """``gan``'s ``train_step`` on the current backend: ``(data)`` on TensorFlow, ``(state, data)`` on JAX."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_step(gan, *args)
    if backend == "jax":
        return _jax_step(gan, *args)
    raise NotImplementedError(
        f"The DCGAN trains on the {' or '.join(SUPPORTED_BACKENDS)} backend, not '{backend}': set KERAS_BACKEND."
    )


def _real_images(data: Any) -> Any:
    return keras.utils.unpack_x_y_sample_weight(data)[0]


def _losses_logged(gan: DCGAN, generator_loss: Any, discriminator_loss: Any) -> dict[str, Any]:
    gan.generator_loss_tracker.update_state(generator_loss)
    gan.discriminator_loss_tracker.update_state(discriminator_loss)
    return {metric.name: metric.result() for metric in gan.metrics}


def _tensorflow_step(gan: DCGAN, data: Any) -> dict[str, Any]:
    import tensorflow as tf

    real = _real_images(data)
    shape = (ops.shape(real)[0], gan.latent_size)
    generator, discriminator = gan.generator, gan.discriminator
    augmented = _augmenter(gan, shape[0])
    noise = keras.random.normal(shape, seed=gan.seed_generator)
    with tf.GradientTape() as tape:
        fake = generator(noise, training=True)
        real_logits = discriminator(augmented(real), training=True)
        d_loss = discriminator_loss(real_logits, discriminator(augmented(fake), training=True))
    gradients = tape.gradient(d_loss, discriminator.trainable_variables)
    gan.discriminator_optimizer.apply(gradients, discriminator.trainable_variables)
    noise = keras.random.normal(shape, seed=gan.seed_generator)
    with tf.GradientTape() as tape:
        g_loss = generator_loss(discriminator(augmented(generator(noise, training=True)), training=True))
    gradients = tape.gradient(g_loss, generator.trainable_variables)
    gan.optimizer.apply(gradients, generator.trainable_variables)
    averages = gan.ema_generator.weights
    for average, value in zip(averages, ema_update(averages, generator.weights, gan.ema_decay), strict=True):
        average.assign(value)
    return _losses_logged(gan, g_loss, d_loss)


def _positions(variables: Sequence[keras.Variable], subset: Sequence[keras.Variable]) -> list[int]:
    """Where each variable of ``subset`` sits in ``variables`` (by identity: the state lists follow that order)."""
    index = {id(variable): position for position, variable in enumerate(variables)}
    return [index[id(variable)] for variable in subset]


def _take(values: Sequence[Any], positions: list[int]) -> list[Any]:
    return [values[position] for position in positions]


def _put(values: list[Any], positions: list[int], new: Sequence[Any]) -> None:
    for position, value in zip(positions, new, strict=True):
        values[position] = value


def _jax_step(gan: DCGAN, state: tuple, data: Any) -> tuple[dict[str, Any], tuple]:
    import jax

    trainable, non_trainable, generator_optimizer_state, metrics_state = (list(part) for part in state)
    generator, discriminator = gan.generator, gan.discriminator
    at = {  # where each part of the state sits in the model's lists (fixed while tracing)
        "g": _positions(gan.trainable_variables, generator.trainable_variables),
        "d": _positions(gan.trainable_variables, discriminator.trainable_variables),
        "g_stats": _positions(gan.non_trainable_variables, generator.non_trainable_variables),
        "d_stats": _positions(gan.non_trainable_variables, discriminator.non_trainable_variables),
        "d_adam": _positions(gan.non_trainable_variables, gan.discriminator_optimizer.variables),
        "seed": _positions(gan.non_trainable_variables, [gan.seed_generator.state]),
        "ema": _positions(gan.non_trainable_variables, gan.ema_generator.weights),
    }
    g_weights, d_weights = _take(trainable, at["g"]), _take(trainable, at["d"])
    g_stats, d_stats = _take(non_trainable, at["g_stats"]), _take(non_trainable, at["d_stats"])

    real = _real_images(data)
    seed_state = gan.seed_generator.state
    with keras.StatelessScope(state_mapping=[(seed_state, non_trainable[at["seed"][0]])]) as scope:
        d_noise = keras.random.normal((real.shape[0], gan.latent_size), seed=gan.seed_generator)
        g_noise = keras.random.normal((real.shape[0], gan.latent_size), seed=gan.seed_generator)
        policy = gan.policy  # three draws: real and generated in the discriminator's update, generated in the generator's
        augment_real, augment_fake, augment_g = (
            draw_diff_augment_parameters(real.shape[0], gan.image_size, gan.seed_generator, policy) if policy else {}
            for _ in range(3)
        )
    _put(non_trainable, at["seed"], [scope.get_current_value(seed_state)])

    def augmented(images, parameters):
        return diff_augment(images, parameters, policy) if policy else images

    def d_loss_of(d_weights, d_stats, g_stats):
        fake, g_stats = generator.stateless_call(g_weights, g_stats, d_noise, training=True)
        real_in, fake_in = augmented(real, augment_real), augmented(fake, augment_fake)
        real_logits, d_stats = discriminator.stateless_call(d_weights, d_stats, real_in, training=True)
        fake_logits, d_stats = discriminator.stateless_call(d_weights, d_stats, fake_in, training=True)
        return discriminator_loss(real_logits, fake_logits), (d_stats, g_stats)

    (d_loss, (d_stats, g_stats)), gradients = jax.value_and_grad(d_loss_of, has_aux=True)(d_weights, d_stats, g_stats)
    d_weights, d_adam = gan.discriminator_optimizer.stateless_apply(
        _take(non_trainable, at["d_adam"]), gradients, d_weights
    )

    def g_loss_of(g_weights, g_stats, d_stats):
        fake, g_stats = generator.stateless_call(g_weights, g_stats, g_noise, training=True)
        fake = augmented(fake, augment_g)
        fake_logits, d_stats = discriminator.stateless_call(d_weights, d_stats, fake, training=True)
        return generator_loss(fake_logits), (g_stats, d_stats)

    (g_loss, (g_stats, d_stats)), gradients = jax.value_and_grad(g_loss_of, has_aux=True)(g_weights, g_stats, d_stats)
    g_weights, generator_optimizer_state = gan.optimizer.stateless_apply(
        generator_optimizer_state, gradients, g_weights
    )

    _put(trainable, at["g"], g_weights)
    _put(trainable, at["d"], d_weights)
    for key, values in (("g_stats", g_stats), ("d_stats", d_stats), ("d_adam", d_adam)):
        _put(non_trainable, at[key], values)
    new_values = {id(v): value for v, value in zip(generator.trainable_variables, g_weights, strict=True)}
    new_values |= {id(v): value for v, value in zip(generator.non_trainable_variables, g_stats, strict=True)}
    ema = ema_update(_take(non_trainable, at["ema"]), [new_values[id(v)] for v in generator.weights], gan.ema_decay)
    _put(non_trainable, at["ema"], ema)
    logs, new_metrics_state, start = {}, [], 0
    for metric, loss in ((gan.generator_loss_tracker, g_loss), (gan.discriminator_loss_tracker, d_loss)):
        variables = metrics_state[start : start + len(metric.variables)]
        start += len(metric.variables)
        variables = metric.stateless_update_state(variables, loss)
        logs[metric.name] = metric.stateless_result(variables)
        new_metrics_state += variables
    return logs, (trainable, non_trainable, generator_optimizer_state, new_metrics_state)
