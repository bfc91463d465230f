"""Classification heads put on top of pooled backbone features (pooling itself belongs to the transfer model)."""

from __future__ import annotations

from numbers import Real
from typing import Any

import keras

DEFAULT_HEAD_CONFIG: dict[str, Any] = {"dense_units": [], "dropout": 0.2, "batch_norm": False, "fit": None}
#: How a head is trained on cached features: ``lbfgs`` (a linear head: multinomial logistic regression, its
#: regularisation chosen by inner cross-validation, written into the Dense layer) or ``gradient`` (Keras ``fit``).
HEAD_FITS = ("lbfgs", "gradient")


def _checked_config(config: dict[str, Any] | None) -> dict[str, Any]:
    config = {**DEFAULT_HEAD_CONFIG, **(config or {})}
    unknown = sorted(set(config) - set(DEFAULT_HEAD_CONFIG))
    if unknown:
        raise ValueError(f"Unknown head setting(s) {', '.join(unknown)}. Allowed: {', '.join(DEFAULT_HEAD_CONFIG)}.")
    units = config["dense_units"] if config["dense_units"] is not None else []
    if not isinstance(units, list | tuple) or not all(
        isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units
    ):
        raise ValueError(f"Head setting dense_units must be a list of positive ints (e.g. [128]), got {units!r}.")
    dropout = config["dropout"] if config["dropout"] is not None else 0.0
    if not isinstance(dropout, Real) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"Head setting dropout must be a number in [0, 1), got {dropout!r}.")
    if not isinstance(config["batch_norm"], bool):
        raise ValueError(f"Head setting batch_norm must be true or false, got {config['batch_norm']!r}.")
    fit = config["fit"]
    if fit is not None and fit not in HEAD_FITS:
        raise ValueError(f"Head setting fit must be one of {', '.join(HEAD_FITS)} or null, got {fit!r}.")
    if fit == "lbfgs" and (units or config["batch_norm"]):
        raise ValueError(
            "Head setting fit: lbfgs fits a linear head (a logistic regression): it needs dense_units: [] and "
            "batch_norm: false; use fit: gradient for a head with hidden layers."
        )
    return {"dense_units": list(units), "dropout": float(dropout), "batch_norm": config["batch_norm"], "fit": fit}


def head_fit(config: dict[str, Any] | None) -> str:
    """How the head of ``config`` is trained on cached features: its ``fit``, else ``lbfgs`` for a linear head and
    ``gradient`` for one with hidden layers or batch norm."""
    config = _checked_config(config)
    if config["fit"] is not None:
        return config["fit"]
    return "gradient" if config["dense_units"] or config["batch_norm"] else "lbfgs"


def build_head(input_dim: int, num_classes: int, config: dict[str, Any] | None = None) -> keras.Sequential:
    """Builds the classifier that maps a pooled feature vector to class probabilities.

    Layers: [BatchNormalization] -> per hidden size: Dense -> [BatchNormalization] -> ReLU -> [Dropout]
    -> [Dropout, only without hidden layers] -> Dense(num_classes, softmax).

    Args:
        input_dim: Length of the feature vector (the backbone's channel count).
        num_classes: Number of classes (at least 2).
        config: ``dense_units`` (list of hidden sizes, default []), ``dropout`` (rate in [0, 1), default 0.2,
            0 switches it off), ``batch_norm`` (bool, default false: normalise the features and each hidden layer),
            ``fit`` (how it is trained, ``head_fit``; not a layer).

    Returns:
        A ``keras.Sequential`` named ``head`` with input shape (input_dim,) and float32 softmax output.
    """
    if num_classes < 2:
        raise ValueError(f"A classifier needs at least 2 classes, got num_classes={num_classes}.")
    config = _checked_config(config)
    batch_norm, dropout = config["batch_norm"], config["dropout"]
    layers: list[keras.layers.Layer] = [keras.Input(shape=(int(input_dim),), name="features")]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization(name="features_bn"))
    for index, units in enumerate(config["dense_units"], start=1):
        # No bias before BatchNormalization: its beta already shifts.
        layers.append(keras.layers.Dense(units, use_bias=not batch_norm, name=f"dense_{index}"))
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(name=f"dense_{index}_bn"))
        layers.append(keras.layers.Activation("relu", name=f"dense_{index}_relu"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout, name=f"dense_{index}_dropout"))
    if dropout and not config["dense_units"]:
        layers.append(keras.layers.Dropout(dropout, name="dropout"))
    # float32 output keeps softmax/loss stable under a mixed-precision policy.
    layers.append(keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions"))
    return keras.Sequential(layers, name="head")
