"""Training batches fed from the preprocessed uint8 arrays: no image is decoded again during training.

The arrays may be memory-mapped (``np.load(..., mmap_mode="r")``, as the catalog loads the preprocessed splits): a
batch then reads only its own rows from disk. Pages a process has read stay counted in its resident memory until the
kernel needs them back, and a read maps more than it asks for (the kernel maps whole page-cache folios, often MBs
around each row: 64 scattered rows of 77 KB mapped about 90 MB on ext4), so after every batch the mapping is told
its pages are no longer needed (``release_mapped_pages``, about 0.1 ms): resident memory stays about one batch, not
the whole split, and the next epoch reads the rows again from the page cache.
"""

from __future__ import annotations

import math
import mmap
from collections.abc import Callable
from contextlib import suppress

import keras
import numpy as np

from image_classification.training.distribution import training_replicas

#: Mixes one training batch: ``(float32 images, one-hot labels, generator) -> (images, labels)``, e.g.
#: ``models.batch_mixing.BatchMixer`` (mixup, CutMix). Passed in from outside: ``training`` imports no ``models``.
BatchMixing = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]
#: Builds the ``BatchMixing`` of the ``training`` settings, called with ``mixup_alpha=, cutmix_alpha=, switch_prob=``:
#: ``models.batch_mixing.batch_mixer``, which the caller of ``fit_model`` passes in.
MixingFactory = Callable[..., BatchMixing | None]


def build_mixing(
    mixing_factory: MixingFactory | None, mixup_alpha: float, cutmix_alpha: float, switch_prob: float
) -> BatchMixing | None:
    """The mixing the ``training`` settings turn on (an alpha above 0), or None when both alphas are 0.

    Raises:
        ValueError: Mixing turned on but no ``mixing_factory`` to build it with.
    """
    if mixup_alpha == 0 and cutmix_alpha == 0:
        return None
    if mixing_factory is None:
        raise ValueError(
            f"training.mixup_alpha ({mixup_alpha}) / cutmix_alpha ({cutmix_alpha}) turn batch mixing on, but no "
            "mixing_factory was given: pass mixing_factory=models.batch_mixing.batch_mixer."
        )
    return mixing_factory(mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, switch_prob=switch_prob)


def release_mapped_pages(array: np.ndarray) -> bool:
    """Drops the pages of a read-only memory-mapped ``array`` from this process's resident memory.

    Safe only because the mapping is read-only: its pages are the file's, and the next read fetches them again (from
    the page cache, or the disk). Writable mappings and in-memory arrays are left alone.

    Returns:
        True when pages were released.
    """
    if array.flags.writeable:
        return False
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    if base is None or not hasattr(base, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return False
    with suppress(ValueError, OSError):  # closed, or a platform that refuses: only memory use is at stake
        base.madvise(mmap.MADV_DONTNEED)
        return True
    return False


class ArrayBatches(keras.utils.PyDataset):
    """Batches of uint8 arrays, in memory or memory-mapped: float32 images (cast per batch) and one-hot float32 labels.

    With ``shuffle`` the order is redrawn at the start of every epoch, from a generator seeded with ``seed`` and the
    epoch's number: a run resumed at epoch k (``EpochFollower`` tells it k) reads the batches the uninterrupted run
    read. Shuffled
    (training) batches split between several devices (``distribution.training_replicas``) leave out the last
    ``N % devices`` rows of each epoch's order, a different few every epoch, so that every batch splits evenly.

    ``mixing`` (shuffled batches only) is applied to each batch after the cast, with a generator seeded from
    ``seed``, the epoch and the batch index: the same batch is mixed the same way whatever order it is read in, and
    the shuffled order does not depend on whether batches are mixed. Without it batches are exactly the arrays'.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        num_classes: int,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int | None = None,
        mixing: BatchMixing | None = None,
    ) -> None:
        """Batches of ``images`` and ``labels``.

        Args:
            images: uint8 (or any) array (N, ...), in memory or memory-mapped.
            labels: Class indices (N,).
            num_classes: Width of the one-hot labels.
            batch_size: Rows per batch (the last one may be smaller).
            shuffle: Redraw the order every epoch (training batches).
            seed: Seeds the order and the mixing.
            mixing: Mixes each shuffled batch (mixup, CutMix); None leaves batches as they are.

        Raises:
            ValueError: ``mixing`` without ``shuffle``: validation and evaluation batches are never mixed.
        """
        super().__init__()
        if mixing is not None and not shuffle:
            raise ValueError("mixing applies to shuffled training batches only; pass shuffle=True or no mixing.")
        self.images, self.labels = images, np.asarray(labels, dtype=np.int64)
        self.num_classes, self.batch_size, self.shuffle = num_classes, batch_size, shuffle
        self.mixing = mixing
        # Every epoch's order and mixing come from this and the epoch (and batch) number, not from a running generator.
        self._seed = int(np.random.SeedSequence(seed).entropy)
        self._epoch = 0
        replicas = training_replicas() if shuffle else 1
        self._order = np.arange(len(self.labels) - len(self.labels) % replicas)

    def __len__(self) -> int:
        return math.ceil(len(self._order) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        one_hot = np.eye(self.num_classes, dtype=np.float32)[self.labels[rows]]
        images = self.images[rows].astype(np.float32)
        release_mapped_pages(self.images)
        if self.mixing is not None:
            images, one_hot = self.mixing(images, one_hot, np.random.default_rng([self._seed, self._epoch, index]))
        return images, one_hot

    def on_epoch_begin(self) -> None:
        self._epoch += 1
        if self.shuffle:
            order = np.random.default_rng([self._seed, self._epoch]).permutation(len(self.labels))
            self._order = order[: len(self._order)]

    def resume_after(self, epochs_done: int) -> None:
        """The next epoch is number ``epochs_done + 1`` (a run restored from its backup skips the epochs it had)."""
        self._epoch = epochs_done


class EpochFollower(keras.callbacks.Callback):
    """Tells training batches which epoch begins, before Keras asks them for it: after a resume, Keras starts at the
    backed-up epoch, and the batches must draw that epoch's order, not the first one's."""

    def __init__(self, batches: ArrayBatches) -> None:
        super().__init__()
        self._batches = batches

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._batches.resume_after(epoch)
