"""Tests for multi-device training: the configured strategy wraps building and fitting (which compiles)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from image_classification.training import fit_model
from image_classification.training.distribution import check_strategy, distribute

TINY_FIT = {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "verbose": 0, "seed": 0}


def _tiny_data(count: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.arange(count) % 2
    images = (rng.uniform(0, 60, (count, 8, 8, 3)) + labels[:, None, None, None] * 150).astype(np.uint8)
    return {"images": images, "labels": labels}


def _tiny_model() -> keras.Model:
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs)))
    return keras.Model(inputs, outputs)


def test_an_unknown_strategy_names_the_setting_and_the_allowed_values():
    with pytest.raises(ValueError, match=r"distribution\.strategy\b.*'mirrored'.*\bnull\b.*\bdata_parallel\b"):
        check_strategy({"strategy": "mirrored"})


def test_no_strategy_leaves_the_single_device_path_unchanged():
    with distribute({"strategy": None}):
        _, history, _ = fit_model(_tiny_model(), _tiny_data(), _tiny_data(), TINY_FIT)
    assert len(history["loss"]) == 1


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="runs on the TensorFlow backend")
def test_data_parallel_on_tensorflow_builds_and_fits_inside_a_mirrored_strategy():
    import tensorflow as tf

    with distribute({"strategy": "data_parallel"}):
        assert isinstance(tf.distribute.get_strategy(), tf.distribute.MirroredStrategy)
        _, history, _ = fit_model(_tiny_model(), _tiny_data(), _tiny_data(), TINY_FIT)
    assert len(history["loss"]) == 1
    assert not tf.distribute.has_strategy()  # left after the block


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (pip install 'jax[cpu]')")
def test_data_parallel_on_jax_sets_and_restores_a_keras_distribution():
    script = textwrap.dedent(
        """
        import keras, numpy as np
        from image_classification.training import fit_model
        from image_classification.training.distribution import distribute
        from tests.test_distribution import _tiny_data, _tiny_model, TINY_FIT
        assert keras.backend.backend() == "jax"
        with distribute({"strategy": "data_parallel"}):
            assert isinstance(keras.distribution.distribution(), keras.distribution.DataParallel)
            model, history, _ = fit_model(_tiny_model(), _tiny_data(), _tiny_data(), TINY_FIT)
            assert model.compiled  # compiled by fit_model inside the distribution
        assert keras.distribution.distribution() is None
        print("fitted", len(history["loss"]))
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": os.pathsep.join([os.path.join(root, "src"), root])}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fitted 1" in result.stdout
