"""Resizing a decoded image to the square side every model of a run takes (training, reports and predict alike)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

RESIZE_METHODS = ("stretch", "pad", "center_crop")


def resize_image(image: Image.Image, size: int, method: str) -> np.ndarray:
    """Resizes an RGB image to ``size`` x ``size``.

    Args:
        image: An 8-bit RGB image.
        size: Target side in pixels.
        method: ``stretch`` (ignore aspect ratio), ``pad`` (keep it, pad with black) or ``center_crop``.

    Returns:
        A uint8 array of shape (size, size, 3).
    """
    resample = Image.Resampling.BILINEAR
    if method == "stretch":
        resized = image.resize((size, size), resample)
    elif method == "pad":
        resized = ImageOps.pad(image, (size, size), method=resample, color=(0, 0, 0))
    elif method == "center_crop":
        resized = ImageOps.fit(image, (size, size), method=resample)
    else:
        raise ValueError(f"preprocess.resize_method '{method}' is unknown. Allowed: {', '.join(RESIZE_METHODS)}.")
    return np.asarray(resized, dtype=np.uint8)
