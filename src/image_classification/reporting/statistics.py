"""Uncertainty and significance on a shared test set: bootstrap intervals and McNemar's test."""

from __future__ import annotations

import numpy as np

# Below this many discordant pairs the chi-square approximation is poor, so the exact binomial test is used.
MCNEMAR_EXACT_BELOW = 25


def _as_bool_vector(correct: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(correct)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of per-image correctness, got shape {array.shape}."
        )
    return array.astype(bool)


def bootstrap_accuracy_ci(
    correct: np.ndarray,
    n_samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the accuracy.

    Resampling N test images with replacement from a set where K are right gives a number of right answers that
    follows Binomial(N, K/N) exactly, so each resample is drawn from that distribution directly: the same
    bootstrap, in O(n_samples) memory instead of O(n_samples * N).

    Args:
        correct: One boolean per test image, True where the prediction was right.
        n_samples: Number of bootstrap resamples (``report.bootstrap_samples``).
        confidence: Coverage of the interval, e.g. 0.95.
        seed: Seed of the resampling, so reports are reproducible.

    Returns:
        ``(low, high)`` accuracy bounds in [0, 1].

    Raises:
        ValueError: If there are no test images, ``n_samples`` < 1 or ``confidence`` is not in (0, 1).
    """
    correct = _as_bool_vector(correct, "correct")
    if correct.size == 0:
        raise ValueError(
            "Cannot bootstrap an accuracy over zero test images; the test split is empty."
        )
    if n_samples < 1:
        raise ValueError(f"report.bootstrap_samples must be >= 1, got {n_samples}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(
            f"report.confidence must be between 0 and 1 (e.g. 0.95), got {confidence}."
        )
    rng = np.random.default_rng(seed)
    n_images = correct.size
    resampled_accuracy = rng.binomial(n_images, correct.mean(), size=int(n_samples)) / n_images
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(resampled_accuracy, [tail, 100.0 - tail])
    return float(low), float(high)


def mcnemar_test(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """McNemar's test of whether two classifiers have the same accuracy on the same test images.

    Only the discordant images count: ``b`` = A right and B wrong, ``c`` = A wrong and B right. With fewer than
    25 of them the exact two-sided binomial test (B(b + c, 1/2)) is used; otherwise the chi-square statistic with
    continuity correction ``(|b - c| - 1)^2 / (b + c)`` on one degree of freedom.

    Args:
        correct_a: One boolean per test image for model A.
        correct_b: One boolean per test image for model B, same images in the same order.

    Returns:
        Dict with ``b``, ``c`` (ints), ``statistic`` (``min(b, c)`` for the exact test, chi-square otherwise),
        ``p_value`` and ``method`` (``"exact binomial"`` or ``"chi-square with continuity correction"``).

    Raises:
        ValueError: If the two arrays do not have the same length.
    """
    correct_a = _as_bool_vector(correct_a, "correct_a")
    correct_b = _as_bool_vector(correct_b, "correct_b")
    if correct_a.shape != correct_b.shape:
        raise ValueError(
            f"McNemar's test needs both models scored on the same test images, got {correct_a.size} "
            f"and {correct_b.size} predictions."
        )
    # Imported here: SciPy is needed by this test only, not to import the reporting library.
    from scipy import stats  # noqa: PLC0415

    b = int(np.sum(correct_a & ~correct_b))
    c = int(np.sum(~correct_a & correct_b))
    discordant = b + c
    if discordant == 0:
        return {"b": 0, "c": 0, "statistic": 0.0, "p_value": 1.0, "method": "exact binomial"}
    if discordant < MCNEMAR_EXACT_BELOW:
        p_value = stats.binomtest(min(b, c), discordant, 0.5, alternative="two-sided").pvalue
        return {
            "b": b,
            "c": c,
            "statistic": float(min(b, c)),
            "p_value": float(min(1.0, p_value)),
            "method": "exact binomial",
        }
    statistic = (abs(b - c) - 1.0) ** 2 / discordant
    return {
        "b": b,
        "c": c,
        "statistic": float(statistic),
        "p_value": float(stats.chi2.sf(statistic, df=1)),
        "method": "chi-square with continuity correction",
    }
