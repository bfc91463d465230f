"""Per-variable learning-rate multipliers (discriminative rates, layer-wise decay) for any of the configured optimizers.

Keras 3 optimizers update each variable in ``update_step(gradient, variable, learning_rate)``, on every backend (and
inside the TensorFlow distribution strategy's per-variable update), so the subclasses here multiply ``learning_rate``
by the variable's multiplier there. Scaling the gradients instead would do nothing for Adam, whose step does not
depend on the gradient's scale. Multipliers are given by ``variable.path`` and looked up by the optimizer's own
variable key (``update_step`` receives the backend's variable on TensorFlow, which has no Keras path); a variable
without an entry keeps the optimizer's rate (multiplier 1).

The optimizers are registered as Keras serializable objects (package ``image_classification``) and keep their
multipliers in ``get_config``, so a model compiled with one saves and loads with its optimizer (and its state). A
process loading such a model with ``compile=True`` must have imported ``image_classification.training``, which
registers them: every Kedro session does (the project's hooks import it); a bare script or notebook imports it, or
loads with ``compile=False`` (as serving does). Variable paths can differ between a built model and the same model
loaded from a file (a nested head's ``head/predictions/kernel`` loads as ``predictions/kernel``): compute the
multipliers on the very model that is compiled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
from keras import ops

__all__ = ["LAYERWISE_OPTIMIZERS", "LayerwiseAdam", "LayerwiseAdamW", "LayerwiseRMSprop", "LayerwiseSGD",
           "check_multipliers", "layerwise_optimizer"]  # fmt: skip


def check_multipliers(multipliers: Mapping[str, float]) -> dict[str, float]:
    """The multipliers as a plain ``{variable path: float}`` dict.

    Raises:
        ValueError: A key that is not a string, or a multiplier that is negative or not finite.
    """
    checked: dict[str, float] = {}
    for path, multiplier in multipliers.items():
        value = float(multiplier)
        if not isinstance(path, str) or not 0 <= value < float("inf"):
            raise ValueError(
                f"learning_rate_multipliers maps variable paths to finite multipliers of 0 or more, got "
                f"{path!r}: {multiplier!r}."
            )
        checked[path] = value
    return checked


class _LayerwiseRates:
    """Mixin placed before a Keras optimizer class: scales the learning rate (and decoupled weight decay) per variable."""

    def __init__(self, *args: Any, learning_rate_multipliers: Mapping[str, float] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.learning_rate_multipliers = check_multipliers(learning_rate_multipliers or {})
        self._multiplier_by_key: dict[Any, float] = {}

    def build(self, var_list: list[Any]) -> None:
        super().build(var_list)
        self._multiplier_by_key = {
            self._var_key(variable): self.learning_rate_multipliers.get(variable.path, 1.0) for variable in var_list
        }

    def _multiplier(self, variable: Any) -> float:
        return self._multiplier_by_key.get(self._var_key(variable), 1.0)

    def _use_weight_decay(self, variable: Any) -> bool:
        # Scaled variables get their (equally scaled) decay in update_step instead, so a multiplier of 0 freezes them.
        return self._multiplier(variable) == 1.0 and super()._use_weight_decay(variable)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        multiplier = self._multiplier(variable)
        if multiplier == 1.0:
            return super().update_step(gradient, variable, learning_rate)
        scaled = ops.multiply(ops.cast(learning_rate, variable.dtype), ops.cast(multiplier, variable.dtype))
        if self.weight_decay is not None and multiplier > 0 and super()._use_weight_decay(variable):
            # What the base optimizer's _apply_weight_decay does, with this variable's rate; both run before its step.
            decay = ops.multiply(scaled, ops.cast(self.weight_decay, variable.dtype))
            variable.assign(ops.subtract(variable, ops.multiply(variable, decay)))
        return super().update_step(gradient, variable, scaled)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "learning_rate_multipliers": dict(self.learning_rate_multipliers)}


@keras.saving.register_keras_serializable(package="image_classification")
class LayerwiseAdam(_LayerwiseRates, keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with ``learning_rate_multipliers`` (variable path -> multiplier)."""


@keras.saving.register_keras_serializable(package="image_classification")
class LayerwiseAdamW(_LayerwiseRates, keras.optimizers.AdamW):
    """``keras.optimizers.AdamW`` with ``learning_rate_multipliers``; the decoupled weight decay is scaled alike."""


@keras.saving.register_keras_serializable(package="image_classification")
class LayerwiseSGD(_LayerwiseRates, keras.optimizers.SGD):
    """``keras.optimizers.SGD`` with ``learning_rate_multipliers`` (variable path -> multiplier)."""


@keras.saving.register_keras_serializable(package="image_classification")
class LayerwiseRMSprop(_LayerwiseRates, keras.optimizers.RMSprop):
    """``keras.optimizers.RMSprop`` with ``learning_rate_multipliers`` (variable path -> multiplier)."""


#: The layer-wise variant of each optimizer named in ``training.optimizer``.
LAYERWISE_OPTIMIZERS: dict[str, type[keras.optimizers.Optimizer]] = {
    "adam": LayerwiseAdam,
    "adamw": LayerwiseAdamW,
    "sgd": LayerwiseSGD,
    "rmsprop": LayerwiseRMSprop,
}


def layerwise_optimizer(
    name: str, learning_rate_multipliers: Mapping[str, float], **kwargs: Any
) -> keras.optimizers.Optimizer:
    """The optimizer ``name`` (a key of ``LAYERWISE_OPTIMIZERS``) applying ``learning_rate_multipliers``.

    Args:
        name: ``adam``, ``adamw``, ``sgd`` or ``rmsprop``.
        learning_rate_multipliers: Variable path -> factor on the learning rate (0 freezes the variable);
            variables not listed keep the optimizer's rate.
        **kwargs: The optimizer's own arguments (``learning_rate``, ``momentum`` ...).

    Raises:
        ValueError: An unknown optimizer name or a bad multiplier.
    """
    if name not in LAYERWISE_OPTIMIZERS:
        raise ValueError(f"Unknown optimizer '{name}'. Allowed: {', '.join(LAYERWISE_OPTIMIZERS)}.")
    return LAYERWISE_OPTIMIZERS[name](learning_rate_multipliers=learning_rate_multipliers, **kwargs)
