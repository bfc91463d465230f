"""How close generated images are to real ones, measured on feature vectors: KID and FID (NumPy and SciPy only).

Both compare two sets of features (rows) from one pretrained network; lower is closer, 0 for identical
distributions.

* **KID** (Kernel Inception Distance, Binkowski et al. 2018): the squared maximum mean discrepancy with the cubic
  polynomial kernel k(x, y) = (x.y / d + 1)^3, by its unbiased estimator, averaged over random subsets. Unbiased, so
  it is valid for small samples and comparable across sample sizes; it can be slightly negative when the sets match.
* **FID** (Fréchet Inception Distance, Heusel et al. 2017): the Fréchet distance between Gaussians fitted to the
  two sets. Biased upwards, the more so the fewer images there are per feature dimension: compare FIDs only at
  equal sample sizes.

KID's spread comes from a bootstrap over the images (``kid_bootstrap_std``): subsets drawn from a few dozen test
images overlap so much that their spread understates how much the score would move with other test images.
``gap_closed`` puts a score between two references, and ``copying_check`` asks whether generated images sit closer
to the training images than unseen real ones do (memorisation).

The names keep "Inception" from the papers; the features here may come from another network (see docs/generative.md).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import linalg


class KernelDistance(NamedTuple):
    """KID averaged over subsets, its standard deviation across them, and the subset size used."""

    mean: float
    std: float
    subset_size: int


def _features(features: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or len(array) < 2:
        raise ValueError(f"{name} must be a 2-D array of at least 2 feature rows, got shape {array.shape}.")
    return array


def _same_width(real: np.ndarray, generated: np.ndarray) -> None:
    if real.shape[1] != generated.shape[1]:
        raise ValueError(
            f"Both feature sets must come from the same network: {real.shape[1]} vs {generated.shape[1]} dimensions."
        )


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / d + 1)^3 for every pair of rows of ``x`` and ``y`` (d: the feature dimension)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _mmd2_of_kernels(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    """Unbiased MMD^2 from the kernel matrices: within-set sums leave out the diagonal (a point with itself)."""
    m, n = len(k_xx), len(k_yy)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * k_xy.mean())


def unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased estimate of MMD^2 between the samples ``x`` and ``y`` under ``polynomial_kernel``."""
    return _mmd2_of_kernels(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))


def kernel_distance(
    real: np.ndarray, generated: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> KernelDistance:
    """KID between two feature sets: unbiased MMD^2 over ``subsets`` random subsets, drawn without replacement.

    The kernel matrices of the whole sets are computed once; each subset takes its rows and columns from them.

    Args:
        real: (N, d) features of real images.
        generated: (M, d) features of the other images, from the same network.
        subsets: Number of random subsets averaged.
        subset_size: Rows drawn from each set per subset; capped at the smaller set's size.
        seed: Seeds the subsets.

    Raises:
        ValueError: Fewer than 2 rows in a set, or sets of different widths.
    """
    real, generated = _features(real, "real"), _features(generated, "generated")
    _same_width(real, generated)
    size = min(subset_size, len(real), len(generated))
    k_rr, k_gg, k_rg = (
        polynomial_kernel(real, real), polynomial_kernel(generated, generated), polynomial_kernel(real, generated)
    )
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        r = rng.choice(len(real), size, replace=False)
        g = rng.choice(len(generated), size, replace=False)
        values.append(_mmd2_of_kernels(k_rr[np.ix_(r, r)], k_gg[np.ix_(g, g)], k_rg[np.ix_(r, g)]))
    return KernelDistance(float(np.mean(values)), float(np.std(values)), size)


def frechet_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """FID between two feature sets: |mu_r - mu_g|^2 + Tr(S_r) + Tr(S_g) - 2 Tr((S_r S_g)^(1/2)).

    The trace of the matrix square root is the sum of the singular values (nuclear norm) of ``G R^T`` scaled by
    ``1 / sqrt((n_r - 1)(n_g - 1))``, where ``R`` and ``G`` are the centred feature rows: exact, an ``n_g x n_r``
    SVD instead of a ``d x d`` square root, and stable when there are fewer images than dimensions (singular
    covariances).
    """
    real, generated = _features(real, "real"), _features(generated, "generated")
    _same_width(real, generated)
    centred_real, centred_generated = real - real.mean(axis=0), generated - generated.mean(axis=0)
    scale = np.sqrt((len(real) - 1) * (len(generated) - 1))
    trace_root = linalg.svdvals(centred_generated @ centred_real.T).sum() / scale
    trace_real = (centred_real**2).sum() / (len(real) - 1)
    trace_generated = (centred_generated**2).sum() / (len(generated) - 1)
    mean_difference = real.mean(axis=0) - generated.mean(axis=0)
    distance = mean_difference @ mean_difference + trace_real + trace_generated - 2.0 * trace_root
    return float(max(distance, 0.0))  # rounding can leave -1e-12 for identical sets


def _resampled_within(kernel: np.ndarray, picks: np.ndarray) -> float:
    """Mean kernel over pairs of a bootstrap sample, leaving out pairs of one original image with itself."""
    distinct = picks[:, None] != picks[None, :]
    return float(kernel[np.ix_(picks, picks)][distinct].mean())


def kid_bootstrap_std(real: np.ndarray, generated: np.ndarray, resamples: int = 200, seed: int = 0) -> float:
    """KID's standard deviation over bootstrap resamples of both sets (each drawn with replacement, full size).

    Each resample's unbiased MMD^2 leaves out, in the within-set means, every pair of copies of one image (the
    bootstrap's version of leaving out the diagonal), so duplicates do not bias it.

    Raises:
        ValueError: Fewer than 2 rows in a set, or sets of different widths.
    """
    real, generated = _features(real, "real"), _features(generated, "generated")
    _same_width(real, generated)
    k_rr, k_gg, k_rg = (
        polynomial_kernel(real, real), polynomial_kernel(generated, generated), polynomial_kernel(real, generated)
    )
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        r, g = rng.integers(0, len(real), len(real)), rng.integers(0, len(generated), len(generated))
        if len(np.unique(r)) < 2 or len(np.unique(g)) < 2:
            continue  # one image drawn every time: no pair to compare
        values.append(_resampled_within(k_rr, r) + _resampled_within(k_gg, g) - 2.0 * k_rg[np.ix_(r, g)].mean())
    return float(np.std(values))


def gap_closed(score: float, worst: float, best: float) -> float:
    """Share of the distance from the ``worst`` reference to the ``best`` one that ``score`` covers (1: at best)."""
    if worst == best:
        raise ValueError(f"The two references must differ to define a gap, both are {worst}.")
    return float((worst - score) / (worst - best))


def nearest_neighbours(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the index of its nearest reference row and the Euclidean distance to it."""
    queries, references = _features(queries, "queries"), _features(references, "references")
    _same_width(queries, references)
    squared = (queries**2).sum(axis=1)[:, None] - 2.0 * queries @ references.T + (references**2).sum(axis=1)[None, :]
    nearest = squared.argmin(axis=1)
    return nearest, np.sqrt(np.maximum(squared[np.arange(len(queries)), nearest], 0.0))


class CopyingCheck(NamedTuple):
    """Distances to the nearest training image: of generated images and of real images never trained on."""

    generated_nearest: np.ndarray
    generated_distances: np.ndarray
    test_nearest: np.ndarray
    test_distances: np.ndarray
    generated_median: float
    test_median: float
    passed: bool


def copying_check(generated: np.ndarray, test: np.ndarray, training: np.ndarray) -> CopyingCheck:
    """Whether the generator memorised: generated images' distances to their nearest training image vs test images'.

    A generator that copies its training images puts its samples closer to them than unseen real images of the
    same distribution are. The check passes when the median generated-to-nearest-training distance is at least the
    median test-to-nearest-training one.

    Args:
        generated: (M, d) features of generated images.
        test: (N, d) features of real images not trained on.
        training: (T, d) features of every training image.
    """
    generated_nearest, generated_distances = nearest_neighbours(generated, training)
    test_nearest, test_distances = nearest_neighbours(test, training)
    generated_median, test_median = float(np.median(generated_distances)), float(np.median(test_distances))
    return CopyingCheck(
        generated_nearest, generated_distances, test_nearest, test_distances, generated_median, test_median,
        generated_median >= test_median,
    )  # fmt: skip
