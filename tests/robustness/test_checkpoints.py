"""Issue 14, case 2: a checkpoint folder ``<checkpoint_root>/<namespace>/`` outlives its run, so the next run must
resume only the same model on the same data and settings, never crash on a backup it cannot restore, and never
share state with a run still training. Real fits of a tiny dense model on tiny images (``training.train_model``,
the path every training node takes); a run is "killed" by a callback raising ``KeyboardInterrupt`` (Ctrl+C)."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from image_classification.models.scratch import create_scratch_model
from image_classification.training import checkpoints, train_model
from image_classification.training.checkpoints import (
    BACKUP_DIR,
    CONCURRENT_DIR,
    STAMP_FILE,
    claim_checkpoint_folder,
)

NAMESPACE = "scratch.tiny"
EPOCHS = 2
LOGGER = "image_classification.training"


def _squares(n: int, classes: int, seed: int) -> dict[str, np.ndarray]:
    """Noisy squares, one grey level per class: learnable in an epoch or two."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    images = np.clip(40 + 160 * labels[:, None, None, None] / max(classes - 1, 1) + rng.normal(0, 15, (n, 8, 8, 3)), 0, 255)
    return {"images": images.astype(np.uint8), "labels": labels.astype(np.int64)}


def _blocks(root: Path, **overrides) -> list[dict]:
    shared = {
        "epochs": EPOCHS, "batch_size": 8, "verbose": 0, "seed": 3, "early_stopping_patience": None,
        "reduce_lr_patience": None, "checkpoint_root": str(root), **overrides,
    }  # fmt: skip
    return [shared, None, None]


class _Killed(keras.callbacks.Callback):
    """Ctrl+C after epoch ``after`` (0-based) is backed up: user callbacks run after the built-in backup."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == self.after:
            raise KeyboardInterrupt


def _train(root: Path, data: tuple[dict, dict], names: list[str], killed_after: int | None = None, **settings):
    keras.utils.set_random_seed(0)  # the same initial weights in every run
    model = create_scratch_model("dense_baseline", (8, 8, 3), len(names), seed=0)
    callbacks = [] if killed_after is None else [_Killed(killed_after)]
    return train_model(
        model, *data, _blocks(root, **settings), NAMESPACE, class_names=names, callbacks=callbacks
    )


def _kill(root: Path, data: tuple[dict, dict], names: list[str], after: int = EPOCHS - 1, **settings) -> Path:
    with pytest.raises(KeyboardInterrupt):
        _train(root, data, names, killed_after=after, **settings)
    folder = root / NAMESPACE
    assert (folder / BACKUP_DIR / "latest.weights.h5").is_file()
    return folder


@pytest.fixture(scope="module")
def birds() -> tuple[dict, dict]:
    return _squares(24, 3, seed=0), _squares(12, 3, seed=1)


@pytest.fixture(scope="module")
def letters() -> tuple[dict, dict]:
    """Another data set with the same number of classes."""
    return _squares(30, 3, seed=5), _squares(12, 3, seed=6)


BIRDS = ["bird", "cat", "dog"]
LETTERS = ["alpha", "beta", "gamma"]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, birds, letters):
    """The validation losses of an uninterrupted run in an empty folder, per data set (trained once)."""
    runs: dict[str, list[float]] = {}

    def losses(name: str) -> list[float]:
        if name not in runs:
            data, names = (birds, BIRDS) if name == "birds" else (letters, LETTERS)
            runs[name] = _train(tmp_path_factory.mktemp("clean"), data, names)[1]["val_loss"]
        return runs[name]

    return losses


def test_a_run_killed_after_its_last_epoch_resumes_with_its_whole_history(tmp_path, birds):
    _kill(tmp_path, birds, BIRDS)

    model, history, summary = _train(tmp_path, birds, BIRDS)

    # Nothing left to train, but the history and best weights are the killed run's, not empty.
    assert summary["resumed_at_epoch"] == EPOCHS and summary["epochs_run"] == EPOCHS
    assert all(len(values) == EPOCHS for values in history.values()) and history
    assert not (tmp_path / NAMESPACE / BACKUP_DIR).exists()


def test_another_data_set_with_the_same_class_count_starts_fresh_and_says_so(
    tmp_path, birds, letters, clean_run, caplog
):
    _kill(tmp_path, birds, BIRDS)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        _, history, summary = _train(tmp_path, letters, LETTERS)

    # Before: 0 epochs "trained", the old data's weights saved as a new model with an empty history.
    assert summary["resumed_at_epoch"] == 0 and summary["epochs_run"] == EPOCHS
    assert len(history["val_loss"]) == EPOCHS
    assert "Not resuming from the backup" in caplog.text and "different data (training/validation arrays or class list)" in caplog.text
    assert history["val_loss"] == pytest.approx(clean_run("letters"), rel=1e-5)  # none of the old weights


def test_another_class_count_starts_fresh_instead_of_a_shape_error_every_run(tmp_path, birds, caplog):
    _kill(tmp_path, birds, BIRDS, after=0)
    two_classes = tuple({**split, "labels": split["labels"] % 2} for split in birds)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        _, _, summary = _train(tmp_path, two_classes, ["even", "odd"])

    assert summary["epochs_run"] == EPOCHS and summary["resumed_at_epoch"] == 0
    assert "model architecture" in caplog.text and "Training from scratch" in caplog.text


def test_other_settings_start_fresh_naming_the_setting(tmp_path, birds, caplog):
    _kill(tmp_path, birds, BIRDS, after=0)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        _, _, summary = _train(tmp_path, birds, BIRDS, learning_rate=0.01, verbose=2)

    assert summary["resumed_at_epoch"] == 0
    assert "training settings (learning_rate 0.001 -> 0.01)" in caplog.text  # verbose does not count


def test_a_backup_left_by_an_older_version_is_not_trusted(tmp_path, birds, caplog):
    folder = _kill(tmp_path, birds, BIRDS, after=0)
    (folder / STAMP_FILE).unlink()  # as the old code left its folders: no stamp

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        _, _, summary = _train(tmp_path, birds, BIRDS)

    assert summary["resumed_at_epoch"] == 0 and "has no run.json" in caplog.text


@pytest.mark.parametrize("damage", ["cut short", "another model's weights"])
@pytest.mark.filterwarnings("ignore:Skipping:UserWarning")  # Keras's own notes while it tries the wrong weights
def test_a_backup_that_cannot_be_restored_starts_fresh_once(tmp_path, birds, damage, clean_run, caplog):
    folder = _kill(tmp_path, birds, BIRDS, after=0)
    weights = folder / BACKUP_DIR / "latest.weights.h5"
    if damage == "cut short":  # killed while Keras wrote it
        weights.write_bytes(weights.read_bytes()[:300])
    else:  # a stamp that matches but weights that do not fit (Keras would fail with a shape error every run)
        create_scratch_model("dense_baseline", (8, 8, 3), 2).save_weights(weights)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        _, history, summary = _train(tmp_path, birds, BIRDS)

    assert "cannot be restored" in caplog.text and summary["resumed_at_epoch"] == 0
    # Rolled back to the initial weights, not half restored: the same run as in a clean folder.
    assert history["val_loss"] == pytest.approx(clean_run("birds"), rel=1e-5)
    assert not (folder / BACKUP_DIR).exists()  # the next run finds nothing to restore


def test_a_second_run_while_the_first_trains_neither_resumes_nor_touches_its_state(tmp_path, birds, caplog):
    folder = _kill(tmp_path, birds, BIRDS, after=0)
    before = {path.name: path.read_bytes() for path in (folder / BACKUP_DIR).iterdir()}
    stamp = json.loads((folder / STAMP_FILE).read_text())

    # The first run is training: it holds the folder (the lock of the real claim, as a live process would).
    with claim_checkpoint_folder(folder, stamp) as held, caplog.at_level(logging.WARNING, logger=LOGGER):
        assert held == folder
        _, history, summary = _train(tmp_path, birds, BIRDS)

    # Before: the second run resumed from the first's backup at its epoch, then both wrote the same HDF5 file.
    assert summary["resumed_at_epoch"] == 0 and len(history["loss"]) == EPOCHS
    assert "is in use by process" in caplog.text and "cannot be resumed" in caplog.text
    assert {path.name: path.read_bytes() for path in (folder / BACKUP_DIR).iterdir()} == before
    assert not any((folder / CONCURRENT_DIR).iterdir())  # its private folder is gone
    _, _, resumed = _train(tmp_path, birds, BIRDS)  # the first run's state is still there to resume
    assert resumed["resumed_at_epoch"] == 1


# The real claim, loaded from its file alone (stdlib and NumPy): starting Keras in a subprocess would take seconds.
HOLD_LOCK = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("checkpoints", sys.argv[2])
checkpoints = importlib.util.module_from_spec(spec)
spec.loader.exec_module(checkpoints)
with checkpoints.claim_checkpoint_folder(sys.argv[1], {"run": "killed"}):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_killed_run_leaves_no_stale_lock(tmp_path):
    folder = tmp_path / NAMESPACE
    owner = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder), checkpoints.__file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout.readline().strip() == "locked"
        with claim_checkpoint_folder(folder, {"run": "second"}) as while_alive:
            assert while_alive != folder  # held by a live process: a private folder
        owner.send_signal(signal.SIGKILL)  # kill -9: no cleanup code runs
        owner.wait()
    finally:
        owner.kill()
    with claim_checkpoint_folder(folder, {"run": "next"}) as after_death:
        assert after_death == folder  # the operating system dropped the dead process's lock
