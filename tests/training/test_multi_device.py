"""``distribution.strategy: data_parallel`` on two devices: JAX with two CPU devices stands in for two GPUs.

The training runs in a subprocess (``KERAS_BACKEND=jax``, ``XLA_FLAGS=--xla_force_host_platform_device_count=2``):
the backend and the device count are fixed when Keras and JAX are first imported. The subprocess runs this module
as a script (``_train_on_two_devices``) and prints what it saw as JSON.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIT = {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "verbose": 0, "seed": 0, "early_stopping_patience": None}


def _bundle(count: int, seed: int) -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return {"images": rng.integers(0, 256, (count, 16, 16, 3)).astype(np.uint8), "labels": np.arange(count) % 3}


def _train_on_two_devices() -> dict[str, Any]:
    """Trains basenet on one device, then data-parallel on two (entered by the project's hook), and compares."""
    import jax
    import keras
    import numpy as np
    from kedro.io import DataCatalog, MemoryDataset

    from image_classification.models.scratch import create_scratch_model
    from image_classification.project.hooks import DistributionHook
    from image_classification.training import fit_model
    from image_classification.training.batches import ArrayBatches

    shardings: list[tuple[bool, str, int]] = []

    def record(training: bool, sharding: Any) -> None:
        # "whole": every device holds the full batch; else the mesh axis each array axis is split along
        layout = "whole" if sharding.is_fully_replicated else ",".join(str(axis) for axis in sharding.spec)
        shardings.append((training, layout, len(sharding.device_set)))

    class ShardingProbe(keras.layers.Layer):
        """Identity that records how the compiled step lays out its input batch (in place of augmentation)."""

        def call(self, x, training=None):
            jax.debug.inspect_array_sharding(x, callback=lambda sharding: record(bool(training), sharding))
            return x

    train, val = _bundle(24, seed=1), _bundle(13, seed=2)  # 13: the last validation batch (5) does not split

    def train_basenet() -> tuple[list[np.ndarray], dict[str, list[float]]]:
        model = create_scratch_model("basenet", (16, 16, 3), 3, augmentation=ShardingProbe(), seed=0)
        model, history, _ = fit_model(model, train, val, FIT)
        return model.get_weights(), history

    one_weights, one_history = train_basenet()
    one_device_shardings, shardings[:] = list(shardings), []

    hook = DistributionHook()
    catalog = DataCatalog({"params:distribution": MemoryDataset({"strategy": "data_parallel", "devices": None})})
    hook.before_pipeline_run(run_params={}, pipeline=None, catalog=catalog)
    try:
        distribution = keras.distribution.distribution()
        two_weights, two_history = train_basenet()
        # Sizes that do not split: 17 training rows (one left out per epoch), 13 rows predicted in batches of 8.
        odd = create_scratch_model("basenet", (16, 16, 3), 3, seed=0)
        _, odd_history, _ = fit_model(odd, _bundle(17, seed=3), _bundle(5, seed=4), FIT)
        predictions = odd.predict(val["images"].astype("float32"), batch_size=8, verbose=0)
        training_batches = ArrayBatches(train["images"][:17], train["labels"][:17], 3, 8, shuffle=True)
    finally:
        hook.after_pipeline_run(run_params={}, run_result=None, pipeline=None, catalog=catalog)
    return {
        "devices": [str(d) for d in jax.devices()],
        "distribution": type(distribution).__name__,
        "mesh": list(distribution.device_mesh.shape),
        "after_run": repr(keras.distribution.distribution()),
        "one_device_shardings": one_device_shardings,
        "two_device_shardings": shardings,
        "weight_gap": max(float(np.max(np.abs(a - b))) for a, b in zip(one_weights, two_weights, strict=True)),
        "weight_scale": max(float(np.max(np.abs(a))) for a in one_weights),
        "one_history": one_history,
        "two_history": two_history,
        "odd_epochs": len(odd_history["loss"]),
        "odd_loss_finite": bool(np.all(np.isfinite(odd_history["loss"] + odd_history["val_loss"]))),
        "prediction_shape": list(predictions.shape),
        "training_rows_per_epoch": sum(len(training_batches[i][0]) for i in range(len(training_batches))),
    }


@pytest.fixture(scope="module")
def two_devices() -> dict[str, Any]:
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed (pip install 'jax[cpu]')")
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.training.test_multi_device"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_hook_sets_a_data_parallel_distribution_over_both_devices_and_removes_it(two_devices):
    assert len(two_devices["devices"]) == 2
    assert two_devices["distribution"] == "TrainingDataParallel"
    assert two_devices["mesh"] == [2]
    assert two_devices["after_run"] == "None"


def test_training_batches_are_split_between_the_devices_and_validation_batches_are_whole(two_devices):
    # inspect_array_sharding reports each compiled step's input layout: (training?, layout, devices).
    assert {tuple(seen) for seen in two_devices["one_device_shardings"]} == {(True, "whole", 1), (False, "whole", 1)}
    seen = {tuple(seen) for seen in two_devices["two_device_shardings"]}
    assert {layout for training, layout, _ in seen if training} == {"batch"}  # axis 0 split along the mesh
    assert {layout for training, layout, _ in seen if not training} == {"whole"}
    assert {devices for _, _, devices in seen} == {2}


def test_two_devices_train_the_same_weights_and_losses_as_one(two_devices):
    assert two_devices["weight_gap"] <= 1e-5 * max(1.0, two_devices["weight_scale"])
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        one, two = two_devices["one_history"][key], two_devices["two_history"][key]
        assert len(one) == len(two) == FIT["epochs"]
        assert two == pytest.approx(one, rel=1e-5, abs=1e-6), key


def test_sizes_that_do_not_split_between_the_devices_still_train_and_predict(two_devices):
    assert two_devices["odd_epochs"] == FIT["epochs"]
    assert two_devices["odd_loss_finite"]
    assert two_devices["prediction_shape"] == [13, 3]
    assert two_devices["training_rows_per_epoch"] == 16  # 17 rows: the one that would not split is left out


if __name__ == "__main__":
    sys.stdout.write(json.dumps(_train_on_two_devices()) + "\n")
