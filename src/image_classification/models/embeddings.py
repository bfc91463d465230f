"""Image embeddings from a pretrained backbone: its pooled features, as the transfer models compute them.

``build_transfer_model`` + ``extract_features`` run the backbone's own ``preprocess_input``, the backbone and the
global pooling: the same vectors as a transfer pipeline's feature cache (``transfer.<name>.features``) for the same
backbone, weights and pooling. Used by the embeddings and similar pipelines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from image_classification.data.resize import resize_image
from image_classification.models.backbones import get_backbone_spec
from image_classification.models.transfer import build_transfer_model, extract_features


def embedding_side(backbone: str, image_side: int) -> int:
    """The side images are embedded at: theirs, or the backbone's minimum when they are smaller.

    Raises:
        ValueError: Unknown backbone (listing the allowed ones and close matches).
    """
    return max(int(image_side), get_backbone_spec(backbone).min_size)


def backbone_embeddings(
    image_sets: Sequence[np.ndarray],
    backbone: str,
    weights: str | os.PathLike | None,
    pooling: str,
    batch_size: int = 32,
) -> list[np.ndarray]:
    """Pooled backbone features of sets of square uint8 images of one size, one float32 vector per image.

    The backbone is built once for all the sets (e.g. train, val and test). Images smaller than the backbone
    accepts (16 px digits for a MobileNet's 32) are first enlarged to its minimum (bilinear, as ``preprocess``
    resizes), so every data set can be embedded.

    Args:
        image_sets: uint8 arrays (N_i, S, S, 3), S the same for all.
        backbone: Registry name (``models.backbones.BACKBONES``).
        weights: ``"imagenet"``, a weights file, or None/``"random"``.
        pooling: ``avg`` or ``max``.
        batch_size: Images per forward pass.

    Returns:
        float32 (N_i, D) per set, D the backbone's channel count.

    Raises:
        ValueError: Unknown backbone or pooling, images not square RGB or of different sizes.
        FileNotFoundError: Weights unavailable.
    """
    shapes = {tuple(images.shape[1:]) for images in image_sets}
    if len(shapes) != 1 or any(len(shape) != 3 or shape[0] != shape[1] or shape[2] != 3 for shape in shapes):
        raise ValueError(f"Images must be square RGB of one size, (N, S, S, 3), got shapes {sorted(shapes)}.")
    image_side = shapes.pop()[0]
    side = embedding_side(backbone, image_side)
    # The two-class head is never used: extract_features runs the layers up to the pooling only.
    model = build_transfer_model(backbone, (side, side, 3), num_classes=2, weights=weights, pooling=pooling)
    return [extract_features(model, _enlarged(images, side), batch_size) for images in image_sets]


def _enlarged(images: np.ndarray, side: int) -> np.ndarray:
    if images.shape[1] == side:
        return images
    enlarged = [resize_image(Image.fromarray(pixels), side, "stretch") for pixels in images]
    return np.stack(enlarged) if enlarged else np.zeros((0, side, side, 3), np.uint8)
