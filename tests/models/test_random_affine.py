"""RandomAffine: one bilinear resampling for flip, rotation, zoom, translation and shear."""

from __future__ import annotations

import contextlib
import math
import warnings

import keras
import numpy as np
import pytest

from image_classification.models.random_affine import (
    RandomAffine,
    backend_resample,
    resample,
    sample_bilinear,
)

SIZE = 24
EVERY_SETTING = {"flip": "horizontal_and_vertical", "rotation": 0.1, "zoom": 0.1, "translation": 0.1, "shear": 0.1}


def _images(batch: int = 4, size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype("float32")


def _grid(batch: int, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    rows, columns = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    source_x = np.tile(columns.reshape(1, -1), (batch, 1)).astype("float32")
    source_y = np.tile(rows.reshape(1, -1), (batch, 1)).astype("float32")
    return source_x, source_y


@contextlib.contextmanager
def _no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _numpy(tensor) -> np.ndarray:
    return keras.ops.convert_to_numpy(tensor)


def test_sampling_at_the_pixel_centres_returns_the_images() -> None:
    images = _images()
    np.testing.assert_allclose(_numpy(sample_bilinear(images, *_grid(len(images)))), images, atol=1e-4)


def test_sampling_matches_keras_affine_transform_with_reflected_edges() -> None:
    """The same rotation + shift through Keras's own ``ops.image.affine_transform`` (bilinear, reflect)."""
    images = _images(batch=2)
    angle, shift_x, shift_y = 0.4, 3.5, -6.25
    cos, sin = math.cos(angle), math.sin(angle)
    # Keras maps output (x, y) to input (a0 x + a1 y + a2, b0 x + b1 y + b2).
    transform = np.array([[cos, -sin, shift_x, sin, cos, shift_y, 0, 0]] * 2, "float32")
    expected = _numpy(keras.ops.image.affine_transform(images, transform, fill_mode="reflect"))
    source_x, source_y = _grid(2)
    mapped_x = cos * source_x - sin * source_y + shift_x
    mapped_y = sin * source_x + cos * source_y + shift_y
    np.testing.assert_allclose(_numpy(sample_bilinear(images, mapped_x, mapped_y)), expected, atol=1e-2)


def test_the_layer_resamples_with_its_drawn_transforms_as_keras_affine_transform_does() -> None:
    """The layer's output is ``resample`` at the transforms the same seed draws, and those transforms mean what they
    mean to Keras's own ``affine_transform`` (inverse mapping, bilinear, reflected edges)."""
    images = _images(batch=6)
    transforms = _numpy(RandomAffine(**EVERY_SETTING, seed=11).random_transforms(6, SIZE, SIZE))
    assert transforms.shape == (6, 8) and not transforms[:, 6:].any()
    output = _numpy(RandomAffine(**EVERY_SETTING, seed=11)(images, training=True))
    np.testing.assert_allclose(output, _numpy(resample(images, transforms)), atol=2e-2)
    expected = _numpy(keras.ops.image.affine_transform(images, transforms, fill_mode="reflect"))
    np.testing.assert_allclose(output, expected, atol=1e-2)


def test_backend_fast_path_matches_the_op_by_op_gathers() -> None:
    """On TensorFlow the resampling runs compiled by XLA on its own; it must give what the plain ops give for the same
    draws (JAX already compiles the plain ops with the model, so it has no separate path)."""
    images = _images(batch=5, size=SIZE + 8)  # not square: rows and columns must not swap
    images = images[:, :SIZE]
    transforms = RandomAffine(**EVERY_SETTING, seed=12).random_transforms(5, SIZE, SIZE + 8)
    fast = backend_resample()
    if keras.backend.backend() == "tensorflow":
        assert fast is not resample
        compiled = fast.experimental_get_compiler_ir(images, transforms)(stage="hlo")  # only XLA functions have one
        assert "gather" in compiled
    else:
        assert fast is resample
    np.testing.assert_allclose(_numpy(fast(images, transforms)), _numpy(resample(images, transforms)), atol=2e-2)


def test_horizontal_flip_alone_mirrors_some_images_exactly_and_keeps_the_rest() -> None:
    images = _images(batch=16)
    flipped = _numpy(RandomAffine(flip="horizontal", seed=1)(images, training=True))
    mirrored = [np.allclose(out, image[:, ::-1], atol=1e-3) for out, image in zip(flipped, images, strict=True)]
    unchanged = [np.allclose(out, image, atol=1e-3) for out, image in zip(flipped, images, strict=True)]
    assert all(m or u for m, u in zip(mirrored, unchanged, strict=True))
    assert 0 < sum(mirrored) < len(images)


def test_rotation_alone_keeps_distances_from_the_centre_within_its_range() -> None:
    layer = RandomAffine(rotation=0.05, seed=2)
    source_x, source_y = (_numpy(value) for value in layer.source_coordinates(64, SIZE, SIZE))
    output_x, output_y = _grid(64)
    centre = (SIZE - 1) / 2
    radius_out = np.hypot(output_x - centre, output_y - centre)
    np.testing.assert_allclose(np.hypot(source_x - centre, source_y - centre), radius_out, atol=1e-3)
    corner = SIZE * SIZE - 1  # the bottom-right pixel: its angle turns by the drawn rotation
    turned = np.arctan2(source_y[:, corner] - centre, source_x[:, corner] - centre) - math.pi / 4
    assert np.abs(turned).max() <= 0.05 * 2 * math.pi + 1e-4
    assert np.abs(turned).max() > 0.05 * math.pi  # the draws spread over the range, not just near 0


@pytest.mark.parametrize(("setting", "low", "high"), [("zoom", 0.8, 1.2), ("translation", -0.2, 0.2)])
def test_zoom_and_translation_stay_within_their_factor(setting: str, low: float, high: float) -> None:
    layer = RandomAffine(**{setting: 0.2}, seed=3)
    source_x, source_y = (_numpy(value) for value in layer.source_coordinates(64, SIZE, SIZE))
    output_x, output_y = _grid(64)
    centre = (SIZE - 1) / 2
    if setting == "zoom":  # the same scale on both axes, about the centre
        scale = (source_x[:, -1] - centre) / (output_x[:, -1] - centre)
        np.testing.assert_allclose((source_y[:, -1] - centre) / (output_y[:, -1] - centre), scale, rtol=1e-5)
    else:  # one shift per image and axis, in pixels
        scale = np.concatenate([(source_x - output_x).ravel(), (source_y - output_y).ravel()]) / SIZE
    assert low - 1e-4 <= scale.min() < low + 0.1 and high - 0.1 < scale.max() <= high + 1e-4


def test_inactive_outside_training_and_reproducible_with_a_seed() -> None:
    images = _images()
    settings = EVERY_SETTING
    np.testing.assert_array_equal(_numpy(RandomAffine(**settings)(images, training=False)), images)
    first = _numpy(RandomAffine(**settings, seed=5)(images, training=True))
    second = _numpy(RandomAffine(**settings, seed=5)(images, training=True))
    np.testing.assert_allclose(first, second, atol=1e-4)
    assert not np.allclose(first, images)
    assert first.min() >= -1e-3 and first.max() <= 255 + 1e-3  # bilinear blends never leave the pixel range


@pytest.mark.parametrize(
    ("augmentation", "compiles"),
    [(lambda: RandomAffine(rotation=0.1, zoom=0.1), True), (lambda: keras.layers.RandomRotation(0.1), False)],
)
def test_a_model_with_it_can_be_jit_compiled(augmentation, compiles: bool) -> None:
    """Keras's RandomRotation/Zoom/Translation/Shear turn jit off for the whole model (on JAX it then trains
    un-compiled); RandomAffine does not."""
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(augmentation()(inputs))))
    with pytest.warns(UserWarning, match="doesn't support") if not compiles else _no_warning():
        model.compile(loss="mse", jit_compile=True)
    assert model.jit_compile is compiles


@pytest.mark.parametrize("jit_compile", [False, True])
def test_trains_in_a_model_with_and_without_jit(jit_compile: bool) -> None:
    """Inside ``fit`` the batch size is unknown while tracing and the last batch is smaller (TensorFlow's compiled
    resampling then runs nested in the model's graph, XLA-compiled or not)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(RandomAffine(**EVERY_SETTING, seed=13)(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
    history = model.fit(_images(batch=6), np.zeros((6, 2), "float32"), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    ("settings", "named"),
    [({"flip": "diagonal"}, r"\bflip\b.*'diagonal'"), ({"zoom": 1.0}, r"\bzoom\b.*\b1\.0\b")],
)
def test_bad_settings_name_the_setting_and_the_value(settings: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        RandomAffine(**settings)


def test_survives_save_and_load(tmp_path) -> None:
    inputs = keras.Input((SIZE, SIZE, 3))
    layer = RandomAffine(flip="vertical", rotation=0.1, zoom=0.05, translation=0.1, shear=0.2, seed=9)
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "affine.keras")
    loaded = keras.saving.load_model(tmp_path / "affine.keras").get_layer(layer.name)
    assert loaded.get_config() == layer.get_config()
