"""Layer-wise learning rates: the block multipliers of a transfer model and the optimizers that apply them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from image_classification.models.layer_decay import (
    backbone_block_indices,
    block_learning_rate_multipliers,
)
from image_classification.models.transfer import build_transfer_model
from image_classification.training import TrainingSettings, compile_model, fit_model
from image_classification.training.layerwise import (
    LayerwiseAdam,
    check_multipliers,
    layerwise_optimizer,
)

SOURCE = Path(__file__).resolve().parents[2] / "src"
DECAY = 0.5
# MobileNetV2's block starts: block_1_expand .. block_16_expand and Conv_1.
MOBILENET_V2_BLOCKS = 17
OPTIMIZER_NAMES = ("adam", "adamw", "sgd", "rmsprop")


@pytest.fixture(scope="module")
def transfer_model() -> keras.Model:
    return build_transfer_model("mobilenet_v2", (32, 32, 3), 3, None)  # 32 px: MobileNetV2's smallest input


def test_multipliers_decrease_with_depth_and_the_head_gets_the_full_rate(transfer_model: keras.Model) -> None:
    multipliers = block_learning_rate_multipliers(transfer_model, DECAY)
    backbone = transfer_model.get_layer("backbone")
    by_layer = [
        (layer.name, multipliers[layer.weights[0].path]) for layer in backbone.layers if layer.weights
    ]
    rates = [rate for _, rate in by_layer]
    assert rates == sorted(rates), "a deeper (earlier) layer learns faster than a later one"
    rate_of = dict(by_layer)
    assert rate_of["Conv_1"] == rate_of["Conv_1_bn"] == DECAY  # the top block (k = 0)
    assert rate_of["block_16_expand"] == rate_of["block_16_project"] == DECAY**2
    assert rate_of["block_1_expand"] == DECAY**MOBILENET_V2_BLOCKS
    assert rate_of["Conv1"] == rate_of["expanded_conv_project"] == DECAY ** (MOBILENET_V2_BLOCKS + 1)  # the stem
    head = transfer_model.get_layer("head")
    assert [multipliers[variable.path] for variable in head.weights] == [1.0] * len(head.weights)
    assert {variable.path for variable in transfer_model.weights} == set(multipliers)
    assert len(set(multipliers.values())) == MOBILENET_V2_BLOCKS + 2  # every block, the stem and the head


def test_decay_of_one_gives_every_variable_the_full_rate(transfer_model: keras.Model) -> None:
    assert set(block_learning_rate_multipliers(transfer_model, 1.0).values()) == {1.0}


@pytest.mark.parametrize("decay", [0, -0.5, 1.5, float("nan"), True, "0.5"])
def test_decay_outside_zero_to_one_is_refused(transfer_model: keras.Model, decay: object) -> None:
    with pytest.raises(ValueError):
        block_learning_rate_multipliers(transfer_model, decay)


def test_models_without_the_transfer_layout_or_a_known_backbone_are_refused(transfer_model: keras.Model) -> None:
    inputs = keras.Input((3,))
    with pytest.raises(ValueError):
        block_learning_rate_multipliers(keras.Model(inputs, keras.layers.Dense(2)(inputs)), DECAY)
    with pytest.raises(ValueError):
        block_learning_rate_multipliers(transfer_model, DECAY, backbone_name="no_such_backbone")


def test_block_indices_start_blocks_at_their_first_layer_or_after_their_last() -> None:
    names = ["stem", "block_1_expand", "block_1_project", "block_2_expand", "Conv_1", "out_relu"]
    assert backbone_block_indices("mobilenet_v2", names) == [0, 1, 1, 2, 3, 3]
    # inception_v3's pattern names a block's last layer: the next layer starts a block.
    names = ["conv2d", "mixed0", "conv2d_1", "mixed1", "conv2d_2", "mixed2"]
    assert backbone_block_indices("inception_v3", names) == [0, 0, 1, 1, 2, 2]


def _dense_step(optimizer: keras.optimizers.Optimizer) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The weights of a tiny Dense model before and after one step of ``optimizer`` (same start every call)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))
    # Eager: tracing a graph for each of these one-step models costs more than the step (fit runs traced below).
    model.compile(optimizer=optimizer, loss="mse", run_eagerly=True)
    before = [np.array(variable.numpy()) for variable in model.weights]
    images = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    model.train_on_batch(images, np.eye(2, dtype=np.float32)[[0, 1, 0, 1]])
    return before, [np.array(variable.numpy()) for variable in model.weights]


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_multiplier_zero_freezes_a_variable_and_one_moves_it_like_the_plain_optimizer(name: str) -> None:
    plain_before, plain_after = _dense_step(keras.optimizers.get({"class_name": name, "config": {"learning_rate": 0.1}}))
    before, after = _dense_step(layerwise_optimizer(name, {"dense/kernel": 0.0, "dense/bias": 1.0}, learning_rate=0.1))
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(before[1], plain_before[1])
    np.testing.assert_allclose(after[1], plain_after[1], rtol=1e-6)
    assert np.abs(after[1] - before[1]).max() > 1e-3  # the bias did move


def test_sgd_moves_a_variable_by_its_multiplier_times_the_plain_step() -> None:
    before, plain = _dense_step(keras.optimizers.SGD(learning_rate=0.1))
    _, scaled = _dense_step(layerwise_optimizer("sgd", {"dense/kernel": 0.25}, learning_rate=0.1))
    np.testing.assert_allclose(scaled[0] - before[0], 0.25 * (plain[0] - before[0]), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(scaled[1], plain[1], rtol=1e-6)  # no entry: the full rate


def test_adamw_with_a_multiplier_steps_like_adamw_at_the_scaled_rate() -> None:
    """Both AdamW's step and its decoupled weight decay are proportional to the rate, so both are scaled."""
    _, half_rate = _dense_step(keras.optimizers.AdamW(learning_rate=0.05, weight_decay=0.5))
    _, full_rate = _dense_step(keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.5))
    _, scaled = _dense_step(layerwise_optimizer("adamw", {"dense/kernel": 0.5}, learning_rate=0.1, weight_decay=0.5))
    np.testing.assert_allclose(scaled[0], half_rate[0], rtol=1e-6)
    np.testing.assert_allclose(scaled[1], full_rate[1], rtol=1e-6)


def test_bad_multipliers_and_optimizer_names_are_refused() -> None:
    for multipliers in ({"dense/kernel": -1.0}, {"dense/kernel": float("inf")}, {3: 1.0}):
        with pytest.raises(ValueError):
            check_multipliers(multipliers)
    with pytest.raises(ValueError):
        layerwise_optimizer("lamb", {})


def _dense_classifier() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="out")(hidden))


def test_compile_without_multipliers_keeps_the_plain_optimizer() -> None:
    model = compile_model(_dense_classifier(), TrainingSettings())
    assert type(model.optimizer) is keras.optimizers.Adam


def test_a_compiled_model_saves_and_loads_with_its_multipliers(tmp_path: Path) -> None:
    multipliers = {"hidden/kernel": 0.0, "hidden/bias": 0.0, "out/kernel": 0.5}
    model = compile_model(_dense_classifier(), TrainingSettings(), learning_rate_multipliers=multipliers)
    features = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    labels = np.eye(2, dtype=np.float32)[np.arange(8) % 2]
    model.train_on_batch(features, labels)
    model.save(tmp_path / "model.keras")

    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer) is LayerwiseAdam
    assert loaded.optimizer.learning_rate_multipliers == multipliers
    assert int(loaded.optimizer.iterations.numpy()) == 1  # its state came back too
    hidden = np.array(loaded.get_layer("hidden").kernel.numpy())
    loaded.train_on_batch(features, labels)
    np.testing.assert_array_equal(loaded.get_layer("hidden").kernel.numpy(), hidden)  # still frozen by its 0


def test_fit_model_applies_the_multipliers() -> None:
    model = _dense_classifier()
    hidden = np.array(model.get_layer("hidden").kernel.numpy())
    out = np.array(model.get_layer("out").kernel.numpy())
    rng = np.random.default_rng(0)
    split = {"images": rng.normal(size=(16, 4)).astype(np.float32), "labels": np.arange(16) % 2}
    settings = {"epochs": 1, "batch_size": 8, "verbose": 0, "reduce_lr_patience": None}
    fit_model(model, split, split, settings, learning_rate_multipliers={"hidden/kernel": 0.0})
    np.testing.assert_array_equal(model.get_layer("hidden").kernel.numpy(), hidden)
    assert not np.allclose(model.get_layer("out").kernel.numpy(), out)


JAX_SCRIPT = """
import json, keras, numpy as np
from image_classification.training.layerwise import layerwise_optimizer
assert keras.backend.backend() == "jax", keras.backend.backend()

def step(optimizer):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))
    model.compile(optimizer=optimizer, loss="mse")
    model.set_weights([np.array(w, np.float32) for w in WEIGHTS])  # the same start as on TensorFlow (the backends' generators differ)
    images = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    model.train_on_batch(images, np.eye(2, dtype=np.float32)[[0, 1, 0, 1]])
    return [np.asarray(v.numpy()).tolist() for v in model.weights]

plain = step(keras.optimizers.Adam(learning_rate=0.1))
layerwise = step(layerwise_optimizer("adam", {"dense/kernel": 0.0, "dense/bias": 1.0}, learning_rate=0.1))
print(json.dumps({"plain": plain, "layerwise": layerwise}))
"""


def test_jax_backend_applies_the_same_multipliers() -> None:
    pytest.importorskip("jax")
    before, plain_tf = _dense_step(keras.optimizers.Adam(learning_rate=0.1))
    script = JAX_SCRIPT.replace("WEIGHTS", repr([weights.tolist() for weights in before]))
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(SOURCE), "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    steps = json.loads(result.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(steps["plain"][0], plain_tf[0], rtol=1e-5)
    np.testing.assert_array_equal(steps["layerwise"][0], before[0])  # kernel: multiplier 0
    np.testing.assert_allclose(steps["layerwise"][1], plain_tf[1], rtol=1e-5)  # bias: multiplier 1
