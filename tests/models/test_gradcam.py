"""Grad-CAM heatmaps: exact against the closed form for a linear head, the same on TensorFlow and JAX."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from image_classification.models.gradcam import gradcam_heatmaps
from image_classification.models.transfer import build_transfer_model
from tests.scratch_project import PROJECT_ROOT

SIZE = 64


def _images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (4, SIZE, SIZE, 3)).astype(np.uint8)


def _model() -> keras.Model:
    keras.utils.set_random_seed(1)
    return build_transfer_model("mobilenet_v2", (SIZE, SIZE, 3), 3, "imagenet", {"dropout": 0.0})


def test_heatmaps_match_the_closed_form_of_a_linear_head():
    """With global average pooling and a linear head, d logit_c / d A_k = w_kc / (h w): Grad-CAM is the CAM."""
    model, images = _model(), _images()
    classes = np.array([0, 1, 2, 0])

    heatmaps = gradcam_heatmaps(model, images, classes, batch_size=3)

    maps = keras.ops.convert_to_numpy(
        model.get_layer("backbone")(model.get_layer("preprocessing")(images.astype(np.float32)), training=False)
    )
    kernel = keras.ops.convert_to_numpy(model.get_layer("head").get_layer("predictions").kernel)
    cam = np.maximum(np.einsum("nhwk,kn->nhw", maps, kernel[:, classes]), 0)
    peaks = cam.max(axis=(1, 2), keepdims=True)
    expected = np.divide(cam, peaks, out=np.zeros_like(cam), where=peaks > 0)
    assert heatmaps.shape == (4, 2, 2)  # MobileNetV2 downsamples 64 px by 32
    np.testing.assert_allclose(heatmaps, expected, atol=1e-4)
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1


def test_default_explains_the_predicted_class():
    model, images = _model(), _images()
    predicted = model.predict(images.astype(np.float32), verbose=0).argmax(axis=1)
    np.testing.assert_allclose(gradcam_heatmaps(model, images), gradcam_heatmaps(model, images, predicted))


def test_a_model_without_a_backbone_is_refused_by_name():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2)], name="tiny")
    with pytest.raises(ValueError, match=r"'tiny'.*\bbackbone\b"):
        gradcam_heatmaps(model, np.zeros((1, 8, 8, 3), dtype=np.uint8))


def test_jax_backend_gives_the_same_heatmaps_as_tensorflow(tmp_path):
    pytest.importorskip("jax")
    model, images = _model(), _images()
    expected = gradcam_heatmaps(model, images, np.array([2, 1, 0, 1]))
    model.save(tmp_path / "model.keras")  # the same weights on both backends (their random generators differ)
    script = f"""
import json, keras, numpy as np
import image_classification.models.custom_layers
from image_classification.models.gradcam import gradcam_heatmaps
model = keras.saving.load_model({str(tmp_path / "model.keras")!r})
images = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3)).astype(np.uint8)
print(json.dumps(gradcam_heatmaps(model, images, np.array([2, 1, 0, 1])).tolist()))
"""
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(PROJECT_ROOT / "src"), "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(np.array(json.loads(result.stdout.strip().splitlines()[-1])), expected, atol=1e-3)
