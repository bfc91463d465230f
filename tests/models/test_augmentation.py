"""Augmentation layers from settings, and the preview figure."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

from image_classification.models.augmentation import (
    AUGMENTATION_KEYS,
    build_augmentation,
    preview_augmentations,
)

FULL = {
    "flip": "horizontal",
    "rotation": 0.1,
    "zoom": 0.1,
    "translation": 0.1,
    "contrast": 0.1,
    "shear": 0.1,
}


def _stripes(size: int = 32) -> np.ndarray:
    image = np.full((size, size, 3), 30, np.uint8)
    image[::4] = 220
    image[:, : size // 4] = (200, 40, 40)  # a red band, so flips show
    return image


def _batch(size: int = 32) -> np.ndarray:
    return np.stack([_stripes(size)] * 4).astype(np.float32)


def test_spatial_settings_fold_into_one_affine_layer_after_contrast() -> None:
    augmentation = build_augmentation(FULL, seed=3)
    assert augmentation.name == "augmentation"
    assert [type(layer).__name__ for layer in augmentation.layers] == ["CompiledRandomContrast", "RandomAffine"]
    affine = augmentation.get_layer("random_affine")
    assert (affine.flip, affine.rotation, affine.zoom, affine.translation, affine.shear) == (
        "horizontal", 0.1, 0.1, 0.1, 0.1
    )
    assert augmentation.get_layer("random_contrast").seed == 3 and affine.seed == 4
    assert augmentation.get_layer("random_contrast").value_range == (0, 255)


def test_contrast_alone_needs_no_affine_layer() -> None:
    assert [type(layer).__name__ for layer in build_augmentation({"contrast": 0.2}).layers] == ["CompiledRandomContrast"]


def test_compiled_contrast_gives_what_keras_random_contrast_gives() -> None:
    """Same seed, same draws, same arithmetic: on TensorFlow ours runs XLA-compiled, Keras's op by op."""
    batch = np.random.default_rng(0).uniform(0, 255, (6, 20, 28, 3)).astype(np.float32)
    ours = build_augmentation({"contrast": 0.4}, seed=5).get_layer("random_contrast")
    keras_layer = keras.layers.RandomContrast(0.4, value_range=(0, 255), seed=5)
    expected = keras.ops.convert_to_numpy(keras_layer(batch, training=True))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(batch, training=True)), expected, atol=1e-3)
    assert not np.allclose(expected, batch, atol=1)
    assert expected.max() == 255 and expected.min() == 0  # the clip applies


def test_layers_change_images_only_while_training_and_keep_pixel_range() -> None:
    augmentation = build_augmentation(FULL, seed=0)
    batch = _batch()
    augmented = keras.ops.convert_to_numpy(augmentation(batch, training=True))
    assert augmented.shape == batch.shape
    assert not np.allclose(augmented, batch)
    assert augmented.min() >= -1e-3 and augmented.max() <= 255 + 1e-3  # works on 0..255, not 0..1
    assert augmented.max() > 100  # not squashed to 0..1
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(augmentation(batch, training=False)), batch
    )


def test_same_seed_gives_same_augmentation() -> None:
    first = keras.ops.convert_to_numpy(build_augmentation(FULL, seed=7)(_batch(), training=True))
    second = keras.ops.convert_to_numpy(build_augmentation(FULL, seed=7)(_batch(), training=True))
    np.testing.assert_allclose(first, second, atol=1e-4)


@pytest.mark.parametrize(
    "config", [None, {}, {"flip": False, "rotation": 0, "zoom": None, "contrast": 0.0}]
)
def test_nothing_switched_on_is_identity(config: dict | None) -> None:
    augmentation = build_augmentation(config)
    assert [type(layer).__name__ for layer in augmentation.layers] == ["Identity"]
    batch = _batch(8)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(augmentation(batch, training=True)), batch
    )


def test_flip_true_means_horizontal() -> None:
    assert build_augmentation({"flip": True}).get_layer("random_affine").flip == "horizontal"


def test_unknown_setting_lists_allowed_keys() -> None:
    with pytest.raises(ValueError, match=r"\['brightness'\].*preprocess\.augmentation\b") as error:
        build_augmentation({"rotation": 0.1, "brightness": 0.2})
    assert all(key in str(error.value) for key in AUGMENTATION_KEYS)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"flip": "diagonal"}, r"'flip'.*'diagonal'"),
        ({"rotation": "lots"}, r"'rotation'.*'lots'"),
        ({"zoom": -0.1}, r"'zoom'.*-0\.1\b"),
        ({"shear": True}, r"'shear'.*\bTrue\b"),
        ({"translation": 1.5}, r"'translation'.*\b1\.5\b"),
    ],
)
def test_bad_values_name_the_setting_and_the_value(config: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        build_augmentation(config)


def test_preview_is_a_grid_of_nine_augmented_images(tmp_path) -> None:
    figure = preview_augmentations(_stripes(), FULL, seed=1)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 9
    shown = [axes.images[0].get_array() for axes in figure.axes]
    assert all(image.shape == (32, 32, 3) and image.dtype == np.uint8 for image in shown)
    assert any(not np.array_equal(shown[0], image) for image in shown[1:])
    figure.savefig(tmp_path / "preview.png")
    assert (tmp_path / "preview.png").stat().st_size > 0


def test_preview_other_count_and_bad_image() -> None:
    assert len(preview_augmentations(_stripes(16), {"flip": "vertical"}, n=4).axes) == 4
    with pytest.raises(ValueError, match=r"\(H, W, 3\).*\(16, 16\)"):
        preview_augmentations(np.zeros((16, 16), np.uint8), FULL)


def test_a_model_with_every_augmentation_survives_save_and_load(tmp_path):
    import keras
    import numpy as np

    from image_classification.models.augmentation import build_augmentation

    inputs = keras.Input((16, 16, 3))
    augmentation = build_augmentation(
        {"flip": "horizontal", "rotation": 0.1, "zoom": 0.1, "translation": 0.1, "contrast": 0.1, "shear": 0.1}, seed=1
    )
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(augmentation(inputs)))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "augmented.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5)
