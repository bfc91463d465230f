"""KID and FID against their definitions, KID's bootstrap spread, the gap closed and the copying check, on small
feature sets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from image_classification.reporting.generative_metrics import (
    copying_check,
    frechet_distance,
    gap_closed,
    kernel_distance,
    kid_bootstrap_std,
    nearest_neighbours,
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
    with pytest.raises(ValueError, match=r"\b4\b\D+\b5\b"):
        kernel_distance(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"generated\b.*\(1, 4\)"):
        frechet_distance(np.zeros((3, 4)), np.zeros((1, 4)))


def test_kid_bootstrap_spread_shrinks_with_more_images_and_is_reproducible() -> None:
    rng = np.random.default_rng(4)
    small = kid_bootstrap_std(rng.normal(size=(30, 8)), rng.normal(0.3, 1, (30, 8)), resamples=200, seed=0)
    large = kid_bootstrap_std(rng.normal(size=(300, 8)), rng.normal(0.3, 1, (300, 8)), resamples=200, seed=0)
    assert 0 < large < small / 2  # ten times the images: about a third of the spread
    x, y = rng.normal(size=(20, 4)), rng.normal(size=(25, 4))
    assert kid_bootstrap_std(x, y, 50, seed=1) == kid_bootstrap_std(x, y, 50, seed=1)


def test_gap_closed_places_a_score_between_its_references() -> None:
    assert gap_closed(2.0, worst=2.0, best=0.0) == 0.0
    assert gap_closed(0.5, worst=2.0, best=0.0) == 0.75
    assert gap_closed(3.0, worst=2.0, best=1.0) == -1.0  # worse than the worst reference
    with pytest.raises(ValueError):
        gap_closed(1.0, worst=1.0, best=1.0)


def test_nearest_neighbours_by_euclidean_distance() -> None:
    references = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    nearest, distances = nearest_neighbours(np.array([[1.0, 0.0], [9.0, 1.0], [0.0, 13.0]]), references)
    assert nearest.tolist() == [0, 1, 2]
    np.testing.assert_allclose(distances, [1.0, np.sqrt(2.0), 3.0])


def test_copying_check_fails_a_generator_that_returns_its_training_images() -> None:
    rng = np.random.default_rng(5)
    training = rng.normal(size=(40, 6)) * 10
    test = rng.normal(size=(20, 6)) * 10  # unseen images of the same distribution
    copies = training[:16] + rng.normal(scale=0.01, size=(16, 6))
    novel = rng.normal(size=(16, 6)) * 10

    copied = copying_check(copies, test, training)
    assert not copied.passed and copied.generated_median < 0.1 < copied.test_median
    assert copied.generated_nearest.tolist() == list(range(16))
    fresh = copying_check(novel, test, training)
    assert fresh.passed == (fresh.generated_median >= fresh.test_median)
    assert fresh.generated_median == pytest.approx(np.median(nearest_neighbours(novel, training)[1]))
    assert len(fresh.test_distances) == 20 and len(fresh.generated_distances) == 16
