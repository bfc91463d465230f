"""A run killed during training resumes, in the next run, from its last finished epoch: the training node keeps its
BackupAndRestore state under ``<checkpoint_root>/<namespace>`` (``checkpoint_root`` from the merged ``training``
blocks), a folder that is not versioned per run (``tests/test_training.py`` tests the fit loop itself)."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest

from image_classification.models.augmentation import build_augmentation
from image_classification.models.scratch import create_scratch_model
from image_classification.pipelines.scratch.nodes import train_scratch_model
from image_classification.training import fit_model, merge_training_config


def _stripes(n: int, seed: int) -> dict[str, np.ndarray]:
    """Noisy vertical (0) or horizontal (1) stripes: learnable by a tiny CNN."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.integers(0, 60, (n, 16, 16, 3)).astype(np.uint8)
    for image, label in zip(images, labels, strict=True):
        if label:
            image[::4] += 180
        else:
            image[:, ::4] += 180
    return {"images": images, "labels": labels.astype(np.int64)}


FIRST_EPOCH_S = 3.0


class _KilledInSecondEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == 0:
            time.sleep(FIRST_EPOCH_S)  # a first epoch long enough to show in the resumed run's train_time_s
        if epoch == 1:
            raise KeyboardInterrupt  # Ctrl+C, or the job's time ran out


def test_a_killed_training_run_resumes_from_its_last_epoch_in_the_next_run(tmp_path, capfd):
    train, val = _stripes(64, seed=0), _stripes(32, seed=1)
    shared_training = {
        "batch_size": 16, "learning_rate": 1e-3, "seed": 1, "verbose": 2,
        "early_stopping_patience": None, "checkpoint_root": str(tmp_path / "checkpoints"),
    }
    strategy_training = {"epochs": 3}
    # First run: the model train_scratch_model builds for these settings, killed as its second epoch starts.
    model = create_scratch_model(
        "basenet", (16, 16, 3), 2, augmentation=build_augmentation({}, seed=1), seed=1
    )
    folder = str(tmp_path / "checkpoints" / "scratch.basenet")  # <checkpoint_root>/<namespace>
    settings = merge_training_config(shared_training, strategy_training)
    with pytest.raises(KeyboardInterrupt):
        fit_model(model, train, val, settings, folder, callbacks=[_KilledInSecondEpoch()], class_names=["h", "v"])
    capfd.readouterr()

    # Next run: the pipeline's node with the same parameters picks the backup up.
    started = time.perf_counter()
    model, history, summary = train_scratch_model(
        train, val, ["h", "v"], {"architecture": "basenet"}, [shared_training, strategy_training, None], {},
        model_name="basenet",
    )
    second_run_s = time.perf_counter() - started
    printed = capfd.readouterr().out
    assert "Epoch 1/3" not in printed and "Epoch 2/3" in printed and "Epoch 3/3" in printed
    assert summary["epochs_run"] == 3 and len(history["val_loss"]) == 3  # the killed run's epoch is kept
    assert summary["strategy"] == "scratch" and summary["model_name"] == "basenet"
    assert int(model.optimizer.iterations) == 3 * 4  # optimizer state restored: 3 epochs of 4 batches
    # The training time counts the killed run's finished epoch too, not just this run's.
    assert summary["train_time_s"] >= FIRST_EPOCH_S and summary["train_time_s"] > second_run_s
    assert not (tmp_path / "checkpoints" / "scratch.basenet" / "backup").exists()  # removed once complete
