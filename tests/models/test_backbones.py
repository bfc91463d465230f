"""Backbone registry, weights resolution (random, path, ImageNet: bundled, Keras cache) and the preprocessing layer."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format  # writes Keras's legacy .h5 layout

from image_classification.models import weights as weights_module
from image_classification.models.backbones import (
    BACKBONES,
    BackboneWeightsUnavailableError,
    BundledWeightsCorruptedError,
    bundled_weights_file,
    check_layer_exists,
    create_backbone,
    resolve_weights,
    validate_backbone_config,
)
from image_classification.models.preprocessing import BackbonePreprocessing

MOBILENET_V2_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
MOBILENET_V1_FILE = "mobilenet_v1_0.75_224_imagenet_notop.weights.h5"
# The real ImageNet weights shipped with the package (src/image_classification/bundled/weights/).
BUNDLED_V2 = weights_module.BUNDLED_WEIGHTS_DIR / MOBILENET_V2_FILE
BUNDLED_V1 = weights_module.BUNDLED_WEIGHTS_DIR / MOBILENET_V1_FILE


@pytest.fixture()
def no_bundled_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty bundled-weights folder, as in an install that lacks the package data."""
    folder = tmp_path / "no_bundled"
    folder.mkdir()
    monkeypatch.setattr(weights_module, "BUNDLED_WEIGHTS_DIR", folder)
    return folder


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
    with pytest.raises(ValueError, match="'mobilenet_v3'") as error:
        validate_backbone_config("mobilenet_v3", 96)
    assert all(name in str(error.value) for name in BACKBONES)


def test_image_smaller_than_the_backbone_minimum_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"'inception_v3'.*\b75x75\b.*\b64x64\b"):
        validate_backbone_config("inception_v3", 64)
    with pytest.raises(ValueError, match=r"'mobilenet_v2'.*\b32x32\b.*\b24x24\b"):
        create_backbone("mobilenet_v2", (24, 24, 3), None)


def test_unknown_unfreeze_layer_suggests_close_matches() -> None:
    with pytest.raises(ValueError, match=r"'block_16_expnd'.*'mobilenet_v2'.*\bblock_16_expand\b"):
        validate_backbone_config("mobilenet_v2", 96, "block_16_expnd")
    with pytest.raises(ValueError, match=r"unfreeze_from=10000\b.*'mobilenet_v2'"):
        validate_backbone_config("mobilenet_v2", 96, 10_000)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense_top")], name="tiny")
    with pytest.raises(ValueError, match=r"'dense_tp'.*\bdense_top\b"):
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
    with pytest.raises(ValueError, match="'alexnet'") as error:
        BackbonePreprocessing("alexnet")
    assert all(name in str(error.value) for name in BACKBONES)


def _same_weights(model: keras.Model, reference: keras.Model, layers: tuple[str, ...]) -> bool:
    return all(
        np.array_equal(model.get_layer(layer).get_weights()[0], reference.get_layer(layer).get_weights()[0])
        for layer in layers
    )


def test_bundled_weights_are_registered_and_intact() -> None:
    assert {name for name, spec in BACKBONES.items() if spec.bundled_weights} == {"mobilenet_v2", "mobilenet_v1_075"}
    assert bundled_weights_file("mobilenet_v2") == BUNDLED_V2
    assert bundled_weights_file("mobilenet_v1_075") == BUNDLED_V1
    assert bundled_weights_file("resnet50") is None


def test_imagenet_uses_the_bundled_weights_offline_at_any_size(offline_keras_home: Path) -> None:
    assert resolve_weights("mobilenet_v2", "imagenet") == BUNDLED_V2
    reference = create_backbone("mobilenet_v2", (224, 224, 3), BUNDLED_V2)
    random_init = create_backbone("mobilenet_v2", (96, 96, 3), None)
    for size in (96, 160):
        model = create_backbone("mobilenet_v2", (size, size, 3), "imagenet")
        assert _same_weights(model, reference, ("Conv1", "block_16_project"))
        assert not np.allclose(model.get_layer("Conv1").get_weights()[0], random_init.get_layer("Conv1").get_weights()[0])


def test_bundled_mobilenet_v1_keras3_file_loads_at_128_160_and_224(offline_keras_home: Path) -> None:
    reference = keras.applications.MobileNet(alpha=0.75, include_top=False, weights=None, input_shape=(160, 160, 3))
    reference.load_weights(BUNDLED_V1)
    random_init = create_backbone("mobilenet_v1_075", (128, 128, 3), "random")
    for size in (128, 160, 224):
        model = create_backbone("mobilenet_v1_075", (size, size, 3), "imagenet")
        assert _same_weights(model, reference, ("conv1", "conv_pw_13"))
        assert not np.allclose(model.get_layer("conv1").get_weights()[0], random_init.get_layer("conv1").get_weights()[0])


def _random_mobilenet_v2_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, create_backbone("mobilenet_v2", (32, 32, 3), None))
    return path


def test_bundled_weights_come_before_keras_home_which_comes_before_home(
    offline_keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keras_home_file = _random_mobilenet_v2_file(offline_keras_home / "models" / MOBILENET_V2_FILE)
    home_file = _random_mobilenet_v2_file(tmp_path / "home" / ".keras" / "models" / MOBILENET_V2_FILE)
    assert resolve_weights("mobilenet_v2", "imagenet") == BUNDLED_V2
    monkeypatch.setattr(weights_module, "BUNDLED_WEIGHTS_DIR", tmp_path / "no_bundled")
    assert resolve_weights("mobilenet_v2", "imagenet") == keras_home_file
    keras_home_file.unlink()
    assert resolve_weights("mobilenet_v2", "imagenet") == home_file


def test_damaged_bundled_weights_raise_naming_the_file_and_both_hashes(
    offline_keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "bundled_weights"
    folder.mkdir()
    damaged = folder / MOBILENET_V2_FILE
    data = bytearray(BUNDLED_V2.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    _random_mobilenet_v2_file(offline_keras_home / "models" / MOBILENET_V2_FILE)  # not a silent fallback
    monkeypatch.setattr(weights_module, "BUNDLED_WEIGHTS_DIR", folder)
    with pytest.raises(BundledWeightsCorruptedError) as error:
        create_backbone("mobilenet_v2", (64, 64, 3), "imagenet")
    message = str(error.value)
    expected = BACKBONES["mobilenet_v2"].bundled_weights.sha256
    actual = weights_module.file_sha256(damaged)
    assert str(damaged) in message and expected in message and actual in message and actual != expected
    assert "make install" in message and "git checkout -- src/image_classification/bundled/weights/" in message
    assert isinstance(error.value, ValueError)


def test_bundled_weights_sha256_is_checked_once_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(BUNDLED_V1, tmp_path / MOBILENET_V1_FILE)
    monkeypatch.setattr(weights_module, "BUNDLED_WEIGHTS_DIR", tmp_path)
    calls, real_sha256 = [], weights_module.file_sha256

    def counting_sha256(path: Path) -> str:
        calls.append(path)
        return real_sha256(path)

    monkeypatch.setattr(weights_module, "file_sha256", counting_sha256)
    for _ in range(3):
        assert bundled_weights_file("mobilenet_v1_075") == tmp_path / MOBILENET_V1_FILE
    assert calls == [tmp_path / MOBILENET_V1_FILE]


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


def test_missing_bundled_weights_offline_say_to_reinstall(
    offline_keras_home: Path, no_bundled_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = BACKBONES["mobilenet_v2"]
    unreachable = (tmp_path / "no_network" / spec.keras_weights_file).as_uri()
    monkeypatch.setitem(BACKBONES, "mobilenet_v2", dataclasses.replace(spec, weights_url=unreachable))
    bundled = no_bundled_weights / spec.bundled_weights.file_name  # the missing copy, and the command that restores it
    with pytest.raises(BackboneWeightsUnavailableError, match=rf"{re.escape(str(bundled))}.*make install"):
        create_backbone("mobilenet_v2", (64, 64, 3), "imagenet")


def test_missing_weights_path_names_the_path_and_the_parameter(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.h5"
    with pytest.raises(FileNotFoundError, match=rf"'{re.escape(str(missing))}'.*`weights`"):
        create_backbone("mobilenet_v2", (64, 64, 3), missing)


def test_mobilenet_v1_weights_load_by_path_at_any_size() -> None:
    at_224 = create_backbone("mobilenet_v1_075", (224, 224, 3), BUNDLED_V1)
    for size in (96, 128):
        model = create_backbone("mobilenet_v1_075", (size, size, 3), str(BUNDLED_V1))
        assert _same_weights(model, at_224, ("conv1", "conv_pw_13"))


def test_weights_of_another_architecture_raise_a_clear_error() -> None:
    with pytest.raises(ValueError, match=rf"'{re.escape(str(BUNDLED_V2))}'.*'mobilenet_v1_075'.*`weights`"):
        create_backbone("mobilenet_v1_075", (64, 64, 3), BUNDLED_V2)


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
