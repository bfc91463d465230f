"""One progress line per model: a Keras ``Progbar`` over the epochs instead of Keras's output for every epoch."""

from __future__ import annotations

import sys
from typing import Any

import keras

#: The metrics shown, when the model reports them.
SHOWN = ("loss", "accuracy", "val_loss", "val_accuracy")


class EpochProgress(keras.callbacks.Callback):
    """A bar over the epochs, updated after each one with its loss and accuracy.

    On a terminal it redraws one line; in a log file (not a terminal) Keras's bar prints once, when training ends:
    a run that trains six models logs six progress lines, not one per epoch.
    """

    def __init__(self) -> None:
        super().__init__()
        self._bar: keras.utils.Progbar | None = None
        self._epochs_done = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # Keras's own modes: 1 redraws in place (a terminal), 2 prints the finished bar only (a log file)
        verbose = 1 if sys.stdout.isatty() else 2
        self._bar = keras.utils.Progbar(self.params["epochs"], verbose=verbose, stateful_metrics=SHOWN, unit_name="epoch")
        self._epochs_done = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epochs_done = epoch + 1
        values = [(key, float(logs[key])) for key in SHOWN if logs and key in logs]
        self._bar.update(self._epochs_done, values=values, finalize=self._epochs_done >= self.params["epochs"])

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None and self._epochs_done < self.params["epochs"]:  # stopped early: print it now
            self._bar.update(self._epochs_done, finalize=True)
