"""Training on several devices, chosen in ``parameters_distribution.yml``; the single-device path is the default.

``data_parallel`` replicates the model on every accelerator and splits each batch between them:
``keras.distribution.DataParallel`` on the JAX backend, ``tf.distribute.MirroredStrategy`` on TensorFlow.
Model and training code stay backend-neutral: only this module knows about the backends, and TensorFlow is imported
only when it is the backend in use.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import keras

logger = logging.getLogger(__name__)

STRATEGIES = (None, "data_parallel")


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


@contextlib.contextmanager
def _jax_data_parallel(devices: list[str]):
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)
