"""Mixup and CutMix: the pure ``keras.ops`` functions, their sampling, and their use on training batches only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from image_classification.models.batch_mixing import (
    BatchMixer,
    batch_mixer,
    cutmix,
    mixup,
    sample_mixing,
)
from image_classification.training import TrainingSettings, fit_model
from image_classification.training.batches import ArrayBatches

SOURCE = Path(__file__).resolve().parents[2] / "src"
PERMUTATION = np.array([2, 0, 3, 1])
BOX = (1, 3, 0, 2)  # rows 1..2, columns 0..1 of a 4 x 5 image: 4 of 20 pixels


def _batch() -> tuple[np.ndarray, np.ndarray]:
    images = np.random.default_rng(0).uniform(0, 255, (4, 4, 5, 3)).astype(np.float32)
    return images, np.eye(3, dtype=np.float32)[[0, 1, 2, 1]]


def _numpy(parts: tuple) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(keras.ops.convert_to_numpy(part)) for part in parts)


def test_mixup_blends_images_and_labels_with_their_partners() -> None:
    images, labels = _batch()
    mixed_images, mixed_labels = _numpy(mixup(images, labels, 0.3, PERMUTATION))
    assert mixed_images.shape == images.shape and mixed_labels.shape == labels.shape
    np.testing.assert_allclose(mixed_images, 0.3 * images + 0.7 * images[PERMUTATION], rtol=1e-5)
    np.testing.assert_allclose(mixed_labels[0], [0.3, 0.0, 0.7], rtol=1e-6)  # class 0 with image 2's class 2
    np.testing.assert_allclose(mixed_labels.sum(axis=1), 1.0, rtol=1e-6)


def test_mixup_with_lam_one_is_the_identity() -> None:
    images, labels = _batch()
    mixed_images, mixed_labels = _numpy(mixup(images, labels, 1.0, PERMUTATION))
    np.testing.assert_array_equal(mixed_images, images)
    np.testing.assert_array_equal(mixed_labels, labels)


def test_cutmix_pastes_the_box_from_the_permuted_image_and_weighs_labels_by_area() -> None:
    images, labels = _batch()
    mixed_images, mixed_labels = _numpy(cutmix(images, labels, BOX, PERMUTATION))
    inside = np.zeros((4, 5), bool)
    inside[1:3, 0:2] = True
    np.testing.assert_array_equal(mixed_images[:, inside], images[PERMUTATION][:, inside])
    np.testing.assert_array_equal(mixed_images[:, ~inside], images[:, ~inside])
    np.testing.assert_allclose(mixed_labels, 0.8 * labels + 0.2 * labels[PERMUTATION], rtol=1e-6)
    np.testing.assert_allclose(mixed_labels.sum(axis=1), 1.0, rtol=1e-6)
    unchanged = _numpy(cutmix(images, labels, (2, 2, 0, 5), PERMUTATION))  # an empty box
    np.testing.assert_array_equal(unchanged[0], images)
    np.testing.assert_array_equal(unchanged[1], labels)


def test_sampling_follows_the_settings() -> None:
    rng = np.random.default_rng(0)
    assert sample_mixing(rng, 8, 32, 32, 0.0, 0.0).kind == "none"
    assert {sample_mixing(rng, 8, 32, 32, 0.4, 0.0).kind for _ in range(20)} == {"mixup"}
    assert {sample_mixing(rng, 8, 32, 32, 0.4, 1.0, switch_prob=0.0).kind for _ in range(20)} == {"mixup"}
    assert {sample_mixing(rng, 8, 32, 32, 0.4, 1.0, switch_prob=1.0).kind for _ in range(20)} == {"cutmix"}
    draws = [sample_mixing(rng, 8, 32, 32, 1.0, 1.0, switch_prob=0.5) for _ in range(400)]
    assert 0.4 < np.mean([draw.kind == "cutmix" for draw in draws]) < 0.6
    lams = np.array([draw.lam for draw in draws if draw.kind == "mixup"])
    assert lams.min() >= 0 and lams.max() <= 1 and abs(lams.mean() - 0.5) < 0.06  # Beta(1, 1): uniform
    for draw in draws:
        assert sorted(draw.permutation) == list(range(8))


def test_cutmix_lam_is_the_uncovered_area_of_a_box_inside_the_image() -> None:
    rng = np.random.default_rng(1)
    for _ in range(100):
        draw = sample_mixing(rng, 4, 24, 40, 0.0, 1.0)
        top, bottom, left, right = draw.box
        assert 0 <= top <= bottom <= 24 and 0 <= left <= right <= 40
        assert draw.lam == pytest.approx(1 - (bottom - top) * (right - left) / (24 * 40))


@pytest.mark.parametrize(
    ("mixup_alpha", "cutmix_alpha", "switch_prob"), [(-0.1, 0.0, 0.5), (0.0, float("inf"), 0.5), (0.2, 0.2, 1.5)]
)
def test_bad_mixing_settings_are_refused(mixup_alpha: float, cutmix_alpha: float, switch_prob: float) -> None:
    with pytest.raises(ValueError):
        sample_mixing(np.random.default_rng(0), 4, 8, 8, mixup_alpha, cutmix_alpha, switch_prob)
    with pytest.raises(ValueError):
        BatchMixer(mixup_alpha, cutmix_alpha, switch_prob)


@pytest.mark.parametrize("key", ["mixup_alpha", "cutmix_alpha", "mixing_switch_prob"])
def test_training_settings_check_the_mixing_keys(key: str) -> None:
    settings = TrainingSettings()
    assert (settings.mixup_alpha, settings.cutmix_alpha, settings.mixing_switch_prob) == (0.0, 0.0, 0.5)
    assert not settings.mixes_batches and batch_mixer(0.0, 0.0) is None
    with pytest.raises(ValueError):
        TrainingSettings.from_config({key: -1})
    with pytest.raises(ValueError):
        TrainingSettings.from_config({key: 20})


def test_feature_batches_get_mixup_only() -> None:
    features = np.arange(12, dtype=np.float32).reshape(4, 3)
    labels = np.eye(4, dtype=np.float32)  # one class each: a label's weights tell the partner and lam
    rng = np.random.default_rng(0)
    mixed, mixed_labels = BatchMixer(0.4, 1.0, switch_prob=1.0)(features, labels, rng)  # CutMix asked for every batch
    assert mixed.shape == features.shape and not np.array_equal(mixed, features)
    np.testing.assert_allclose(mixed_labels.sum(axis=1), 1.0, rtol=1e-6)
    for row in range(4):
        lam = mixed_labels[row, row]
        others = np.delete(np.arange(4), row)
        partner = row if lam == 1 else int(others[np.argmax(mixed_labels[row, others])])
        np.testing.assert_allclose(mixed[row], lam * features[row] + (1 - lam) * features[partner], rtol=1e-5)
    with pytest.raises(ValueError):
        BatchMixer(0.0, 1.0)(features, labels, rng)


def test_batches_without_mixing_are_the_arrays_and_mixing_keeps_the_order() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 4, 4, 3)).astype(np.uint8)
    labels = np.arange(10) % 3
    plain = ArrayBatches(images, labels, 3, 4, shuffle=True, seed=7)
    calls = []

    def identity(batch: np.ndarray, one_hot: np.ndarray, generator: np.random.Generator) -> tuple:
        calls.append(len(batch))
        return batch, one_hot

    mixed = ArrayBatches(images, labels, 3, 4, shuffle=True, seed=7, mixing=identity)
    for _ in range(2):
        plain.on_epoch_begin()
        mixed.on_epoch_begin()
        for index in range(len(plain)):
            rows = plain._order[index * 4 : (index + 1) * 4]  # noqa: SLF001 - the epoch's order, to check a batch
            batch, one_hot = plain[index]
            np.testing.assert_array_equal(batch, images[rows].astype(np.float32))
            np.testing.assert_array_equal(one_hot, np.eye(3, dtype=np.float32)[labels[rows]])
            for got, expected in zip(mixed[index], (batch, one_hot), strict=True):
                np.testing.assert_array_equal(got, expected)
    assert calls == [4, 4, 2, 4, 4, 2]
    with pytest.raises(ValueError):
        ArrayBatches(images, labels, 3, 4, mixing=identity)  # validation batches are never mixed


def test_a_batch_is_mixed_the_same_way_whatever_order_it_is_read_in() -> None:
    images = np.random.default_rng(0).integers(0, 256, (8, 6, 6, 3)).astype(np.uint8)
    batches = ArrayBatches(images, np.arange(8) % 2, 2, 4, shuffle=True, seed=3, mixing=BatchMixer(0.4, 1.0))
    first, second = batches[1], batches[0]
    again = batches[1]
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], np.eye(2, dtype=np.float32)[np.round(first[1][:, 1]).astype(int)])
    assert second[0].shape == (4, 6, 6, 3)


def test_a_tiny_model_fits_with_mixup_and_validates_on_unmixed_batches() -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    labels = np.arange(24) % 2
    images = (rng.integers(0, 128, (24, 8, 8, 3)) + labels[:, None, None, None] * 120).astype(np.uint8)
    inputs = keras.Input((8, 8, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(features))
    split = {"images": images, "labels": labels}
    settings = {"epochs": 1, "batch_size": 8, "verbose": 0, "mixup_alpha": 0.4, "cutmix_alpha": 1.0}
    with pytest.raises(ValueError):
        fit_model(model, split, split, settings)  # mixing turned on, nothing to build it with
    model, history, _ = fit_model(model, split, split, settings, mixing_factory=batch_mixer)
    assert np.isfinite(history["loss"][0])
    # The validation loss is the loss of the plain validation images (one epoch: its weights are the model's).
    validation = model.evaluate(images.astype(np.float32), np.eye(2)[labels], batch_size=8, verbose=0, return_dict=True)
    assert history["val_loss"][0] == pytest.approx(validation["loss"], rel=1e-5)


JAX_SCRIPT = """
import json, keras, numpy as np
from image_classification.models.batch_mixing import cutmix, mixup
assert keras.backend.backend() == "jax", keras.backend.backend()
images = np.array(IMAGES, np.float32)
labels = np.array(LABELS, np.float32)
permutation = np.array(PERMUTATION)
out = [keras.ops.convert_to_numpy(part).tolist() for part in (*mixup(images, labels, 0.3, permutation),
                                                               *cutmix(images, labels, BOX, permutation))]
print(json.dumps(out))
"""


def test_jax_gives_the_same_mixed_batches_as_tensorflow() -> None:
    pytest.importorskip("jax")
    images, labels = _batch()
    expected = _numpy((*mixup(images, labels, 0.3, PERMUTATION), *cutmix(images, labels, BOX, PERMUTATION)))
    script = (
        JAX_SCRIPT.replace("IMAGES", repr(images.tolist()))
        .replace("LABELS", repr(labels.tolist()))
        .replace("PERMUTATION", repr(PERMUTATION.tolist()))
        .replace("BOX", repr(BOX))
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(SOURCE), "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for got, want in zip(json.loads(result.stdout.strip().splitlines()[-1]), expected, strict=True):
        np.testing.assert_allclose(np.array(got), want, rtol=1e-6)
