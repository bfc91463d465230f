"""Training prints one progress line per model (verbose 1), or Keras's line per epoch (verbose 2), and logs what it
trained."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest

from image_classification.training import train_model

EPOCHS = 3


def _bundle(count: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"images": rng.random((count, 4)).astype(np.float32), "labels": np.arange(count) % 2}


def _model() -> keras.Model:
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs), name="tiny")


def _train(verbose: int) -> None:
    settings = {"epochs": EPOCHS, "batch_size": 8, "verbose": verbose, "seed": 0, "early_stopping_patience": None}
    train_model(_model(), _bundle(16, 0), _bundle(8, 1), [settings, None, None], "scratch.tiny")


@pytest.mark.parametrize(("verbose", "lines"), [(0, 0), (1, 1), (2, EPOCHS)])
def test_progress_prints_one_line_per_model_or_per_epoch(verbose, lines, capsys) -> None:
    _train(verbose)
    printed = [line for line in capsys.readouterr().out.splitlines() if "val_accuracy" in line]
    assert len(printed) == lines
    if verbose == 1:
        assert f"{EPOCHS}/{EPOCHS}" in printed[0]


def test_the_log_names_the_model_its_epochs_and_validation_accuracy(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="image_classification.training.fit"):
        _train(0)
    (record,) = [record for record in caplog.records if "scratch.tiny" in record.getMessage()]
    assert record.args[:2] == ("scratch.tiny", EPOCHS)
