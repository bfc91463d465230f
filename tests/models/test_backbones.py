"""Backbone registry, weights resolution (random, path, ImageNet via the Keras cache) and the preprocessing layer."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format  # writes Keras's legacy .h5 layout

from image_classification.models.backbones import (
    BACKBONES,
    BackboneWeightsUnavailableError,
    check_layer_exists,
    create_backbone,
    validate_backbone_config,
)
from image_classification.models.preprocessing import BackbonePreprocessing

MOBILENET_V2_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
MOBILENET_V1_FILE = "mobilenet_v1_0.75_224_imagenet_notop.weights.h5"


@pytest.fixture()
def shared_keras_home(shared_dir: Path) -> Path:
    home = shared_dir / "keras"
    if not (home / "models" / MOBILENET_V2_FILE).is_file():
        pytest.skip(f"Real MobileNetV2 ImageNet weights not found at {home / 'models' / MOBILENET_V2_FILE}.")
    return home


@pytest.fixture()
def mobilenet_v1_weights(shared_dir: Path) -> Path:
    path = shared_dir / "keras" / "weights" / MOBILENET_V1_FILE
    if not path.is_file():
        pytest.skip(f"Real MobileNet v1 0.75 ImageNet weights not found at {path}.")
    return path


@pytest.fixture()
def offline_keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Keras cache, and a home folder without ~/.keras, so only what a test puts there is found."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "keras_home"


def test_registry_has_the_required_backbones() -> None:
    required = {"mobilenet_v2", "mobilenet_v1_075", "resnet50", "inception_v3", "vgg16", "efficientnet_b0"}
    assert required <= set(BACKBONES)
    for spec in BACKBONES.values():
        assert spec.weights_url.endswith("/" + spec.keras_weights_file)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_builds_and_has_its_default_unfreeze_layer(name: str) -> None:
    spec = BACKBONES[name]
    size = max(spec.min_size, 64)
    model = create_backbone(name, (size, size, 3), None, model_name="backbone")
    assert model.name == "backbone"
    assert len(model.output_shape) == 4
    check_layer_exists(model, spec.default_unfreeze_layer)
    assert validate_backbone_config(name, size, spec.default_unfreeze_layer) is spec


def test_unknown_backbone_lists_allowed_names() -> None:
    with pytest.raises(ValueError, match="Allowed: .*mobilenet_v2.*resnet50") as error:
        validate_backbone_config("mobilenet_v3", 96)
    assert "Did you mean" in str(error.value)


def test_image_smaller_than_the_backbone_minimum_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 75x75 px, got 64x64"):
        validate_backbone_config("inception_v3", 64)
    with pytest.raises(ValueError, match="at least 32x32"):
        create_backbone("mobilenet_v2", (24, 24, 3), None)


def test_unknown_unfreeze_layer_suggests_close_matches() -> None:
    with pytest.raises(ValueError, match="block_16_expnd' does not exist.*Close matches: block_16_expand"):
        validate_backbone_config("mobilenet_v2", 96, "block_16_expnd")
    with pytest.raises(ValueError, match="out of range.*allowed 0 to"):
        validate_backbone_config("mobilenet_v2", 96, 10_000)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense_top")], name="tiny")
    with pytest.raises(ValueError, match="Close matches: dense_top"):
        check_layer_exists(model, "dense_tp")


@pytest.mark.parametrize(
    ("name", "mode"), [("mobilenet_v2", "tf"), ("resnet50", "caffe"), ("vgg16", "caffe"), ("efficientnet_b0", "none")]
)
def test_preprocessing_layer_matches_keras_preprocess_input(name: str, mode: str) -> None:
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    expected = BACKBONES[name].preprocess_input(images.copy())  # NumPy code path of Keras
    out = keras.ops.convert_to_numpy(BackbonePreprocessing(name)(images))  # tensor code path (keras.ops)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)
    if mode == "tf":
        assert out.min() >= -1.0 and out.max() <= 1.0
    elif mode == "caffe":  # BGR order, ImageNet mean subtracted
        np.testing.assert_allclose(out[..., 0], images[..., 2] - 103.939, atol=1e-4)
    else:
        np.testing.assert_array_equal(out, images)


def test_unknown_backbone_in_preprocessing_layer_is_rejected() -> None:
    with pytest.raises(ValueError, match="Allowed"):
        BackbonePreprocessing("alexnet")


def test_imagenet_weights_load_offline_from_keras_home_at_any_size(
    shared_keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(shared_keras_home))
    monkeypatch.setenv("HOME", str(tmp_path))
    reference = create_backbone("mobilenet_v2", (224, 224, 3), shared_keras_home / "models" / MOBILENET_V2_FILE)
    random_init = create_backbone("mobilenet_v2", (96, 96, 3), None)
    for size in (96, 160):
        model = create_backbone("mobilenet_v2", (size, size, 3), "imagenet")
        for layer in ("Conv1", "block_16_project"):
            loaded = model.get_layer(layer).get_weights()[0]
            np.testing.assert_array_equal(loaded, reference.get_layer(layer).get_weights()[0])
            assert not np.allclose(loaded, random_init.get_layer(layer).get_weights()[0])


def test_missing_imagenet_weights_offline_raise_a_clear_error(
    offline_keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = BACKBONES["resnet50"]
    unreachable = (tmp_path / "no_network" / spec.keras_weights_file).as_uri()  # fails at once, like being offline
    monkeypatch.setitem(BACKBONES, "resnet50", dataclasses.replace(spec, weights_url=unreachable))
    with pytest.raises(BackboneWeightsUnavailableError) as error:
        create_backbone("resnet50", (64, 64, 3), "imagenet")
    message = str(error.value)
    assert spec.keras_weights_file in message
    assert f"weights: /path/to/{spec.keras_weights_file}" in message
    assert "KERAS_HOME" in message and str(offline_keras_home) in message
    assert isinstance(error.value, FileNotFoundError)


def test_imagenet_weights_are_found_in_home_keras_cache(
    shared_keras_home: Path, offline_keras_home: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "home" / ".keras" / "models"
    cache.mkdir(parents=True)
    (cache / MOBILENET_V2_FILE).symlink_to(shared_keras_home / "models" / MOBILENET_V2_FILE)
    model = create_backbone("mobilenet_v2", (64, 64, 3), "imagenet")
    reference = create_backbone("mobilenet_v2", (64, 64, 3), cache / MOBILENET_V2_FILE)
    np.testing.assert_array_equal(model.get_layer("Conv1").get_weights()[0], reference.get_layer("Conv1").get_weights()[0])


def test_missing_weights_path_names_the_path_and_the_parameter(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.h5"
    with pytest.raises(FileNotFoundError, match=r"nowhere\.h5.*parameter `weights`"):
        create_backbone("mobilenet_v2", (64, 64, 3), missing)


def test_mobilenet_v1_weights_load_by_path_at_any_size(mobilenet_v1_weights: Path) -> None:
    at_224 = create_backbone("mobilenet_v1_075", (224, 224, 3), mobilenet_v1_weights)
    random_init = create_backbone("mobilenet_v1_075", (96, 96, 3), "random")
    for size in (96, 128):
        model = create_backbone("mobilenet_v1_075", (size, size, 3), str(mobilenet_v1_weights))
        for layer in ("conv1", "conv_pw_13"):
            loaded = model.get_layer(layer).get_weights()[0]
            np.testing.assert_array_equal(loaded, at_224.get_layer(layer).get_weights()[0])
            assert not np.allclose(loaded, random_init.get_layer(layer).get_weights()[0])


def test_weights_of_another_architecture_raise_a_clear_error(shared_keras_home: Path) -> None:
    with pytest.raises(ValueError, match=f"Could not load weights file .*{MOBILENET_V2_FILE}.*'mobilenet_v1_075'"):
        create_backbone("mobilenet_v1_075", (64, 64, 3), shared_keras_home / "models" / MOBILENET_V2_FILE)


def _normalization_layer(model: keras.Model) -> keras.layers.Layer:
    return next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))


def test_efficientnet_keras_file_gets_the_imagenet_input_scaling(tmp_path: Path) -> None:
    """Keras adds Rescaling(1/sqrt(std)) to EfficientNet only for weights="imagenet"; loading its file by path too."""
    mean, std = np.array([0.485, 0.456, 0.406], "float32"), np.array([0.229, 0.224, 0.225], "float32")
    source = create_backbone("efficientnet_b0", (32, 32, 3), None)
    normalization = _normalization_layer(source)
    normalization.set_weights([mean, std**2, *normalization.get_weights()[2:]])
    keras_file = tmp_path / BACKBONES["efficientnet_b0"].keras_weights_file
    other_file = tmp_path / "my_efficientnet.h5"
    for path in (keras_file, other_file):
        with h5py.File(path, "w") as file:
            legacy_h5_format.save_weights_to_hdf5_group(file, source)

    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    normalized = (images / 255.0 - mean) / std
    for path, expected in ((keras_file, normalized / np.sqrt(std)), (other_file, normalized)):
        model = create_backbone("efficientnet_b0", (32, 32, 3), path)
        output = keras.Model(model.input, _normalization_layer(model).output).predict(images, verbose=0)
        np.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-4)
