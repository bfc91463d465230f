"""The one training path every strategy (scratch, transfer, finetune) shares: merge settings, compile once, fit.

Backend-neutral Keras 3: no TensorFlow imports, so it runs under ``KERAS_BACKEND=jax`` too. Arrays stay uint8 in
memory; a ``PyDataset`` casts one batch at a time to float32 (the model rescales its own inputs).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from image_classification.training.batches import (
    ArrayBatches,
    EpochFollower,
    MixingFactory,
    build_mixing,
)
from image_classification.training.checkpoints import (
    BACKUP_DIR,
    BEST_MODEL_FILE,
    architecture_fingerprint,
    claim_checkpoint_folder,
    data_fingerprint,
    run_identity,
)
from image_classification.training.compile import compile_model
from image_classification.training.distribution import distribution_callbacks
from image_classification.training.progress import EpochProgress
from image_classification.training.settings import (
    TrainingSettings,
    check_training_blocks,
    raise_for,
    training_block_names,
)
from image_classification.training.state import SafeBackupAndRestore, TrainingState

logger = logging.getLogger(__name__)

__all__ = ["BACKUP_DIR", "BEST_MODEL_FILE", "balanced_class_weights", "fit_model", "train_model"]


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


def restored_epoch_accuracy(history: Mapping[str, Sequence[float]]) -> float | None:
    """Validation accuracy of the epoch whose weights the model keeps: the lowest ``val_loss`` (what early stopping
    and the best checkpoint restore). None without validation metrics."""
    losses, accuracies = history.get("val_loss") or [], history.get("val_accuracy") or []
    if not losses or len(accuracies) != len(losses):
        return None
    return float(accuracies[int(np.nanargmin(np.asarray(losses, dtype=float)))])


def last_accuracy(history: Mapping[str, Sequence[float]]) -> float | None:
    """Validation accuracy of the last epoch (``restore_best_epoch: false`` keeps its weights)."""
    accuracies = history.get("val_accuracy") or []
    return float(accuracies[-1]) if accuracies else None


def balanced_class_weights(labels: np.ndarray) -> dict[int, float]:
    """Balanced class weights for the classes present in ``labels``."""
    classes = np.unique(labels)
    weights = compute_class_weight("balanced", classes=classes, y=labels)
    return {int(c): float(w) for c, w in zip(classes, weights, strict=True)}


def _callbacks(
    settings: TrainingSettings, checkpoint_dir: Path | None
) -> tuple[TrainingState, list[keras.callbacks.Callback]]:
    """Early stopping, learning-rate reduction and, with ``checkpoint_dir``, best checkpoint and backup."""
    patience = settings.early_stopping_patience
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss",
        patience=settings.epochs if patience is None else patience,
        restore_best_weights=settings.restore_best_epoch,
    )
    monitors: list[keras.callbacks.Callback] = [early_stopping]
    if settings.reduce_lr_patience is not None:
        monitors.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=settings.reduce_lr_factor, patience=settings.reduce_lr_patience
            )
        )
    if checkpoint_dir is None:
        state = TrainingState(None, monitors)
        return state, [*monitors, state]
    best_file = str(Path(checkpoint_dir, BEST_MODEL_FILE))
    monitors.append(keras.callbacks.ModelCheckpoint(best_file, monitor="val_loss", save_best_only=True))
    backup_dir = Path(checkpoint_dir, BACKUP_DIR)
    # The state is written before BackupAndRestore marks the epoch done: a backup never lacks its history.
    state = TrainingState(backup_dir, monitors)
    return state, [*monitors, state, SafeBackupAndRestore(str(backup_dir))]


def fit_model(  # noqa: PLR0913 - the data, the settings, and what identifies the run
    model: keras.Model,
    train: dict[str, np.ndarray],
    val: dict[str, np.ndarray],
    settings: TrainingSettings | Mapping[str, Any],
    checkpoint_dir: str | None = None,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    class_names: Sequence[str] | None = None,
    identity: Mapping[str, Any] | None = None,
    learning_rate_multipliers: Mapping[str, float] | None = None,
    mixing_factory: MixingFactory | None = None,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, Any]]:
    """Compiles ``model`` with ``settings`` and trains it; returns it with the weights of its best epoch.

    This is the only place a model is compiled for training, so the configured optimizer, learning rate, schedule
    and label smoothing always apply (and ``trainable`` changes made before the call take effect).

    Args:
        model: Model taking float32 0..255 images (or cached features) and giving softmax probabilities.
        train: ``{"images": uint8 (N, H, W, 3), "labels": int (N,)}``, shuffled every epoch. "images" may also be
            any array matching the model's input, e.g. cached float32 backbone features (N, D) for a head.
        val: Same layout, evaluated after every epoch; the best epoch is the one with the lowest ``val_loss``.
        settings: A ``TrainingSettings`` or a ``training`` mapping read with ``TrainingSettings.from_config``.
        checkpoint_dir: When given, the best model is saved to ``<dir>/best.keras`` and the training state to
            ``<dir>/backup/`` after every epoch, so a run interrupted with the same directory resumes from its last
            finished epoch (Keras removes the backup when training completes). Only a run of the same model, data,
            class names and settings is resumed, and a run still training keeps the folder to itself
            (``training.checkpoints``).
        callbacks: Extra Keras callbacks (e.g. logging), run after the built-in ones.
        class_names: The class of each output, when known: checked against the model and part of the data
            fingerprint.
        identity: Anything else a resumed run must share (e.g. the whole classifier when fitting its head).
        learning_rate_multipliers: Variable path -> factor on the learning rate (``compile_model``); part of what a
            resumed run must share. None: one rate for all.
        mixing_factory: Builds the batch mixing that ``mixup_alpha`` / ``cutmix_alpha`` turn on (see
            ``batches.MixingFactory``); needed only when they do. Only training batches are mixed.

    Returns:
        The model, its history (metric name -> per-epoch floats, ``learning_rate`` included; a resumed run includes
        the epochs before the interruption) and a summary ``{train_time_s, epochs_run, resumed_at_epoch,
        data_fingerprint, trainable_params, total_params}`` (``train_time_s`` of a resumed run includes the epochs
        finished before the interruption; ``resumed_at_epoch`` is 0 for a fresh run; ``data_fingerprint`` hashes
        the train and validation arrays and the class names).
    """
    if not isinstance(settings, TrainingSettings):
        settings = TrainingSettings.from_config(settings)
    num_classes = int(model.output_shape[-1])
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(
            f"The model has {num_classes} outputs but class_names lists {len(class_names)} classes: "
            "build it for this class list."
        )
    _check_split("train", train, model, num_classes)
    _check_split("val", val, model, num_classes)
    data = data_fingerprint(train, val, class_names=class_names)
    mixing = build_mixing(mixing_factory, settings.mixup_alpha, settings.cutmix_alpha, settings.mixing_switch_prob)
    if learning_rate_multipliers is not None:
        identity = {**(identity or {}), "learning_rate_multipliers": dict(sorted(learning_rate_multipliers.items()))}
    claim = (
        contextlib.nullcontext(None)
        if checkpoint_dir is None
        else claim_checkpoint_folder(checkpoint_dir, run_identity(model, data, settings.as_dict(), identity))
    )

    keras.utils.set_random_seed(settings.seed)
    train_batches = ArrayBatches(
        train["images"], train["labels"], num_classes, settings.batch_size, shuffle=True, seed=settings.seed,
        mixing=mixing,
    )
    compile_model(model, settings, len(train_batches), learning_rate_multipliers)
    with claim as folder:
        state, built_in = _callbacks(settings, folder)
        balanced = settings.class_weight == "balanced"
        progress = [EpochProgress()] if settings.verbose == 1 else []
        start = time.perf_counter()
        result = model.fit(
            train_batches,
            validation_data=ArrayBatches(val["images"], val["labels"], num_classes, settings.batch_size),
            epochs=settings.epochs,
            # The rows are shuffled by ArrayBatches from (seed, epoch). Keras's own shuffle would also reorder the
            # batches with Python's global random state, which a run resumed in a new process does not replay.
            shuffle=False,
            class_weight=balanced_class_weights(np.asarray(train["labels"])) if balanced else None,
            callbacks=[EpochFollower(train_batches), *built_in, *distribution_callbacks(), *callbacks, *progress],
            verbose=2 if settings.verbose == 2 else 0,  # noqa: PLR2004 - Keras's line per epoch; 1 is our own line
        )
        train_time = state.restored_seconds + time.perf_counter() - start
        model._initial_epoch = None  # noqa: SLF001 - set by BackupAndRestore; would make a later fit skip epochs
        if settings.restore_best_epoch and state.restored and (folder / BEST_MODEL_FILE).exists():
            # The best epoch may predate the interruption, so EarlyStopping may not hold its weights: the
            # checkpoint does.
            model.load_weights(str(folder / BEST_MODEL_FILE))
    # A run resumed after its last epoch trains none: its history is all restored.
    history = {
        key: state.restored.get(key, []) + [float(v) for v in result.history.get(key, [])]
        for key in {**state.restored, **result.history}
    }
    summary = {
        "train_time_s": round(train_time, 3),
        "epochs_run": len(history.get("loss", [])),
        "resumed_at_epoch": len(state.restored.get("loss", [])),
        "data_fingerprint": data,
        "trainable_params": int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        "total_params": int(model.count_params()),
        "validation_accuracy": restored_epoch_accuracy(history) if settings.restore_best_epoch else last_accuracy(history),
    }
    return model, history, summary


def train_model(  # noqa: PLR0913 - the data, the settings blocks and the model's name
    model: keras.Model,
    train: dict[str, np.ndarray],
    val: dict[str, np.ndarray],
    training_blocks: Sequence[Mapping[str, Any] | None],
    namespace: str,
    *,
    fit_on: keras.Model | None = None,
    class_names: Sequence[str] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    learning_rate_multipliers: Mapping[str, float] | None = None,
    mixing_factory: MixingFactory | None = None,
) -> tuple[keras.Model, dict[str, list[float]], dict[str, Any]]:
    """Merges the ``training`` blocks, fits, and stamps the summary with what was trained.

    Args:
        model: The classifier that is saved and evaluated (taking images).
        train: Training bundle for ``fit_on`` (images, or cached features for a head).
        val: Validation bundle, same layout.
        training_blocks: Shared, strategy and model ``training`` blocks, later ones overriding earlier ones.
        namespace: ``<strategy>.<model>``, e.g. ``finetune.mobilenet_v2``; names the checkpoint folder.
        fit_on: The part of ``model`` to fit when it is not the whole model (the head on cached features).
        class_names: The class of each output (checked, and part of the fingerprint a resumed run must match).
        callbacks: Extra Keras callbacks, run after the built-in ones.
        learning_rate_multipliers: Variable path -> factor on the learning rate, e.g.
            ``models.layer_decay.block_learning_rate_multipliers``; None: one rate for all.
        mixing_factory: ``models.batch_mixing.batch_mixer``, needed when the settings turn mixup or CutMix on.

    Returns:
        ``model``, its history and a summary with ``strategy``, ``model_name``, ``image_size``, the training
        settings used, and the parameter counts of the whole ``model``.
    """
    strategy, model_name = namespace.split(".", 1)
    settings, problems = check_training_blocks(list(zip(training_blocks, training_block_names(namespace), strict=True)))
    raise_for(problems)
    checkpoint = str(Path(settings.checkpoint_root) / namespace) if settings.checkpoint_root else None
    # Fitting a head alone: the whole classifier (its backbone) must match too for a backup to be resumed.
    identity = {"classifier": architecture_fingerprint(model)} if fit_on is not None else None
    _, history, summary = fit_model(
        fit_on or model, train, val, settings, checkpoint, callbacks=callbacks, class_names=class_names,
        identity=identity, learning_rate_multipliers=learning_rate_multipliers, mixing_factory=mixing_factory,
    )
    accuracy = summary["validation_accuracy"]
    logger.info(
        "Trained %s: %d epochs in %.1f s, validation accuracy %s (%s).", namespace, summary["epochs_run"],
        summary["train_time_s"], "n/a" if accuracy is None else f"{accuracy:.4f}",
        "best epoch" if settings.restore_best_epoch else "last epoch",
    )  # fmt: skip
    summary.update(
        strategy=strategy,
        model_name=model_name,
        image_size=int(model.input_shape[1]),
        learning_rate=settings.learning_rate,
        optimizer=settings.optimizer,
        lr_schedule=settings.lr_schedule,
        # Counted on the whole classifier: fitting a head alone sees only the head's weights.
        trainable_params=int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        total_params=int(model.count_params()),
    )
    return model, history, summary

