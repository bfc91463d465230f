"""What an interrupted fit needs besides ``BackupAndRestore``: its history so far, the monitors' best value and the
training time already spent; and a ``BackupAndRestore`` that survives a backup it cannot restore."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from image_classification.training.checkpoints import BEST_MODEL_FILE

logger = logging.getLogger(__name__)

HISTORY_FILE = "history.json"
ELAPSED_FILE = "elapsed.json"  # seconds of training at the end of each finished epoch, counted across interruptions
#: The state of every random layer's seed generator (dropout, augmentation) after the last finished epoch: Keras's
#: weight files leave it out, and without it a resumed run draws other dropout masks than the uninterrupted one.
RANDOM_STATE_FILE = "random_state.json"
SEED_STATE = "seed_generator_state"


class TrainingState(keras.callbacks.Callback):
    """Logs the learning rate every epoch and, given ``backup_dir``, keeps what ``BackupAndRestore`` does not.

    ``BackupAndRestore`` restores the weights, optimizer state and epoch, but not the history of the epochs before
    the interruption, the best ``val_loss`` the monitors had seen, nor the state of the random layers' seed
    generators; this callback saves the history, the seconds trained so far and those states next to the backup (so
    Keras deletes them with the backup) and, when a run resumes, reloads them (``restored``, ``restored_seconds``),
    re-seeds the monitors and puts the generators back where the uninterrupted run had them.
    """

    def __init__(
        self, backup_dir: Path | None, monitors: Sequence[keras.callbacks.Callback]
    ) -> None:
        super().__init__()
        self.backup_dir, self.monitors = backup_dir, list(monitors)
        self.restored: dict[str, list[float]] = {}  # epochs finished before an interruption
        self.restored_seconds = 0.0  # training time of those epochs
        self._record: dict[str, list[float]] = {}
        self._elapsed: list[float] = []
        self._started = False
        self._began = time.perf_counter()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._began = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        # The first epoch number is the one BackupAndRestore resumed at (its on_train_begin has run by now).
        if not self._started:
            self._restore(epoch)

    def on_train_end(self, logs: dict | None = None) -> None:
        # A run killed after its last epoch was backed up resumes with no epoch left to train: no epoch began, so
        # the history is restored here (BackupAndRestore, after this callback, has not removed it yet).
        if not self._started:
            self._restore(self.model._initial_epoch or 0)  # noqa: SLF001 - set by BackupAndRestore

    def _restore(self, epoch: int) -> None:
        """Reloads the history and time of the ``epoch`` epochs finished before an interruption."""
        self._started = True
        path = self.backup_dir / HISTORY_FILE if self.backup_dir else None
        if epoch == 0 or path is None or not path.exists():
            return
        self.restored = {
            key: values[:epoch] for key, values in json.loads(path.read_text()).items()
        }
        self._record = {key: list(values) for key, values in self.restored.items()}
        elapsed_path = self.backup_dir / ELAPSED_FILE
        if elapsed_path.exists():
            self._elapsed = json.loads(elapsed_path.read_text())[:epoch]
            self.restored_seconds = self._elapsed[-1] if len(self._elapsed) == epoch else 0.0
        random_path = self.backup_dir / RANDOM_STATE_FILE
        if random_path.exists():
            for variable, value in zip(_seed_states(self.model), json.loads(random_path.read_text()), strict=True):
                variable.assign(np.asarray(value, dtype=variable.dtype))
        losses = self.restored.get("val_loss", [])
        if losses:
            best_epoch = int(np.argmin(losses))
            for monitor in self.monitors:
                monitor.best = losses[best_epoch]
                if isinstance(monitor, keras.callbacks.EarlyStopping):
                    monitor.wait, monitor.best_epoch = epoch - 1 - best_epoch, best_epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        if "learning_rate" not in logs:  # ReduceLROnPlateau adds it when present
            logs["learning_rate"] = float(
                keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            )
        if self.backup_dir is None:
            return
        for key, value in logs.items():
            self._record.setdefault(key, []).append(float(value))
        self._elapsed.append(self.restored_seconds + time.perf_counter() - self._began)
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.backup_dir / HISTORY_FILE, json.dumps(self._record))
        _write_atomically(self.backup_dir / ELAPSED_FILE, json.dumps(self._elapsed))
        states = [keras.ops.convert_to_numpy(variable).tolist() for variable in _seed_states(self.model)]
        _write_atomically(self.backup_dir / RANDOM_STATE_FILE, json.dumps(states))


def _seed_states(model: keras.Model) -> list:
    """The state variables of the model's seed generators, in the model's order."""
    return [variable for variable in model.variables if variable.name == SEED_STATE]


def _write_atomically(path: Path, text: str) -> None:
    """A run killed while writing leaves the previous file, never half of one."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


class SafeBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that starts fresh, saying so, when the backup cannot be restored.

    Keras loads a backup layer by layer and raises at the end, so a failed restore would leave a model half made of
    the backup: every variable of the model and its optimizer is put back as it was before the attempt.
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not os.path.exists(self._weights_path) and not os.path.exists(self._training_metadata_path):
            return
        model, optimizer = self.model, self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        variables = [*model.variables, *(optimizer.variables if optimizer is not None else [])]
        before = [keras.ops.convert_to_numpy(v) for v in variables]
        try:
            super().on_train_begin(logs)
        except Exception as error:  # noqa: BLE001 - any unreadable or unfitting backup: start fresh
            for variable, value in zip(variables, before, strict=True):
                variable.assign(value)
            model._initial_epoch = None  # noqa: SLF001 - the epoch BackupAndRestore would resume at
            shutil.rmtree(self.backup_dir, ignore_errors=True)
            best = Path(self.backup_dir).parent / BEST_MODEL_FILE
            best.unlink(missing_ok=True)
            logger.warning(
                "The backup in %s cannot be restored (%s: %s); removed it. Training from scratch.",
                self.backup_dir, type(error).__name__, " ".join(str(error).split())[:300],
            )
