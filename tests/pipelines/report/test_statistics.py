"""Bootstrap interval and McNemar's test on predictions whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from image_classification.reporting.statistics import bootstrap_accuracy_ci, mcnemar_test


def _paired(
    both_right: int, only_a: int, only_b: int, both_wrong: int
) -> tuple[np.ndarray, np.ndarray]:
    """Correctness vectors of two models with the given contingency counts."""
    correct_a = np.array(
        [True] * both_right + [True] * only_a + [False] * only_b + [False] * both_wrong
    )
    correct_b = np.array(
        [True] * both_right + [False] * only_a + [True] * only_b + [False] * both_wrong
    )
    return correct_a, correct_b


def test_mcnemar_finds_no_difference_when_disagreements_are_balanced():
    result = mcnemar_test(*_paired(both_right=50, only_a=5, only_b=5, both_wrong=10))

    assert (result["b"], result["c"]) == (5, 5)
    assert result["method"] == "exact binomial"
    assert result["p_value"] == pytest.approx(1.0)


def test_mcnemar_uses_chi_square_with_continuity_correction_for_many_disagreements():
    result = mcnemar_test(*_paired(both_right=100, only_a=20, only_b=20, both_wrong=0))

    assert result["method"] == "chi-square with continuity correction"
    assert result["statistic"] == pytest.approx(1 / 40)  # (|20 - 20| - 1)^2 / 40
    assert result["p_value"] == pytest.approx(0.8744, abs=1e-4)


def test_mcnemar_finds_a_difference_when_only_one_model_is_ever_right_alone():
    result = mcnemar_test(*_paired(both_right=60, only_a=0, only_b=30, both_wrong=10))

    assert (result["b"], result["c"]) == (0, 30)
    assert result["statistic"] == pytest.approx(29**2 / 30)
    assert result["p_value"] < 1e-6


def test_mcnemar_exact_test_matches_the_binomial_by_hand():
    # b = 0, c = 10: two-sided p = 2 * 0.5 ** 10
    result = mcnemar_test(*_paired(both_right=5, only_a=0, only_b=10, both_wrong=0))

    assert result["method"] == "exact binomial"
    assert result["p_value"] == pytest.approx(2 * 0.5**10)


def test_mcnemar_of_identical_models_is_p_one():
    correct = np.array([True, False, True])
    assert mcnemar_test(correct, correct) == {
        "b": 0,
        "c": 0,
        "statistic": 0.0,
        "p_value": 1.0,
        "method": "exact binomial",
    }


def test_mcnemar_rejects_predictions_on_different_test_sets():
    with pytest.raises(ValueError, match=r"\b3\b\D+\b4\b"):
        mcnemar_test(np.ones(3, bool), np.ones(4, bool))


def test_bootstrap_interval_contains_the_accuracy_and_narrows_with_more_images():
    small = np.array([True] * 40 + [False] * 10)
    large = np.tile(small, 100)

    low_small, high_small = bootstrap_accuracy_ci(small, n_samples=1000, seed=0)
    low_large, high_large = bootstrap_accuracy_ci(large, n_samples=1000, seed=0)

    assert low_small < 0.8 < high_small
    assert low_large < 0.8 < high_large
    assert high_large - low_large < (high_small - low_small) / 5  # width shrinks like 1 / sqrt(n)
    # Normal approximation for n = 50, p = 0.8: half width 1.96 * sqrt(0.16 / 50) = 0.11
    assert high_small - low_small == pytest.approx(0.22, abs=0.04)


def test_bootstrap_interval_is_reproducible_and_bounded():
    correct = np.array([True, False] * 30)

    assert bootstrap_accuracy_ci(correct, seed=3) == bootstrap_accuracy_ci(correct, seed=3)
    assert bootstrap_accuracy_ci(np.ones(20, bool)) == (1.0, 1.0)
    low, high = bootstrap_accuracy_ci(correct, confidence=0.5)
    wide_low, wide_high = bootstrap_accuracy_ci(correct, confidence=0.99)
    assert wide_low <= low <= high <= wide_high


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"correct": np.array([], bool)}, "zero test images"),
        ({"confidence": 1.5}, "report.confidence"),
        ({"n_samples": 0}, "report.bootstrap_samples"),
    ],
)
def test_bootstrap_rejects_bad_input_naming_the_setting(kwargs, message):
    arguments = {"correct": np.ones(5, bool), **kwargs}
    with pytest.raises(ValueError, match=message):
        bootstrap_accuracy_ci(**arguments)
