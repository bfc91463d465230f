"""Side-by-side comparison of trained models and significance tests between training strategies."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from image_classification.reporting.statistics import mcnemar_test

# Strategies in the order a reader expects them; unknown strategies follow alphabetically.
STRATEGY_ORDER = ("scratch", "transfer", "finetune")
#: The strategy of the linear probes (``baseline.linear_probe.<backbone>``): a floor, not a contender.
BASELINE_STRATEGY = "baseline"

# Test metrics from ``evaluate_model`` and training cost from the training summary, per model.
_TEST_METRICS = [
    "test_images",
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "top5_accuracy",
    "macro_f1",
    "log_loss",
    "tta_accuracy",
]
_SUMMARY_COLUMNS = ["validation_accuracy", "train_time_s", "epochs_run", "trainable_params", "total_params"]
_METRIC_COLUMNS = [*_TEST_METRICS, "inference_images_per_s"]
COMPARISON_COLUMNS = [
    "model",
    "strategy",
    *_TEST_METRICS,
    *_SUMMARY_COLUMNS,
    "inference_images_per_s",
]

STRATEGY_TEST_COLUMNS = [
    "comparison",
    "strategy_a",
    "model_a",
    "accuracy_a",
    "strategy_b",
    "model_b",
    "accuracy_b",
    "only_a_correct",
    "only_b_correct",
    "statistic",
    "p_value",
    "method",
    "alpha",
    "significant",
    "conclusion",
]


def strategy_of(model: str) -> str:
    """Strategy part of a model namespace: ``"transfer.mobilenet_v2"`` -> ``"transfer"``."""
    return model.split(".", 1)[0]


def _nan_if_none(value: Any) -> float:
    return float("nan") if value is None else value


def compare_models(evaluations: dict[str, dict], summaries: dict[str, dict]) -> pd.DataFrame:
    """One row per model with its test metrics and training cost, best accuracy first.

    Args:
        evaluations: Model namespace -> output of ``evaluate_model``.
        summaries: Model namespace -> training summary (``train_time_s``, ``epochs_run``, ``trainable_params``,
            ``total_params``, ``strategy``, ...).

    Returns:
        DataFrame with ``COMPARISON_COLUMNS``; a missing top-5 accuracy is NaN. Ties keep model-name order.

    Raises:
        ValueError: If the two dicts do not name the same models.
    """
    if set(evaluations) != set(summaries):
        raise ValueError(
            f"Evaluations exist for {sorted(evaluations)} but training summaries for {sorted(summaries)}; "
            "every evaluated model needs its <namespace>.training_summary from training."
        )
    rows = []
    for model in sorted(evaluations):
        metrics = evaluations[model]["metrics"]
        summary = summaries[model]
        row = {"model": model, "strategy": summary.get("strategy") or strategy_of(model)}
        row.update({column: _nan_if_none(metrics.get(column)) for column in _METRIC_COLUMNS})
        row.update({column: _nan_if_none(summary.get(column)) for column in _SUMMARY_COLUMNS})
        rows.append(row)
    table = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    # Stable sort on a name-sorted table: equal accuracies stay in name order.
    return table.sort_values("accuracy", ascending=False, kind="mergesort").reset_index(drop=True)


def _ordered_strategies(strategies: set[str]) -> list[str]:
    known = [strategy for strategy in STRATEGY_ORDER if strategy in strategies]
    return known + sorted(strategies - set(STRATEGY_ORDER) - {BASELINE_STRATEGY})


def validation_accuracy(summary: dict | None) -> float:
    """What chooses between models: the training summary's ``validation_accuracy`` (the best epoch's accuracy on the
    validation split, or the inner cross-validated accuracy of a head or probe fitted on train + validation);
    minus infinity when it is missing, so such a model is never chosen over one that has it."""
    value = (summary or {}).get("validation_accuracy")
    return float(value) if value is not None and np.isfinite(value) else float("-inf")


def best_model_per_strategy(summaries: dict[str, dict]) -> dict[str, str]:
    """Strategy -> its model with the best validation accuracy (ties: the first name alphabetically).

    Chosen on validation data only, never on the test split; baselines are not a strategy here.
    """
    best: dict[str, str] = {}
    for model in sorted(summaries):
        strategy = strategy_of(model)
        if strategy == BASELINE_STRATEGY:
            continue
        if strategy not in best or validation_accuracy(summaries[model]) > validation_accuracy(summaries[best[strategy]]):
            best[strategy] = model
    return {strategy: best[strategy] for strategy in _ordered_strategies(set(best))}


def comparison_pairs(models: list[str], summaries: dict[str, dict]) -> list[tuple[str, str, str]]:
    """The pairs McNemar's test compares, as ``(kind, model_a, model_b)``, none chosen by a test score.

    * ``strategies``: the best model of each strategy (``best_model_per_strategy``) against each other's;
    * ``fine-tune vs transfer``: each fine-tuned model against the transfer model it started from;
    * ``head vs probe``: each transfer model against the linear probe of its backbone.
    """
    best = best_model_per_strategy({model: summaries.get(model) or {} for model in models})
    present = set(models)
    specific = []
    for model in sorted(models):
        strategy, _, name = model.partition(".")
        if strategy == "finetune" and f"transfer.{name}" in present:
            specific.append(("fine-tune vs transfer", model, f"transfer.{name}"))
        if strategy == "transfer" and f"{BASELINE_STRATEGY}.linear_probe.{name}" in present:
            specific.append(("head vs probe", model, f"{BASELINE_STRATEGY}.linear_probe.{name}"))
    # A pair is tested once: when the best fine-tuned and transfer models share a backbone, it is that pair
    tested = {frozenset(pair[1:]) for pair in specific}
    strategies = [("strategies", best[a], best[b]) for a, b in combinations(best, 2)]
    return [pair for pair in strategies if frozenset(pair[1:]) not in tested] + specific


def _check_same_test_set(evaluations: dict[str, dict]) -> None:
    reference_model, *others = sorted(evaluations)
    reference = np.asarray(evaluations[reference_model]["labels"])
    for model in others:
        if not np.array_equal(np.asarray(evaluations[model]["labels"]), reference):
            raise ValueError(
                f"{model} and {reference_model} were evaluated on different test labels; McNemar's test needs "
                "the same images in the same order. Re-run the report pipeline on one images_test."
            )


def _conclusion(row: dict, n_images: int) -> str:
    a, b = row["model_a"], row["model_b"]
    accuracy_a, accuracy_b = row["accuracy_a"], row["accuracy_b"]
    test = f"McNemar's test, {row['method']}, on the same {n_images} test images: p = {row['p_value']:.3g}"
    discordant = (
        f"{row['only_a_correct']} images only {a} got right, {row['only_b_correct']} only {b}"
    )
    if row["significant"]:
        better, worse = (a, b) if accuracy_a > accuracy_b else (b, a)
        return (
            f"{better} ({max(accuracy_a, accuracy_b):.1%}) is significantly more accurate than {worse} "
            f"({min(accuracy_a, accuracy_b):.1%}) at alpha = {row['alpha']:g} ({test}; {discordant})."
        )
    return (
        f"No significant difference between {a} ({accuracy_a:.1%}) and {b} ({accuracy_b:.1%}) at "
        f"alpha = {row['alpha']:g} ({test}; {discordant}); this test set cannot tell them apart."
    )


def compare_strategies(
    evaluations: dict[str, dict], summaries: dict[str, dict] | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """McNemar's test on every pair of ``comparison_pairs``: strategies, fine-tune vs transfer, head vs probe.

    Args:
        evaluations: Model namespace (``<strategy>.<name>``) -> output of ``evaluate_model``.
        summaries: Model namespace -> training summary; its ``validation_accuracy`` picks each strategy's best model.
            Missing: no model of a strategy has one, and ties go to the first name.
        alpha: Significance level (``report.alpha``).

    Returns:
        DataFrame with ``STRATEGY_TEST_COLUMNS``, one row per pair (none with a single model); ``conclusion`` states
        the result in plain words.

    Raises:
        ValueError: If ``alpha`` is not in (0, 1) or the models were scored on different test labels.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"report.alpha must be between 0 and 1 (e.g. 0.05), got {alpha}.")
    if not evaluations:
        return pd.DataFrame(columns=STRATEGY_TEST_COLUMNS)
    _check_same_test_set(evaluations)
    rows = []
    for kind, model_a, model_b in comparison_pairs(sorted(evaluations), summaries or {}):
        eval_a, eval_b = evaluations[model_a], evaluations[model_b]
        labels = np.asarray(eval_a["labels"])
        test = mcnemar_test(
            np.asarray(eval_a["predictions"]) == labels, np.asarray(eval_b["predictions"]) == labels
        )
        row = {
            "comparison": kind,
            "strategy_a": strategy_of(model_a),
            "model_a": model_a,
            "accuracy_a": float(eval_a["metrics"]["accuracy"]),
            "strategy_b": strategy_of(model_b),
            "model_b": model_b,
            "accuracy_b": float(eval_b["metrics"]["accuracy"]),
            "only_a_correct": test["b"],
            "only_b_correct": test["c"],
            "statistic": test["statistic"],
            "p_value": test["p_value"],
            "method": test["method"],
            "alpha": float(alpha),
            "significant": bool(test["p_value"] < alpha),
        }
        row["conclusion"] = _conclusion(row, labels.size)
        rows.append(row)
    return pd.DataFrame(rows, columns=STRATEGY_TEST_COLUMNS)
