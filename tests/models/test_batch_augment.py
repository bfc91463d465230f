"""DiffAugment in keras.ops: shapes and ranges, each transform against its definition, gradients, TF == JAX."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from image_classification.models.batch_augment import (
    adjust_color,
    cutout,
    diff_augment,
    draw_diff_augment_parameters,
    random_diff_augment,
    translate,
)

SIZE = 16


def _images(count: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, SIZE, SIZE, 3)).astype("float32")


def _fixed_parameters() -> dict[str, np.ndarray]:
    """Three images' worth of parameters, chosen rather than drawn (edges included: a shift past the border)."""
    return {
        "brightness": np.array([0.3, -0.2, 0.0], "float32").reshape(3, 1, 1, 1),
        "saturation": np.array([1.5, 0.2, 1.0], "float32").reshape(3, 1, 1, 1),
        "contrast": np.array([0.7, 1.4, 1.0], "float32").reshape(3, 1, 1, 1),
        "shift": np.array([[2, -1], [0, 0], [-2, 3]], "int32"),
        "cutout_offset": np.array([[0, 0], [8, 5], [16, 16]], "int32"),
    }


def test_random_parameters_have_the_documented_shapes_and_ranges() -> None:
    parameters = draw_diff_augment_parameters(64, SIZE, keras.random.SeedGenerator(0))
    assert {key: tuple(value.shape) for key, value in parameters.items()} == {
        "brightness": (64, 1, 1, 1), "saturation": (64, 1, 1, 1), "contrast": (64, 1, 1, 1), "shift": (64, 2),
        "cutout_offset": (64, 2),
    }  # fmt: skip
    values = {key: np.asarray(value) for key, value in parameters.items()}
    assert -0.5 <= values["brightness"].min() and values["brightness"].max() < 0.5
    assert 0 <= values["saturation"].min() and values["saturation"].max() < 2
    assert 0.5 <= values["contrast"].min() and values["contrast"].max() < 1.5
    assert values["shift"].min() == -2 and values["shift"].max() == 2  # 1/8 of 16 px, both ends reached in 128 draws
    assert values["cutout_offset"].min() >= 0 and values["cutout_offset"].max() <= SIZE
    assert set(draw_diff_augment_parameters(2, SIZE, 0, ("translation",))) == {"shift"}


def test_augmented_batches_keep_their_shape_and_differ_from_draw_to_draw() -> None:
    images, seed = _images(), keras.random.SeedGenerator(1)
    first, second = (np.asarray(random_diff_augment(images, seed)) for _ in range(2))
    assert first.shape == second.shape == images.shape
    assert not np.allclose(first, second)


def test_each_transform_matches_its_definition() -> None:
    images, p = _images(), _fixed_parameters()

    shifted = np.asarray(translate(images, p["shift"]))
    np.testing.assert_allclose(shifted[0, 2:, :-1], images[0, :-2, 1:])  # down 2 rows, left 1 column
    assert not shifted[0, :2].any() and not shifted[0, :, -1].any()  # zeros fill in
    np.testing.assert_array_equal(shifted[1], images[1])

    cut = np.asarray(cutout(images, p["cutout_offset"]))  # 8x8 squares centred at the offsets
    assert not cut[0, :4, :4].any() and np.array_equal(cut[0, 4:], images[0, 4:])  # overhangs the top-left corner
    assert not cut[1, 4:12, 1:9].any() and (cut[1] != 0).sum() == images[1].size - 8 * 8 * 3
    assert not cut[2, 12:, 12:].any() and (cut[2] != 0).sum() == images[2].size - 4 * 4 * 3

    coloured = np.asarray(adjust_color(images, p["brightness"], p["saturation"], p["contrast"]))
    expected = images + p["brightness"]
    expected = (expected - expected.mean(3, keepdims=True)) * p["saturation"] + expected.mean(3, keepdims=True)
    expected = (expected - expected.mean((1, 2, 3), keepdims=True)) * p["contrast"] + expected.mean(
        (1, 2, 3), keepdims=True
    )
    np.testing.assert_allclose(coloured, expected, atol=1e-5)
    np.testing.assert_allclose(coloured[2], images[2], atol=1e-6)  # neutral parameters: unchanged


def test_gradients_flow_through_the_augmentation() -> None:
    """What a generator needs: d(augmented)/d(images) is the transform's, zero only where cutout or a shift drops."""
    images = tf.Variable(_images())
    with tf.GradientTape(persistent=True) as tape:
        total = tf.reduce_sum(diff_augment(images, _fixed_parameters()) * np.linspace(-1, 1, SIZE)[:, None])
        moved = tf.reduce_sum(diff_augment(images, _fixed_parameters(), ("translation", "cutout")))
    gradient, moved_gradient = tape.gradient(total, images).numpy(), tape.gradient(moved, images).numpy()

    assert np.isfinite(gradient).all() and (np.abs(gradient).sum(axis=(1, 2, 3)) > 0).all()
    expected = np.ones_like(moved_gradient)  # each kept pixel lands once in the sum
    expected[1, 4:12, 1:9] = 0  # cut out
    expected[0, -2:], expected[0, :, 0] = 0, 0  # shifted out (down 2, left 1), before image 0's cutout
    expected[0, :2, 1:5] = 0  # image 0's cutout (rows 0-3, columns 0-3 of the output) traced back to its input
    expected[2, :, 13:], expected[2, :2] = 0, 0  # up 2, right 3
    expected[2, 14:, 9:13] = 0  # image 2's cutout (rows and columns 12-15 of the output)
    np.testing.assert_array_equal(moved_gradient, expected)


def test_unknown_transforms_and_missing_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        diff_augment(_images(), _fixed_parameters(), ("color", "rotation"))
    with pytest.raises(ValueError):
        diff_augment(_images(), {"shift": np.zeros((3, 2), "int32")}, ("translation", "cutout"))


JAX_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np, keras
    from image_classification.models.batch_augment import diff_augment

    inputs = np.load(sys.argv[1])
    parameters = {key: inputs[key] for key in inputs.files if key != "images"}
    np.save(sys.argv[2], np.asarray(diff_augment(inputs["images"], parameters)))
    print(keras.backend.backend())
    """
)


def test_tensorflow_and_jax_give_the_same_output_for_the_same_parameters(tmp_path: Path) -> None:
    if importlib.util.find_spec("jax") is None:
        pytest.skip('JAX is not installed: pip install "jax[cpu]" to compare the backends.')
    images, parameters = _images(), _fixed_parameters()
    np.savez(tmp_path / "inputs.npz", images=images, **parameters)
    source = Path(__file__).resolve().parents[2] / "src"
    env = {
        **os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")])),
    }  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT, str(tmp_path / "inputs.npz"), str(tmp_path / "jax.npy")],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "jax"

    on_jax = np.load(tmp_path / "jax.npy")
    on_tensorflow = np.asarray(diff_augment(images, parameters))
    assert keras.backend.backend() == "tensorflow"
    np.testing.assert_allclose(on_jax, on_tensorflow, atol=1e-5)
    assert not np.allclose(on_tensorflow, images)  # the comparison is of a real transform
