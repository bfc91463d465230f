"""Transfer models: layout, save/load, feature extraction with a head trained on cached features, fine-tuning
(where to unfreeze, and a real fine-tune through the shared fit loop)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image, ImageOps
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from image_classification.data.sources import BUNDLED_DIR
from image_classification.models.backbones import BACKBONES, backbone_layer_names
from image_classification.models.heads import build_head
from image_classification.models.transfer import (
    build_transfer_model,
    extract_features,
    feature_extractor,
    head_model,
    unfreeze_model,
    unfreeze_point,
)
from image_classification.training import TrainingSettings, compile_model, fit_model

SIZE = 64


@pytest.fixture(scope="module")
def images() -> tuple[np.ndarray, np.ndarray]:
    """16 uint8 images of two easy classes: bright top half (0) or bright bottom half (1), plus noise."""
    rng = np.random.default_rng(0)
    labels = np.arange(16) % 2
    data = rng.integers(0, 80, (16, SIZE, SIZE, 3)).astype(np.uint8)
    for index, label in enumerate(labels):
        rows = slice(0, SIZE // 2) if label == 0 else slice(SIZE // 2, SIZE)
        data[index, rows] += 150
    return data, labels


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(2, dtype="float32")[labels]


def _weight_paths(layers: list[keras.layers.Layer]) -> set[str]:
    return {weight.path for layer in layers for weight in layer.trainable_weights}


def test_layout_frozen_backbone_and_trainable_head() -> None:
    model = build_transfer_model(
        "mobilenet_v2", (SIZE, SIZE, 3), 3, None, {"dense_units": [8]}, pooling="max",
        augmentation=keras.layers.RandomFlip("horizontal", name="flip"),
    )
    assert [layer.name for layer in model.layers] == [
        "image", "augmentation", "preprocessing", "backbone", "pooling", "head"
    ]
    assert isinstance(model.get_layer("pooling"), keras.layers.GlobalMaxPooling2D)
    assert model.get_layer("backbone").trainable is False
    assert {w.path for w in model.trainable_weights} == _weight_paths([model.get_layer("head")])
    probabilities = model.predict(np.zeros((2, SIZE, SIZE, 3), np.uint8), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match=r"'mean'.*\bavg\b.*\bmax\b"):
        build_transfer_model("mobilenet_v2", (SIZE, SIZE, 3), 3, None, None, pooling="mean")


def test_head_settings() -> None:
    head = build_head(32, 4, {"dense_units": [16, 8], "dropout": 0.5, "batch_norm": True})
    assert head.name == "head" and head.output_shape == (None, 4)
    kinds = [type(layer).__name__ for layer in head.layers]
    assert kinds.count("Dense") == 3 and kinds.count("BatchNormalization") == 3 and kinds.count("Dropout") == 2
    assert [type(layer).__name__ for layer in build_head(32, 2, {"dropout": 0}).layers] == ["Dense"]
    with pytest.raises(ValueError, match=r"\bunits\b.*\bdense_units\b.*\bdropout\b.*\bbatch_norm\b"):
        build_head(32, 2, {"units": [8]})
    with pytest.raises(ValueError, match=r"\bdense_units\b.*\b128\b"):
        build_head(32, 2, {"dense_units": 128})
    with pytest.raises(ValueError, match=r"\bdropout\b.*\b1\.5\b"):
        build_head(32, 2, {"dropout": 1.5})


def test_saved_model_loads_with_identical_predictions(tmp_path: Path, images: tuple[np.ndarray, np.ndarray]) -> None:
    model = build_transfer_model(
        "resnet50", (32, 32, 3), 2, "random", {"dense_units": [4], "batch_norm": True},
        augmentation=keras.Sequential([keras.layers.RandomFlip("horizontal")], name="augmentation"),
    )
    pixels = images[0][:4, :32, :32]
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode stays on: no Lambda layer inside
    assert loaded.get_layer("preprocessing").backbone_name == "resnet50"
    np.testing.assert_allclose(loaded.predict(pixels, verbose=0), model.predict(pixels, verbose=0), rtol=1e-5, atol=1e-6)
    unfreeze_model(loaded, BACKBONES["resnet50"].default_unfreeze_layer)  # what finetune does
    assert "conv5_block1_1_conv/kernel" in {w.path for w in loaded.trainable_weights}


def test_head_trained_on_cached_features_drives_the_full_model(images: tuple[np.ndarray, np.ndarray]) -> None:
    pixels, labels = images
    model = build_transfer_model("mobilenet_v2", (SIZE, SIZE, 3), 2, None, {"dense_units": [8], "batch_norm": True})
    features = extract_features(model, pixels, batch_size=5)  # uneven last batch on purpose
    assert features.shape == (16, 1280) and features.dtype == np.float32
    np.testing.assert_allclose(features, feature_extractor(model).predict(pixels, verbose=0), rtol=1e-5, atol=1e-5)

    before = model.predict(pixels, verbose=0)
    head = compile_model(head_model(model), TrainingSettings(learning_rate=1e-2))
    head.fit(features, _one_hot(labels), epochs=2, batch_size=8, verbose=0)
    after = model.predict(pixels, verbose=0)
    assert not np.allclose(before, after)  # training the head changed the full model
    np.testing.assert_allclose(after, head.predict(features, verbose=0), rtol=1e-4, atol=1e-5)


def test_feature_extraction_traces_one_graph_for_sets_of_any_size(caplog: pytest.LogCaptureFixture) -> None:
    model = build_transfer_model("mobilenet_v1_075", (SIZE, SIZE, 3), 2, None)
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for count in (7, 6, 5, 3, 2, 1):  # six different last batches, as train/val/test splits give
            features = extract_features(model, np.zeros((count, SIZE, SIZE, 3), np.uint8), batch_size=4)
            assert features.shape == (count, 768)
    assert not [record for record in caplog.records if "retracing" in record.getMessage()]


def test_extract_features_rejects_images_of_another_size() -> None:
    model = build_transfer_model("mobilenet_v1_075", (SIZE, SIZE, 3), 2, None)
    with pytest.raises(ValueError, match=r"\(N, 64, 64, 3\).*\(2, 32, 32, 3\)"):
        extract_features(model, np.zeros((2, 32, 32, 3), np.uint8))


def test_unfreeze_by_name_trains_exactly_the_top_layers_and_keeps_batchnorm_frozen() -> None:
    model = build_transfer_model("mobilenet_v2", (32, 32, 3), 2, None, {"batch_norm": True})
    backbone, head = model.get_layer("backbone"), model.get_layer("head")
    start = [layer.name for layer in backbone.layers].index("block_16_expand")
    top_non_bn = [
        layer for layer in backbone.layers[start:] if not isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(model.trainable_weights) == len(head.trainable_weights)

    assert unfreeze_model(model, "block_16_expand") is model
    assert not model.compiled  # compiling (which applies the change) is left to fit_model

    assert {w.path for w in model.trainable_weights} == _weight_paths(top_non_bn) | _weight_paths([head])
    assert {w.path for w in model.trainable_weights} >= {"block_16_expand/kernel", "Conv_1/kernel"}
    batch_norms = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert batch_norms and not any(layer.trainable for layer in batch_norms)


def test_fine_tuning_a_tiny_transfer_model_trains_only_the_unfrozen_layers() -> None:
    """A real fine-tune (random weights, 32 px, 2 epochs, warmup + cosine) through the shared fit loop."""
    rng = np.random.default_rng(0)
    split = {"images": rng.integers(0, 256, (16, 32, 32, 3)).astype(np.uint8), "labels": np.arange(16) % 2}
    keras.utils.set_random_seed(0)  # the random initial weights: whatever ran before, the same ones
    model = build_transfer_model("mobilenet_v2", (32, 32, 3), 2, None, {"batch_norm": True})
    backbone = model.get_layer("backbone")
    start = unfreeze_point("mobilenet_v2", None, 2)
    assert start == "block_16_expand"
    unfreeze_model(model, start)

    def weights(*names: str) -> dict[str, list[np.ndarray]]:
        return {name: [np.array(w) for w in backbone.get_layer(name).get_weights()] for name in names}

    frozen = weights("Conv1", "block_15_expand", "block_15_project")
    trained = weights("block_16_expand", "block_16_project", "Conv_1")
    batch_norm = weights("block_16_expand_BN", "Conv_1_bn")  # gamma, beta, moving mean and variance
    settings = {
        "epochs": 2, "batch_size": 4, "learning_rate": 1e-2, "lr_schedule": "cosine", "warmup_epochs": 1,
        "reduce_lr_patience": None, "early_stopping_patience": None, "verbose": 0, "seed": 0,
    }
    model, history, summary = fit_model(model, split, split, settings)

    assert summary["epochs_run"] == 2 and len(history["learning_rate"]) == 2
    assert summary["trainable_params"] < summary["total_params"]
    for name, before in {**frozen, **batch_norm}.items():
        for old, new in zip(before, backbone.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(new, old, err_msg=f"frozen layer {name} changed")
    assert not any(backbone.get_layer(name).trainable for name in batch_norm)
    for name, before in trained.items():
        # Any change: random weights at 32 px give some layers tiny gradients, below allclose's tolerance
        assert not np.array_equal(backbone.get_layer(name).get_weights()[0], before[0]), f"{name} did not train"


def test_unfreeze_point_by_name_blocks_or_the_backbone_default() -> None:
    assert unfreeze_point("mobilenet_v2", "block_13_expand", None) == "block_13_expand"  # passes through
    assert unfreeze_point("mobilenet_v2", 20, None) == 20
    assert unfreeze_point("mobilenet_v2", None, 3) == "block_15_expand"  # Conv_1, block_16, block_15
    assert unfreeze_point("mobilenet_v2", None, 1) == "Conv_1"
    assert unfreeze_point("mobilenet_v1_075", None, 2) == "conv_dw_12"
    for name in ("mobilenet_v2", "mobilenet_v1_075", "resnet50"):
        assert unfreeze_point(name, None, None) == BACKBONES[name].default_unfreeze_layer
    with pytest.raises(ValueError, match=r"\bunfreeze_from\b.*'block_16_expand'.*\bunfreeze_blocks\b.*\b2\b"):
        unfreeze_point("mobilenet_v2", "block_16_expand", 2)
    blocks = 17  # block_1_expand .. block_16_expand, then Conv_1
    for bad in (0, blocks + 1, 2.5, True):
        named = rf"\bunfreeze_blocks\b.*\bmobilenet_v2\b.*\b1\b\D+\b{blocks}\b.*\b{re.escape(repr(bad))}\b"
        with pytest.raises(ValueError, match=named):  # the setting, the backbone, the range and the value
            unfreeze_point("mobilenet_v2", None, bad)
    assert unfreeze_point("mobilenet_v2", None, blocks) == "block_1_expand"


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_unfreezing_the_top_block_trains_some_backbone_weights(backbone: str) -> None:
    names = backbone_layer_names(backbone)
    starts = [unfreeze_point(backbone, None, blocks) for blocks in (1, 2)]
    top_layers = [len(names) - names.index(start) if isinstance(start, str) else start for start in starts]
    assert 0 < top_layers[0] < top_layers[1] < len(names)
    size = BACKBONES[backbone].min_size
    model = build_transfer_model(backbone, (size, size, 3), 2, None)
    unfreeze_model(model, starts[0])
    assert model.get_layer("backbone").trainable_weights


def test_unfreeze_top_n_layers_and_bad_requests() -> None:
    model = build_transfer_model("mobilenet_v1_075", (SIZE, SIZE, 3), 2, None)
    backbone = model.get_layer("backbone")
    unfreeze_model(model, 6)
    # The top 6 layers are conv_dw_13(_bn, _relu), conv_pw_13(_bn, _relu): two kernels, no BatchNorm weights.
    expected = {"conv_dw_13/kernel", "conv_pw_13/kernel"} | _weight_paths([model.get_layer("head")])
    assert {w.path for w in model.trainable_weights} == expected
    unfreeze_model(model, 0)
    assert not backbone.trainable_weights

    with pytest.raises(ValueError, match=r"'conv_dw_99'.*\bconv_dw_9\b"):
        unfreeze_model(model, "conv_dw_99")
    with pytest.raises(ValueError, match=rf"unfreeze_from=10000\b.*\b{len(backbone.layers)}\b"):
        unfreeze_model(model, 10_000)
    with pytest.raises(ValueError, match=r"\bunfreeze_from\b.*\bTrue\b"):
        unfreeze_model(model, True)


def test_linear_probe_on_imagenet_features_separates_two_painters() -> None:
    """The bundled ImageNet weights (used offline for "imagenet") give features a linear model can use.

    30 + 30 bundled paintings by Cezanne and Sargent: measured 0.93 cross-validated accuracy (chance 0.5).
    """
    folder = BUNDLED_DIR / "impressionists"
    paths = sorted(folder.glob("Cezanne/*.jpg")) + sorted(folder.glob("Sargent/*.jpg"))
    labels = np.array([path.parent.name == "Sargent" for path in paths], dtype=int)
    assert len(paths) == 60
    pixels = np.stack([np.asarray(ImageOps.fit(Image.open(path).convert("RGB"), (128, 128))) for path in paths])
    model = build_transfer_model("mobilenet_v2", (128, 128, 3), 2, "imagenet")
    features = extract_features(model, pixels, batch_size=30)
    scores = cross_val_score(LogisticRegression(max_iter=2000), features, labels, cv=5)
    assert scores.mean() >= 0.8, f"linear probe accuracy {scores.mean():.2f} (chance 0.5)"
