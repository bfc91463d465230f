"""What an interrupted fit needs besides ``BackupAndRestore``: its history so far, the monitors' best value and the
training time already spent."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

HISTORY_FILE = "history.json"
ELAPSED_FILE = "elapsed.json"  # seconds of training at the end of each finished epoch, counted across interruptions


class TrainingState(keras.callbacks.Callback):
    """Logs the learning rate every epoch and, given ``backup_dir``, keeps what ``BackupAndRestore`` does not.

    ``BackupAndRestore`` restores the weights, optimizer state and epoch, but not the history of the epochs before
    the interruption nor the best ``val_loss`` the monitors had seen; this callback saves the history and the
    seconds trained so far next to the backup (so Keras deletes them with the backup) and, when a run resumes,
    reloads them (``restored``, ``restored_seconds``) and re-seeds the monitors.
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
        if self._started:
            return
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
        (self.backup_dir / HISTORY_FILE).write_text(json.dumps(self._record))
        (self.backup_dir / ELAPSED_FILE).write_text(json.dumps(self._elapsed))
