"""Training on several devices, chosen in ``parameters_distribution.yml``; the single-device path is the default.

``data_parallel`` replicates the model on every accelerator and splits each batch between them:
``keras.distribution.DataParallel`` on the JAX backend, ``tf.distribute.MirroredStrategy`` on TensorFlow.
Model and training code stay backend-neutral: only this module knows about the backends, and TensorFlow is imported
only when it is the backend in use.

On JAX every array a step receives must split evenly between the devices, which the last batch of a data set rarely
does (keras-team/keras#21167). So the distribution here splits only *training* batches (``ShardTrainingBatches``
turns that on for the training part of each epoch, and the shuffled training batches leave out the few rows that
would not divide); validation, evaluation and prediction batches are computed whole on every device, at any size.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import keras

from image_classification.training.settings import (  # noqa: F401 - DistributionSettings re-exported
    DISTRIBUTION_STRATEGIES,
    DistributionSettings,
)

logger = logging.getLogger(__name__)

STRATEGIES = DISTRIBUTION_STRATEGIES


def check_strategy(settings: dict[str, Any] | None) -> str | None:
    """The configured strategy, or a ValueError naming ``distribution.strategy`` and the allowed values."""
    strategy = (settings or {}).get("strategy")
    if strategy not in STRATEGIES:
        raise ValueError(
            f"distribution.strategy '{strategy}' is unknown. Allowed: null (one device) or data_parallel."
        )
    return strategy


def distribute(settings: dict[str, Any] | None) -> contextlib.AbstractContextManager:
    """Context in which models built, compiled and fitted use the configured distribution.

    Args:
        settings: ``distribution`` parameters: ``strategy`` (null or ``data_parallel``) and, for JAX,
            optional ``devices`` (e.g. ``["gpu:0", "gpu:1"]``; all accelerators when omitted).

    Returns:
        A context manager; a no-op when ``strategy`` is null.
    """
    strategy = check_strategy(settings)
    if strategy is None:
        return contextlib.nullcontext()
    backend = keras.backend.backend()
    if backend == "jax":
        devices = (settings or {}).get("devices") or keras.distribution.list_devices()
        logger.info("Data-parallel training on %d device(s): %s.", len(devices), ", ".join(devices))
        return _jax_data_parallel(devices)
    if backend == "tensorflow":
        import tensorflow as tf  # only on the TensorFlow backend

        mirrored = tf.distribute.MirroredStrategy()
        logger.info("Data-parallel training with MirroredStrategy on %d replica(s).", mirrored.num_replicas_in_sync)
        return mirrored.scope()
    raise ValueError(f"distribution.strategy data_parallel is not supported on the {backend} backend.")


class TrainingDataParallel(keras.distribution.DataParallel):
    """``DataParallel`` (JAX) that splits a batch between the devices only while ``shard_batches`` is on.

    Variables are replicated on every device as with ``DataParallel``. A batch is split along its first axis when
    ``shard_batches`` is on and its rows divide evenly; any other batch is replicated (computed whole on every
    device), which is correct at any size, only not faster.
    """

    def __init__(self, devices: list[str]) -> None:
        super().__init__(devices=devices)
        self.shard_batches = False
        self._uneven_sizes: set[int] = set()

    @property
    def replicas(self) -> int:
        return int(self.device_mesh.devices.size)

    def get_data_layout(self, data_shape):
        rows = data_shape[0] if data_shape else None
        if self.shard_batches and rows is not None and rows % self.replicas == 0:
            return super().get_data_layout(data_shape)
        if self.shard_batches and rows is not None and rows not in self._uneven_sizes:
            self._uneven_sizes.add(rows)
            logger.warning(
                "A training batch of %d rows does not split between %d devices: it runs whole on every device. "
                "Make training.batch_size a multiple of %d.", rows, self.replicas, self.replicas,
            )
        return keras.distribution.TensorLayout([None] * len(data_shape), self.device_mesh)


class ShardTrainingBatches(keras.callbacks.Callback):
    """Splits the training batches of ``fit`` between the devices, and not the validation batches.

    Keras picks an epoch's data layout when it draws the first batch, which comes after ``on_epoch_begin`` (training)
    and ``on_test_begin`` (validation): switching there gives each loop its own layout.
    """

    def __init__(self, distribution: TrainingDataParallel) -> None:
        super().__init__()
        self.distribution = distribution

    def on_epoch_begin(self, epoch, logs=None):
        self.distribution.shard_batches = True

    def on_test_begin(self, logs=None):
        self.distribution.shard_batches = False

    def on_train_end(self, logs=None):
        self.distribution.shard_batches = False


def training_replicas() -> int:
    """How many devices a training batch is split between: the rows of each one must be a multiple of this."""
    distribution = keras.distribution.distribution() if keras.backend.backend() == "jax" else None
    return distribution.replicas if isinstance(distribution, TrainingDataParallel) else 1


def distribution_callbacks() -> list[keras.callbacks.Callback]:
    """The callbacks ``fit`` needs under the current distribution (none on one device or on TensorFlow)."""
    distribution = keras.distribution.distribution() if keras.backend.backend() == "jax" else None
    return [ShardTrainingBatches(distribution)] if isinstance(distribution, TrainingDataParallel) else []


@contextlib.contextmanager
def _jax_data_parallel(devices: list[str]):
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(TrainingDataParallel(devices=devices))
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)
