"""Batch mixing (mixup, CutMix) as pure ``keras.ops`` functions, backend-neutral Keras 3.

Each function takes its random parameters explicitly, so a test (or another sampler) can fix them;
``sample_mixing`` draws them from a NumPy generator with timm's semantics (``timm.data.Mixup``):

- mixup: lam ~ Beta(mixup_alpha, mixup_alpha); images and one-hot labels become ``lam * x + (1 - lam) * x[perm]``.
- CutMix: lam ~ Beta(cutmix_alpha, cutmix_alpha); a box of side ``sqrt(1 - lam)`` times the image's, centred at a
  uniform pixel and clipped to the image, is pasted from ``x[perm]``; lam is then corrected to the area left
  uncovered, which is what the labels are weighed by.
- With both alphas above 0, a batch gets CutMix with probability ``switch_prob`` and mixup otherwise.

``BatchMixer`` puts the two together as the ``(images, one_hot, rng) -> (images, one_hot)`` callable that
``training.batches.ArrayBatches`` applies to shuffled training batches (``batch_mixer`` builds it from the
``training`` settings ``mixup_alpha``, ``cutmix_alpha`` and ``mixing_switch_prob``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from keras import ops

__all__ = ["KINDS", "BatchMixer", "Mixing", "batch_mixer", "cutmix", "mixup", "sample_mixing"]

KINDS = ("none", "mixup", "cutmix")


def _mixed_labels(labels_one_hot: Any, permutation: Any, lam: Any) -> Any:
    labels = ops.convert_to_tensor(labels_one_hot)
    lam = ops.cast(lam, labels.dtype)
    return lam * labels + (1 - lam) * ops.take(labels, permutation, axis=0)


def mixup(images: Any, labels_one_hot: Any, lam: float, permutation: Any) -> tuple[Any, Any]:
    """Blends every image and its label with those of ``permutation``: ``lam * x + (1 - lam) * x[permutation]``.

    Args:
        images: Float batch (N, H, W, C), or any float batch (N, ...) such as features.
        labels_one_hot: Float batch (N, classes) of one-hot (or already soft) labels.
        lam: Weight of the original images, in [0, 1] (1 leaves the batch unchanged).
        permutation: Int (N,): the image each one is blended with.

    Returns:
        The mixed images and labels, as backend tensors of the input dtypes.
    """
    images = ops.convert_to_tensor(images)
    weight = ops.cast(lam, images.dtype)
    mixed = weight * images + (1 - weight) * ops.take(images, permutation, axis=0)
    return mixed, _mixed_labels(labels_one_hot, permutation, lam)


def cutmix(images: Any, labels_one_hot: Any, box: tuple[int, int, int, int], permutation: Any) -> tuple[Any, Any]:
    """Pastes the box ``(top, bottom, left, right)`` (rows ``top:bottom``, columns ``left:right``) from the permuted images.

    Args:
        images: Float batch (N, H, W, C).
        labels_one_hot: Float batch (N, classes).
        box: Pixel bounds, end-exclusive, within the image; an empty box leaves the batch unchanged.
        permutation: Int (N,): the image each box is taken from.

    Returns:
        The mixed images, and labels weighed by area: ``(1 - box area / image area)`` for the image's own label, the
        box's share for the label of the image it came from.
    """
    images = ops.convert_to_tensor(images)
    height, width = int(images.shape[1]), int(images.shape[2])
    top, bottom, left, right = (int(side) for side in box)
    rows = ops.arange(height)[:, None]
    columns = ops.arange(width)[None, :]
    inside = (rows >= top) & (rows < bottom) & (columns >= left) & (columns < right)
    mixed = ops.where(inside[None, :, :, None], ops.take(images, permutation, axis=0), images)
    area = max(0, bottom - top) * max(0, right - left)
    return mixed, _mixed_labels(labels_one_hot, permutation, 1.0 - area / (height * width))


@dataclass(frozen=True)
class Mixing:
    """The random parameters of one mixed batch, from ``sample_mixing``.

    Attributes:
        kind: ``none``, ``mixup`` or ``cutmix``.
        lam: The weight of each image's own label (for CutMix, the share of its area left uncovered).
        permutation: Int (N,): the partner of each image.
        box: CutMix's ``(top, bottom, left, right)``, end-exclusive; None otherwise.
    """

    kind: str
    lam: float
    permutation: np.ndarray
    box: tuple[int, int, int, int] | None = None


def _check_mixing_settings(mixup_alpha: float, cutmix_alpha: float, switch_prob: float) -> None:
    for name, alpha in (("mixup_alpha", mixup_alpha), ("cutmix_alpha", cutmix_alpha)):
        if not 0 <= alpha < math.inf:
            raise ValueError(f"{name} must be 0 (off) or a positive number, got {alpha!r}.")
    if not 0 <= switch_prob <= 1:
        raise ValueError(f"mixing_switch_prob must be between 0 and 1, got {switch_prob!r}.")


def _cutmix_box(rng: np.random.Generator, lam: float, height: int, width: int) -> tuple[int, int, int, int]:
    """timm's ``rand_bbox``: sides ``sqrt(1 - lam)`` of the image's, centred uniformly, clipped to the image."""
    ratio = math.sqrt(1.0 - lam)
    cut_height, cut_width = int(height * ratio), int(width * ratio)
    centre_y, centre_x = int(rng.integers(0, height)), int(rng.integers(0, width))
    top, bottom = np.clip([centre_y - cut_height // 2, centre_y + cut_height // 2], 0, height)
    left, right = np.clip([centre_x - cut_width // 2, centre_x + cut_width // 2], 0, width)
    return int(top), int(bottom), int(left), int(right)


def sample_mixing(  # noqa: PLR0913 - the batch's shape and the three settings
    rng: np.random.Generator,
    batch_size: int,
    height: int,
    width: int,
    mixup_alpha: float,
    cutmix_alpha: float,
    switch_prob: float = 0.5,
) -> Mixing:
    """Draws which mixing a batch gets and its parameters (timm's ``Mixup`` semantics, always applied).

    Args:
        rng: Source of every random draw.
        batch_size: Images in the batch.
        height: Image height in pixels.
        width: Image width in pixels.
        mixup_alpha: Beta parameter of mixup's lam; 0 turns mixup off.
        cutmix_alpha: Beta parameter of CutMix's lam; 0 turns CutMix off.
        switch_prob: With both alphas above 0, the probability of CutMix rather than mixup.

    Returns:
        The parameters; kind ``none`` (lam 1, the identity permutation) when both alphas are 0.

    Raises:
        ValueError: A negative alpha or a probability outside [0, 1].
    """
    _check_mixing_settings(mixup_alpha, cutmix_alpha, switch_prob)
    if mixup_alpha == 0 and cutmix_alpha == 0:
        return Mixing("none", 1.0, np.arange(batch_size))
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha == 0 or rng.random() < switch_prob)
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    lam = float(rng.beta(alpha, alpha))
    permutation = rng.permutation(batch_size)
    if not use_cutmix:
        return Mixing("mixup", lam, permutation)
    box = _cutmix_box(rng, lam, height, width)
    area = (box[1] - box[0]) * (box[3] - box[2])
    return Mixing("cutmix", 1.0 - area / (height * width), permutation, box)


@dataclass(frozen=True)
class BatchMixer:
    """Mixes a batch with parameters drawn by ``sample_mixing``: the ``mixing`` callable of ``ArrayBatches``.

    Attributes:
        mixup_alpha: Beta parameter of mixup; 0 off.
        cutmix_alpha: Beta parameter of CutMix; 0 off.
        switch_prob: Probability of CutMix when both are on.
    """

    mixup_alpha: float
    cutmix_alpha: float
    switch_prob: float = 0.5

    def __post_init__(self) -> None:
        _check_mixing_settings(self.mixup_alpha, self.cutmix_alpha, self.switch_prob)

    def __call__(
        self, images: np.ndarray, labels_one_hot: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """The mixed batch, as NumPy arrays of the input dtypes (a data pipeline's output).

        Batches that are not images (N, H, W, C), such as cached backbone features (N, D) for a head, get mixup only.

        Raises:
            ValueError: A batch that is not images when only CutMix is on.
        """
        is_image = images.ndim == 4
        if not is_image and self.mixup_alpha == 0:
            raise ValueError(
                f"cutmix_alpha needs image batches (N, H, W, C), got shape {images.shape}; use mixup_alpha for "
                "cached features."
            )
        height, width = (int(images.shape[1]), int(images.shape[2])) if is_image else (1, 1)
        cutmix_alpha = self.cutmix_alpha if is_image else 0.0
        mixing = sample_mixing(rng, len(images), height, width, self.mixup_alpha, cutmix_alpha, self.switch_prob)
        if mixing.kind == "mixup":
            mixed = mixup(images, labels_one_hot, mixing.lam, mixing.permutation)
        elif mixing.kind == "cutmix":
            mixed = cutmix(images, labels_one_hot, mixing.box, mixing.permutation)
        else:
            return images, labels_one_hot
        return tuple(np.asarray(ops.convert_to_numpy(part)) for part in mixed)


def batch_mixer(mixup_alpha: float, cutmix_alpha: float, switch_prob: float = 0.5) -> BatchMixer | None:
    """The ``BatchMixer`` of these settings, or None when both alphas are 0 (batches left as they are).

    Its keyword arguments are the ``training`` settings' values, so it serves as ``training.fit_model``'s
    ``mixing_factory``.
    """
    if mixup_alpha == 0 and cutmix_alpha == 0:
        return None
    return BatchMixer(mixup_alpha, cutmix_alpha, switch_prob)
