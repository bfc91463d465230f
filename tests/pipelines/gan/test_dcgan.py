"""The DCGAN: shapes and range of the generator, settings, training steps on TensorFlow and on JAX, and the moving
average of the generator's weights."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from image_classification.models.dcgan import (
    GanSettings,
    build_discriminator,
    build_generator,
    compiled_dcgan,
)
from image_classification.models.gan_steps import ema_update
from image_classification.pipelines.gan.images import to_unit_range
from image_classification.pipelines.gan.nodes import gan_settings
from tests.pipelines.paintings import painting_splits

TINY = GanSettings(image_size=16, latent_size=8, base_filters=4, batch_size=4, seed=0)


def _weights(model: keras.Model) -> list[np.ndarray]:
    return [np.array(weight) for weight in model.weights]


@pytest.mark.parametrize("upsampling", ["resize", "transposed"])
def test_generator_makes_images_of_the_configured_size_in_the_tanh_range(upsampling: str) -> None:
    generator = build_generator(image_size=32, latent_size=8, base_filters=4, upsampling=upsampling)
    output_layer = generator.layers[-1]
    kernel, bias = output_layer.get_weights()
    output_layer.set_weights([kernel * 1e4, bias])  # drives the output layer into saturation
    noise = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
    images = np.asarray(generator(noise, training=True))  # batch statistics: unit-scale hidden activations

    assert images.shape == (5, 32, 32, 3)
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert np.abs(images).max() > 0.9  # the range is reached, not just respected by near-zero outputs


def test_resize_then_convolve_has_no_transposed_convolutions() -> None:
    kinds = {type(layer).__name__ for layer in build_generator(32, 8, 4, "resize").layers}
    assert {"UpSampling2D", "Conv2D"} <= kinds and "Conv2DTranspose" not in kinds
    with pytest.raises(ValueError):
        build_generator(32, 8, 4, "bilinear")


def test_discriminator_gives_one_logit_per_image() -> None:
    discriminator = build_discriminator(image_size=32, base_filters=4)
    assert np.asarray(discriminator(np.zeros((3, 32, 32, 3), "float32"))).shape == (3, 1)


def test_settings_name_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValueError, match=r"gan\.epoch = 3\b.*'epochs'"):
        gan_settings({"epoch": 3})
    with pytest.raises(ValueError, match=r"gan\.image_size = 48\b"):
        gan_settings({"image_size": 48})
    for bad in ({"diff_augment": "color,rotation"}, {"upsampling": "bilinear"}, {"ema_decay": 1.0},
                {"eval_samples": 8, "copy_check_samples": 16}, {"kid_bootstrap": 10}):  # fmt: skip
        with pytest.raises(ValueError):
            gan_settings(bad)
    assert gan_settings({"diff_augment": None}).augment_policy == ()
    assert gan_settings({"diff_augment": "Color, cutout"}).augment_policy == ("color", "cutout")
    assert gan_settings(None) == GanSettings()


def test_training_steps_change_both_networks_and_step_both_optimizers() -> None:
    """TensorFlow (the suite's backend): fit's custom train_step updates generator and discriminator."""
    keras.utils.set_random_seed(0)
    gan = compiled_dcgan(TINY)
    generator_before, discriminator_before = _weights(gan.generator), _weights(gan.discriminator)
    train, _, _ = painting_splits()
    real = to_unit_range(train["images"][:8, ::2, ::2])  # 8 paintings at 16 px: 2 steps of 4

    history = gan.fit(real, batch_size=4, epochs=1, verbose=0).history

    assert set(history) == {"generator_loss", "discriminator_loss"}
    assert all(np.isfinite(values[0]) for values in history.values())
    changed = lambda before, model: [not np.allclose(a, b) for a, b in zip(before, _weights(model))]  # noqa: E731
    assert all(changed(generator_before, gan.generator))  # every weight and BatchNorm statistic moved
    assert all(changed(discriminator_before, gan.discriminator))
    assert int(np.asarray(gan.optimizer.iterations)) == 2
    assert int(np.asarray(gan.discriminator_optimizer.iterations)) == 2


def test_ema_update_is_the_weighted_average() -> None:
    averages = [keras.ops.convert_to_tensor([1.0, 2.0]), keras.ops.convert_to_tensor(4.0)]
    updated = ema_update(averages, [np.array([3.0, 2.0]), np.array(0.0)], decay=0.75)
    np.testing.assert_allclose(np.asarray(updated[0]), [1.5, 2.0])
    np.testing.assert_allclose(np.asarray(updated[1]), 3.0)


def test_the_moving_average_generator_follows_each_generator_step() -> None:
    """TensorFlow: after each step, every EMA weight (BatchNorm statistics too) is d * before + (1 - d) * trained."""
    keras.utils.set_random_seed(0)
    gan = compiled_dcgan(TINY.model_copy(update={"ema_decay": 0.5}))
    train, _, _ = painting_splits()
    real = to_unit_range(train["images"][:8, ::2, ::2])
    assert not gan.ema_generator.trainable_weights and len(gan.ema_generator.weights) == len(gan.generator.weights)
    average = _weights(gan.generator)  # the copy starts at the generator's initial weights
    np.testing.assert_array_equal(np.concatenate([w.ravel() for w in _weights(gan.ema_generator)]),
                                  np.concatenate([w.ravel() for w in average]))  # fmt: skip
    for batch in (real[:4], real[4:]):  # one step each
        gan.fit(batch, batch_size=4, epochs=1, verbose=0)
        average = [0.5 * a + 0.5 * w for a, w in zip(average, _weights(gan.generator))]
        for expected, actual in zip(average, _weights(gan.ema_generator)):
            np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(_weights(gan.ema_generator)[0], _weights(gan.generator)[0])  # it lags behind
    noise = np.zeros((2, TINY.latent_size), "float32")
    np.testing.assert_allclose(np.asarray(gan(noise)), np.asarray(gan.ema_generator(noise)))  # calling samples it


JAX_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, keras
    from image_classification.models.dcgan import GanSettings, compiled_dcgan

    gan = compiled_dcgan(GanSettings(image_size=16, latent_size=8, base_filters=4, seed=0, ema_decay=0.5))
    weights = lambda model: [np.array(weight) for weight in model.weights]
    generator_before, discriminator_before = weights(gan.generator), weights(gan.discriminator)
    adam = [v for v in gan.discriminator_optimizer.variables if "learning_rate" not in v.path]  # step, moments
    adam_before = [np.array(variable) for variable in adam]
    real = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 3)).astype("float32")
    average, ema_errors = generator_before, []
    for batch in (real[:4], real[4:]):  # one step each: the moving average after every step
        history = gan.fit(batch, batch_size=4, epochs=1, verbose=0).history
        average = [0.5 * a + 0.5 * w for a, w in zip(average, weights(gan.generator))]
        ema_errors += [float(np.abs(a - e).max()) for a, e in zip(average, weights(gan.ema_generator))]
    changed = lambda before, after: [bool(not np.allclose(a, b)) for a, b in zip(before, after)]
    print(json.dumps({
        "backend": keras.backend.backend(),
        "tensorflow_imported": "tensorflow" in sys.modules,
        "losses": {name: values[0] for name, values in history.items()},
        "generator_changed": changed(generator_before, weights(gan.generator)),
        "discriminator_changed": changed(discriminator_before, weights(gan.discriminator)),
        # Exact comparison: the second moments of near-zero gradients (biases before BatchNorm) are ~1e-20.
        "discriminator_adam_changed": [
            bool(not np.array_equal(a, np.array(b))) for a, b in zip(adam_before, adam)
        ],
        "iterations": [int(np.array(o.iterations)) for o in (gan.optimizer, gan.discriminator_optimizer)],
        "ema_error": max(ema_errors),
        "ema_lags": bool(not np.allclose(weights(gan.ema_generator)[0], weights(gan.generator)[0])),
    }))
    """
)


def test_training_steps_change_both_networks_on_jax() -> None:
    """JAX's stateless train_step (DiffAugment and the moving average included), in its own process (Keras fixes
    the backend at import)."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip('JAX is not installed: pip install "jax[cpu]" to check the DCGAN under JAX.')
    source = Path(__file__).resolve().parents[3] / "src"
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["backend"] == "jax"
    assert not report["tensorflow_imported"]  # the JAX step needs no TensorFlow (keras.utils.set_random_seed would)
    assert all(np.isfinite(value) for value in report["losses"].values())
    assert all(report["generator_changed"]) and all(report["discriminator_changed"])
    assert all(report["discriminator_adam_changed"])  # its state went through fit's state and back
    assert report["iterations"] == [2, 2]
    assert report["ema_error"] < 1e-5 and report["ema_lags"]  # the moving average went through fit's state too
