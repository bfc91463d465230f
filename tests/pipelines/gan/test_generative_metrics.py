"""KID and FID against their definitions, on small feature sets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from image_classification.reporting.generative_metrics import (
    frechet_distance,
    kernel_distance,
    polynomial_kernel,
    unbiased_mmd2,
)


def _reference_fid(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook formula, with SciPy's matrix square root."""
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    difference = x.mean(axis=0) - y.mean(axis=0)
    return float(difference @ difference + np.trace(cov_x + cov_y - 2 * np.real(linalg.sqrtm(cov_x @ cov_y))))


def test_frechet_distance_matches_the_matrix_square_root_formula() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 6)), rng.normal(0.5, 1.5, size=(45, 6))

    assert frechet_distance(x, y) == pytest.approx(_reference_fid(x, y), rel=1e-9)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_stays_finite_with_fewer_images_than_dimensions() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(20, 64)), rng.normal(size=(15, 64)) + 1.0

    assert frechet_distance(x, y) == pytest.approx(_reference_fid(x, y), rel=1e-6)


def test_unbiased_mmd2_leaves_out_self_similarity() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    expected = (
        sum(polynomial_kernel(x[[i]], x[[j]])[0, 0] for i in range(5) for j in range(5) if i != j) / 20
        + sum(polynomial_kernel(y[[i]], y[[j]])[0, 0] for i in range(4) for j in range(4) if i != j) / 12
        - 2 * polynomial_kernel(x, y).mean()
    )
    assert polynomial_kernel(x[[0]], y[[0]])[0, 0] == pytest.approx((x[0] @ y[0] / 3 + 1) ** 3)
    assert unbiased_mmd2(x, y) == pytest.approx(expected)


def test_kid_is_near_zero_for_one_distribution_and_large_for_two() -> None:
    rng = np.random.default_rng(3)
    real, more_real, other = rng.normal(size=(80, 16)), rng.normal(size=(70, 16)), rng.normal(0.8, 1, (70, 16))

    same = kernel_distance(real, more_real, subsets=50, subset_size=40, seed=0)
    different = kernel_distance(real, other, subsets=50, subset_size=40, seed=0)

    assert abs(same.mean) < 3 * same.std  # unbiased: zero within its spread
    assert different.mean > 10 * max(same.std, abs(same.mean))
    assert same.subset_size == 40
    assert kernel_distance(real, other[:12], subset_size=40).subset_size == 12  # capped at the smaller set


def test_feature_sets_must_match() -> None:
    with pytest.raises(ValueError, match="same network: 4 vs 5 dimensions"):
        kernel_distance(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="generated must be a 2-D array of at least 2 feature rows"):
        frechet_distance(np.zeros((3, 4)), np.zeros((1, 4)))
