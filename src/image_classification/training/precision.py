"""Mixed precision (``training.mixed_precision``): 16-bit compute, float32 variables and float32 probabilities.

A Keras layer takes the global dtype policy when it is *built*, and keeps it (it is saved with the model). So the
policy is set only while a model is built (``mixed_precision``) and restored afterwards: models built later, and
other tests in the same process, are unaffected. The classifiers' last ``Dense`` is built with ``dtype="float32"``,
so the softmax and the loss stay in float32.

- GPU: ``mixed_float16`` (tensor cores). float16 gradients can underflow, so the optimizer is wrapped in a
  ``LossScaleOptimizer`` (dynamic loss scaling; ``compile.compile_model``).
- CPU and TPU: ``mixed_bfloat16``. float16 is slow or unsupported there; bfloat16 has float32's range and needs no
  loss scaling.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras


def mixed_precision_policy() -> str:
    """``mixed_float16`` when Keras sees a GPU, else ``mixed_bfloat16``."""
    devices = keras.distribution.list_devices()  # the accelerators when there are any, else the CPUs
    return "mixed_float16" if any(device.lower().startswith("gpu") for device in devices) else "mixed_bfloat16"


@contextlib.contextmanager
def mixed_precision(enabled: bool) -> Iterator[str]:
    """Context in which the models built compute in 16 bits (``mixed_precision_policy``) when ``enabled``.

    Yields:
        The dtype policy in force (``float32`` when not enabled). The global policy found on entry is restored on
        exit, also when building fails.
    """
    previous = keras.config.dtype_policy()
    if not enabled:
        yield previous.name
        return
    keras.config.set_dtype_policy(mixed_precision_policy())
    try:
        yield keras.config.dtype_policy().name
    finally:
        keras.config.set_dtype_policy(previous)


def compute_dtypes(model: keras.Model) -> set[str]:
    """The compute dtypes of the layers that hold weights (what the model was built with)."""
    return {layer.dtype_policy.compute_dtype for layer in model._flatten_layers(include_self=False) if layer.weights}  # noqa: SLF001


def needs_loss_scaling(model: keras.Model) -> bool:
    """Whether some layer computes in float16, whose small gradients underflow without loss scaling."""
    return "float16" in compute_dtypes(model)
