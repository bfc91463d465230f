"""``training.mixed_precision``: on CPU, models are built with ``mixed_bfloat16`` (float16 is for GPUs)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from image_classification.models.heads import build_head
from image_classification.pipelines.scratch.nodes import train_scratch_model
from image_classification.training import compile_model
from image_classification.training.precision import mixed_precision, mixed_precision_policy
from image_classification.training.settings import TrainingSettings
from tests.pipelines.paintings import SHARED_TRAINING, painting_splits

TRAINING = {**SHARED_TRAINING, "epochs": 1, "batch_size": 8, "class_weight": None, "mixed_precision": True}


@pytest.fixture(scope="module")
def trained():
    """basenet trained one epoch by the scratch node with mixed precision, on tiny real paintings."""
    train, val, class_names = painting_splits()
    policy_before = keras.config.dtype_policy().name
    model, history, _ = train_scratch_model(
        train, val, class_names, {"architecture": "basenet"}, [TRAINING, {}, None], {"flip": None}, "basenet"
    )
    return model, history, val, policy_before


def test_on_cpu_the_policy_is_mixed_bfloat16_and_is_restored_after_the_block():
    assert mixed_precision_policy() == "mixed_bfloat16"
    with mixed_precision(False) as policy:
        assert policy == "float32"
    with pytest.raises(RuntimeError), mixed_precision(True) as policy:
        assert policy == keras.config.dtype_policy().name == "mixed_bfloat16"
        raise RuntimeError("building failed")
    assert keras.config.dtype_policy().name == "float32"


def test_the_model_computes_in_bfloat16_with_float32_variables_and_output(trained):
    model, history, val, policy_before = trained
    assert policy_before == keras.config.dtype_policy().name == "float32"  # the node left the global policy alone
    for name in ("conv1", "conv2", "fc1"):
        layer = model.get_layer(name)
        assert layer.compute_dtype == "bfloat16", name
        assert {weight.dtype for weight in layer.weights} == {"float32"}, name
    predictions = model.get_layer("predictions")
    assert predictions.compute_dtype == "float32"
    assert np.isfinite(history["loss"][0]) and np.isfinite(history["val_loss"][0])
    probabilities = model.predict(val["images"].astype(np.float32), verbose=0)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # bfloat16 needs no loss scaling: the optimizer is the configured one
    assert not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


def test_a_mixed_precision_model_saves_and_loads_with_its_precision(trained, tmp_path):
    model, _, val, _ = trained
    path = tmp_path / "basenet.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_layer("conv1").compute_dtype == "bfloat16"
    assert loaded.get_layer("predictions").compute_dtype == "float32"
    images = val["images"].astype(np.float32)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)


def test_float16_layers_get_loss_scaling_even_in_a_head_built_outside_the_policy():
    """Keras wraps the optimizer itself only when the model object was built under mixed_float16."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")  # what mixed_precision picks on a GPU
    try:
        head = build_head(8, 3, {"dense_units": [4], "dropout": 0.0})
    finally:
        keras.config.set_dtype_policy(previous)
    features = keras.Input((8,))
    outside = keras.Model(features, head(features))  # built later under float32, like transfer's head_model
    assert outside.dtype_policy.name == "float32"
    compile_model(outside, TrainingSettings(mixed_precision=True))
    assert isinstance(outside.optimizer, keras.optimizers.LossScaleOptimizer)
    assert head.layers[-1].compute_dtype == "float32"  # the head's softmax stays float32


def test_float32_models_keep_a_plain_optimizer():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    compile_model(model, TrainingSettings())
    assert isinstance(model.optimizer, keras.optimizers.Adam)
