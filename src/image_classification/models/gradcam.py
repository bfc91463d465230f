"""Grad-CAM (Selvaraju et al. 2017) for the transfer and fine-tuned models: where in the image the class came from.

The heatmap of class c is ReLU(sum_k alpha_k A_k), with A_k the backbone's last feature maps and alpha_k the
spatial mean of d score_c / d A_k. Keras 3 has no backend-neutral gradient, so only ``_score_gradients`` is
written once per backend (TensorFlow, JAX, PyTorch); everything else is Keras ops and NumPy.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

TRANSFER_LAYERS = ("preprocessing", "backbone", "pooling", "head")


def gradcam_heatmaps(
    model: keras.Model, images: np.ndarray, class_indices: np.ndarray | None = None, batch_size: int = 16
) -> np.ndarray:
    """Grad-CAM heatmaps of a model built by ``build_transfer_model`` (transfer or fine-tuned).

    Args:
        model: The classifier (float32 0..255 images in, softmax out).
        images: (N, H, W, 3) uint8 or float 0..255 images of the model's input size.
        class_indices: The class explained per image (N,); None explains each image's predicted class.
        batch_size: Images per forward and backward pass.

    Returns:
        float32 (N, h, w) heatmaps at the backbone's output resolution, each scaled to [0, 1] (all zeros where
        no feature map pushes the class score up).
    """
    preprocessing, backbone, classify = _transfer_parts(model)
    heatmaps = []
    for start in range(0, len(images), batch_size):
        batch = keras.ops.convert_to_tensor(np.asarray(images[start : start + batch_size], dtype=np.float32))
        feature_maps = backbone(preprocessing(batch), training=False)
        if class_indices is None:
            chosen = keras.ops.argmax(classify(feature_maps), axis=-1)
        else:
            chosen = keras.ops.convert_to_tensor(np.asarray(class_indices[start : start + batch_size]))
        one_hot = keras.ops.one_hot(chosen, int(model.output_shape[-1]))
        gradients = _score_gradients(classify, feature_maps, one_hot)
        weights = keras.ops.mean(gradients, axis=(1, 2), keepdims=True)  # alpha_k: one weight per feature map
        heatmap = keras.ops.relu(keras.ops.sum(weights * feature_maps, axis=-1))
        heatmaps.append(keras.ops.convert_to_numpy(heatmap))
    if not heatmaps:
        return np.zeros((0, 0, 0), dtype=np.float32)
    maps = np.concatenate(heatmaps).astype(np.float32)
    peaks = maps.max(axis=(1, 2), keepdims=True)
    return np.divide(maps, peaks, out=np.zeros_like(maps), where=peaks > 0)


def _transfer_parts(model: keras.Model) -> tuple[keras.layers.Layer, keras.layers.Layer, Callable]:
    """Preprocessing, backbone, and feature maps -> class logits (pooling and head, softmax left out)."""
    names = {layer.name for layer in model.layers}
    missing = [name for name in TRANSFER_LAYERS if name not in names]
    if missing:
        raise ValueError(
            f"Grad-CAM needs a transfer or fine-tuned model (layers {', '.join(TRANSFER_LAYERS)}); "
            f"'{model.name}' lacks {', '.join(missing)}."
        )
    pooling, head = model.get_layer("pooling"), model.get_layer("head")
    *hidden, output = head.layers

    def logits(feature_maps):
        # Pre-softmax scores, as in the paper: softmax gradients vanish for confident predictions.
        x = pooling(feature_maps)
        for layer in hidden:
            x = layer(x, training=False)
        return keras.ops.matmul(x, output.kernel) + output.bias

    return model.get_layer("preprocessing"), model.get_layer("backbone"), logits


def _score_gradients(classify: Callable, feature_maps, one_hot):
    """d (sum of the chosen class scores) / d feature maps, on the active Keras backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(feature_maps)
            score = tf.reduce_sum(classify(feature_maps) * one_hot)
        return tape.gradient(score, feature_maps)
    if backend == "jax":
        import jax

        return jax.grad(lambda maps: (classify(maps) * one_hot).sum())(feature_maps)
    if backend == "torch":
        maps = feature_maps.detach().requires_grad_(True)
        (classify(maps) * one_hot).sum().backward()
        return maps.grad
    raise NotImplementedError(f"Grad-CAM needs gradients, which the '{backend}' Keras backend does not give here.")
