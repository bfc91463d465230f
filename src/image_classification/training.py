"""The one training loop every strategy (scratch, transfer, finetune) shares.

Backend-neutral Keras 3: no TensorFlow imports, so it runs under ``KERAS_BACKEND=jax`` too. Arrays stay uint8 in
memory; a ``PyDataset`` casts one batch at a time to float32 (the model rescales its own inputs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from image_classification.batches import ArrayBatches
from image_classification.training_state import TrainingState

logger = logging.getLogger(__name__)

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}

# Defaults of ``fit_model``'s config; see its docstring.
DEFAULT_FIT_CONFIG: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 32,
    "learning_rate": 1e-3,
    "label_smoothing": 0.0,
    "optimizer": "adam",
    "class_weight": None,
    "early_stopping_patience": 5,
    "reduce_lr_patience": 3,
    "reduce_lr_factor": 0.5,
    "seed": 42,
    "verbose": 1,
}

# Accepted in the config but read by the caller (``strategy.checkpoint_dir``).
CALLER_KEYS = {"checkpoint_root"}
# For these, null means "off"; for the others it means "the default".
_NULLABLE = {"class_weight", "early_stopping_patience", "reduce_lr_patience"}
BEST_MODEL_FILE = "best.keras"
BACKUP_DIR = "backup"


def compile_model(
    model: keras.Model,
    *,
    learning_rate: float,
    label_smoothing: float = 0.0,
    optimizer: str = "adam",
) -> keras.Model:
    """Compiles ``model`` for one-hot labels with cross-entropy, accuracy and (over 5 classes) top-5 accuracy.

    Args:
        model: Model whose last layer outputs softmax probabilities; its class count is ``output_shape[-1]``.
        learning_rate: Initial learning rate of the optimizer.
        label_smoothing: Label smoothing of ``CategoricalCrossentropy`` (0 disables it).
        optimizer: One of ``adam``, ``adamw``, ``sgd``, ``rmsprop`` (Keras defaults otherwise).

    Returns:
        The same model, compiled.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer '{optimizer}'. Allowed: {', '.join(OPTIMIZERS)}.")
    num_classes = int(model.output_shape[-1])
    metrics: list[Any] = ["accuracy"]
    if num_classes > 5:
        metrics.append(
            keras.metrics.TopKCategoricalAccuracy(k=min(5, num_classes), name="top5_accuracy")
        )
    model.compile(
        optimizer=OPTIMIZERS[optimizer](learning_rate=learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=metrics,
    )
    return model


def _check_split(name: str, split: dict, model: keras.Model, num_classes: int) -> None:
    """Raises a ValueError naming ``name`` when its images (or cached features) or labels do not fit ``model``."""
    images, labels = split.get("images"), split.get("labels")
    if images is None or labels is None:
        raise ValueError(
            f"'{name}' must be a dict with 'images' and 'labels' arrays, got keys {sorted(split)}."
        )
    if len(images) == 0:
        raise ValueError(
            f"'{name}' is empty: no images to train or validate on; check the split settings."
        )
    expected = tuple(model.input_shape[1:])
    shape = tuple(images.shape[1:])
    if len(shape) != len(expected) or any(
        e is not None and e != s for e, s in zip(expected, shape, strict=True)
    ):
        raise ValueError(
            f"'{name}' images have shape {images.shape}, but the model expects (N, {', '.join(map(str, expected))}); "
            "preprocess the images at the model's input size."
        )
    if len(labels) != len(images):
        raise ValueError(f"'{name}' has {len(images)} images but {len(labels)} labels.")
    labels = np.asarray(labels)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"'{name}' labels range {labels.min()}..{labels.max()}, outside the model's {num_classes} classes "
            f"(0..{num_classes - 1}); the model was built for a different class list."
        )


def balanced_class_weights(labels: np.ndarray) -> dict[int, float]:
    """Balanced class weights for the classes present in ``labels``."""
    classes = np.unique(labels)
    weights = compute_class_weight("balanced", classes=classes, y=labels)
    return {int(c): float(w) for c, w in zip(classes, weights, strict=True)}


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` over ``DEFAULT_FIT_CONFIG``, refusing unknown keys and bad values by name."""
    unknown = set(config) - set(DEFAULT_FIT_CONFIG) - CALLER_KEYS
    if unknown:
        raise ValueError(
            f"Unknown training setting(s) {sorted(unknown)} (the strategy's 'training' block). "
            f"Allowed: {', '.join([*DEFAULT_FIT_CONFIG, *sorted(CALLER_KEYS)])}."
        )
    given = {key: value for key, value in config.items() if value is not None or key in _NULLABLE}
    settings = {**DEFAULT_FIT_CONFIG, **given}
    if settings["class_weight"] not in (None, "balanced"):
        raise ValueError(
            f"Setting 'class_weight' must be 'balanced' or null, got {settings['class_weight']!r}."
        )
    return settings


def _callbacks(
    cfg: dict[str, Any], epochs: int, checkpoint_dir: str | None
) -> tuple[TrainingState, list[keras.callbacks.Callback]]:
    """Early stopping, learning-rate reduction and, with ``checkpoint_dir``, best checkpoint and backup."""
    patience = cfg["early_stopping_patience"]
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss",
        patience=epochs if patience is None else int(patience),
        restore_best_weights=True,
    )
    monitors: list[keras.callbacks.Callback] = [early_stopping]
    if cfg["reduce_lr_patience"] is not None:
        monitors.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss",
                factor=cfg["reduce_lr_factor"],
                patience=int(cfg["reduce_lr_patience"]),
            )
        )
    if checkpoint_dir is None:
        state = TrainingState(None, monitors)
        return state, [*monitors, state]
    best_file = str(Path(checkpoint_dir, BEST_MODEL_FILE))
    monitors.append(
        keras.callbacks.ModelCheckpoint(best_file, monitor="val_loss", save_best_only=True)
    )
    backup_dir = Path(checkpoint_dir, BACKUP_DIR)
    # The state is written before BackupAndRestore marks the epoch done: a backup never lacks its history.
    state = TrainingState(backup_dir, monitors)
    return state, [*monitors, state, keras.callbacks.BackupAndRestore(str(backup_dir))]


def fit_model(
    model: keras.Model,
    train: dict[str, np.ndarray],
    val: dict[str, np.ndarray],
    config: dict[str, Any],
    checkpoint_dir: str | None = None,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> tuple[keras.Model, dict[str, list[float]], dict[str, Any]]:
    """Trains ``model`` on uint8 arrays and returns it with the weights of its best epoch (lowest ``val_loss``).

    Config keys (defaults in ``DEFAULT_FIT_CONFIG``):
        epochs (10): Most epochs to train.
        batch_size (32): Images per batch.
        learning_rate (1e-3), label_smoothing (0.0), optimizer ("adam"): used ONLY when the model is not compiled
            yet (then ``compile_model`` is called); a compiled model (e.g. fine-tuning at a low rate) keeps its own.
        class_weight (null): ``"balanced"`` weighs each class present in ``train`` by N / (classes * count).
        early_stopping_patience (5): Epochs without ``val_loss`` improvement before stopping; null never stops early.
            The best epoch's weights are restored either way.
        reduce_lr_patience (3): Epochs without improvement before multiplying the learning rate by
            reduce_lr_factor (0.5); null disables it.
        seed (42): Seeds Python, NumPy and the backend (``keras.utils.set_random_seed``) and the batch order.
        verbose (1): Keras progress output (0 silent, 1 bar, 2 one line per epoch).
        checkpoint_root: allowed and ignored here (the caller turns it into ``checkpoint_dir``).
        Any other key raises a ValueError, so a misspelt setting is not silently ignored.

    Args:
        model: Functional model taking float32 0..255 images and giving softmax probabilities.
        train: ``{"images": uint8 (N, H, W, 3), "labels": int (N,)}``, shuffled every epoch. "images" may also be
            any array matching the model's input, e.g. cached float32 backbone features (N, D) for a head.
        val: Same layout, evaluated after every epoch.
        config: Settings above; missing keys (or null for epochs, batch_size, ...) take their defaults.
        checkpoint_dir: When given, the best model is saved to ``<dir>/best.keras`` and the training state to
            ``<dir>/backup/`` after every epoch, so a run interrupted with the same directory resumes from its last
            finished epoch (Keras removes the backup when training completes).
        callbacks: Extra Keras callbacks (e.g. logging), run after the built-in ones.

    Returns:
        The model, its history (metric name -> per-epoch floats, ``learning_rate`` included; a resumed run includes
        the epochs before the interruption) and a summary ``{train_time_s, epochs_run, trainable_params,
        total_params}`` (``train_time_s`` of a resumed run includes the epochs finished before the interruption).
    """
    cfg = _settings(config)
    num_classes = int(model.output_shape[-1])
    _check_split("train", train, model, num_classes)
    _check_split("val", val, model, num_classes)

    keras.utils.set_random_seed(cfg["seed"])
    if not getattr(model, "compiled", False):
        compile_model(
            model,
            learning_rate=cfg["learning_rate"],
            label_smoothing=cfg["label_smoothing"],
            optimizer=cfg["optimizer"],
        )
    batch_size, seed = int(cfg["batch_size"]), cfg["seed"]
    train_batches = ArrayBatches(
        train["images"], train["labels"], num_classes, batch_size, shuffle=True, seed=seed
    )
    state, built_in = _callbacks(cfg, int(cfg["epochs"]), checkpoint_dir)
    balanced = cfg["class_weight"] == "balanced"
    start = time.perf_counter()
    result = model.fit(
        train_batches,
        validation_data=ArrayBatches(val["images"], val["labels"], num_classes, batch_size),
        epochs=int(cfg["epochs"]),
        class_weight=balanced_class_weights(np.asarray(train["labels"])) if balanced else None,
        callbacks=[*built_in, *callbacks],
        verbose=cfg["verbose"],
    )
    train_time = state.restored_seconds + time.perf_counter() - start
    model._initial_epoch = None  # noqa: SLF001 - set by BackupAndRestore; would make a later fit skip epochs

    if state.restored and Path(checkpoint_dir, BEST_MODEL_FILE).exists():
        # The best epoch may predate the interruption, so EarlyStopping may not hold its weights: the checkpoint does.
        model.load_weights(str(Path(checkpoint_dir, BEST_MODEL_FILE)))
    history = {
        key: state.restored.get(key, []) + [float(v) for v in values]
        for key, values in result.history.items()
    }
    summary = {
        "train_time_s": round(train_time, 3),
        "epochs_run": len(history.get("loss", [])),
        "trainable_params": int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        "total_params": int(model.count_params()),
    }
    best = max(history.get("val_accuracy", [float("nan")]))
    epochs_run = summary["epochs_run"]
    logger.info(
        "Trained %s: %d epochs, best val_accuracy %.4f, %.1f s.",
        model.name,
        epochs_run,
        best,
        train_time,
    )
    return model, history, summary


def predict_proba(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Class probabilities for uint8 (or float) images, predicted in batches.

    Args:
        model: Model returning softmax probabilities.
        images: Array (N, H, W, 3) of 0..255 pixel values.
        batch_size: Images per forward pass; bounds memory on large sets.

    Returns:
        float32 array (N, num_classes).
    """
    num_classes = int(model.output_shape[-1])
    if len(images) == 0:
        return np.zeros((0, num_classes), dtype=np.float32)
    parts = [
        keras.ops.convert_to_numpy(
            model(images[i : i + batch_size].astype(np.float32), training=False)
        )
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts).astype(np.float32)
