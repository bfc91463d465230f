"""Report nodes on fixed predictions with hand-computed answers, and evaluate_model on a real Keras model."""

from __future__ import annotations

import base64
import io
import math
import re

import numpy as np
import pytest

from image_classification.pipelines.report import mlflow_nodes, nodes
from image_classification.reporting.comparison import COMPARISON_COLUMNS, STRATEGY_TEST_COLUMNS
from image_classification.reporting.figures import plot_learning_curves
from image_classification.reporting.metrics import classification_metrics

# 3-class toy: 4 of 6 right. Per class F1: class 0 = 0.5, class 1 = 0.8 (P 2/3, R 1), class 2 = 2/3 (P 1, R 1/2).
TOY_LABELS = np.array([0, 0, 1, 1, 2, 2])
TOY_PREDICTIONS = np.array([0, 1, 1, 1, 2, 0])


def confident(predictions: np.ndarray, n_classes: int, top: float = 0.8) -> np.ndarray:
    """Probabilities putting `top` on the predicted class and spreading the rest evenly."""
    rest = (1.0 - top) / (n_classes - 1)
    probabilities = np.full((predictions.size, n_classes), rest, dtype=np.float32)
    probabilities[np.arange(predictions.size), predictions] = top
    return probabilities


def evaluation(labels, predictions, n_classes=3, accuracy=None) -> dict:
    """An evaluate_model-like dict built from fixed predictions."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    probabilities = confident(predictions, n_classes)
    metrics = classification_metrics(probabilities, labels, bootstrap_samples=100)
    metrics["inference_images_per_s"] = 100.0
    if accuracy is not None:
        metrics["accuracy"] = accuracy
    return {
        "probabilities": probabilities,
        "labels": labels,
        "predictions": predictions,
        "metrics": metrics,
    }


def summary(strategy: str, seconds: float = 10.0) -> dict:
    return {
        "train_time_s": seconds,
        "epochs_run": 3,
        "trainable_params": 1_000,
        "total_params": 5_000,
        "strategy": strategy,
        "model_name": "m",
        "image_size": 8,
    }


def test_metrics_of_a_three_class_toy_match_hand_computation():
    metrics = classification_metrics(
        confident(TOY_PREDICTIONS, 3), TOY_LABELS, bootstrap_samples=500
    )

    assert metrics["test_images"] == 6
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert metrics["log_loss"] == pytest.approx(
        (4 * -math.log(0.8) + 2 * -math.log(0.1)) / 6, rel=1e-5
    )
    assert metrics["top5_accuracy"] is None  # 3 classes: top-5 is trivially 100%
    assert metrics["accuracy_ci_low"] <= 4 / 6 <= metrics["accuracy_ci_high"]


def test_log_loss_of_perfectly_confident_right_predictions_is_zero():
    labels = np.array([0, 1, 2, 1])
    metrics = classification_metrics(np.eye(3, dtype=np.float32)[labels], labels)

    assert metrics["accuracy"] == 1.0
    assert metrics["log_loss"] == pytest.approx(0.0, abs=1e-6)


def test_top5_accuracy_counts_true_classes_among_the_five_most_probable():
    ranked = np.array(
        [0.3, 0.25, 0.2, 0.1, 0.08, 0.05, 0.02], dtype=np.float32
    )  # rank r -> ranked[r]
    labels = np.array([0, 1, 2, 3])
    true_class_rank = [0, 4, 5, 6]  # 1st and 5th are in the top 5, 6th and 7th are not
    probabilities = np.empty((4, 7), dtype=np.float32)
    for row, (label, rank) in enumerate(zip(labels, true_class_rank)):
        others = [c for c in range(7) if c != label]
        order = others[:rank] + [label] + others[rank:]  # classes from most to least probable
        probabilities[row, order] = ranked

    assert classification_metrics(probabilities, labels)["top5_accuracy"] == pytest.approx(0.5)


def test_metrics_reject_logits_with_a_fix():
    with pytest.raises(ValueError, match="softmax"):
        classification_metrics(np.array([[2.0, -1.0, 0.5]], dtype=np.float32), np.array([0]))


def test_per_class_report_lists_every_class(class_names):
    report = nodes.per_class_report(
        {"labels": TOY_LABELS, "predictions": TOY_PREDICTIONS}, class_names
    )

    assert list(report.columns) == ["class", "precision", "recall", "f1", "support"]
    assert report["class"].tolist() == class_names
    assert report["f1"].tolist() == pytest.approx([0.5, 0.8, 2 / 3])
    assert report["support"].tolist() == [2, 2, 2]


def test_evaluate_model_on_a_real_trained_model_is_consistent(
    trained_model_and_history, images_test, class_names, report_config
):
    model, _ = trained_model_and_history

    result = nodes.evaluate_model(model, images_test, class_names, report_config)

    probabilities = result["probabilities"]
    assert probabilities.shape == (30, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(result["labels"], images_test["labels"])
    np.testing.assert_array_equal(result["predictions"], probabilities.argmax(axis=1))
    direct = model.predict(images_test["images"].astype("float32"), verbose=0)
    np.testing.assert_allclose(probabilities, direct, atol=1e-5)
    metrics = result["metrics"]
    assert metrics["accuracy"] == pytest.approx(np.mean(result["predictions"] == result["labels"]))
    assert metrics["accuracy"] > 0.5  # colour-coded classes are easy; two epochs learn them
    assert metrics["accuracy_ci_low"] <= metrics["accuracy"] <= metrics["accuracy_ci_high"]
    assert metrics["top5_accuracy"] is None
    assert 0.0 <= metrics["macro_f1"] <= 1.0 and metrics["log_loss"] > 0.0
    assert metrics["inference_images_per_s"] > 0.0


def test_evaluate_model_rejects_a_class_list_the_model_was_not_trained_on(
    trained_model_and_history, images_test
):
    model, _ = trained_model_and_history
    with pytest.raises(ValueError, match=r"class_names\D*\b4\b"):
        nodes.evaluate_model(model, images_test, ["a", "b", "c", "d"], {})
    with pytest.raises(ValueError, match="images_test"):
        nodes.evaluate_model(model, {"images": images_test["images"]}, ["a", "b", "c"], {})


def test_compare_models_sorts_by_accuracy_and_has_every_column():
    labels = [0, 0, 1, 1, 2, 2]
    evaluations = {
        "scratch.basenet": evaluation(labels, [0, 1, 1, 0, 2, 0]),  # 3/6
        "transfer.mobilenet_v2": evaluation(labels, labels),  # 6/6
        "finetune.mobilenet_v2": evaluation(labels, TOY_PREDICTIONS),  # 4/6
    }
    summaries = {model: summary(model.split(".")[0]) for model in evaluations}

    comparison = nodes.compare_models(evaluations, summaries)

    assert list(comparison.columns) == COMPARISON_COLUMNS
    assert comparison["model"].tolist() == [
        "transfer.mobilenet_v2",
        "finetune.mobilenet_v2",
        "scratch.basenet",
    ]
    assert comparison["accuracy"].tolist() == pytest.approx([1.0, 4 / 6, 0.5])
    assert comparison["strategy"].tolist() == ["transfer", "finetune", "scratch"]
    assert comparison["top5_accuracy"].isna().all()
    assert comparison["test_images"].tolist() == [6, 6, 6]
    with pytest.raises(ValueError, match="training_summary"):
        nodes.compare_models(evaluations, {"scratch.basenet": summary("scratch")})


def test_cross_model_nodes_take_per_model_datasets_by_name():
    labels = [0, 1, 2]
    inputs = nodes.per_model_inputs(["scratch.a", "transfer.b"], "evaluation", "training_summary")
    assert inputs == {
        name: name
        for name in [
            "scratch.a.evaluation",
            "transfer.b.evaluation",
            "scratch.a.training_summary",
            "transfer.b.training_summary",
        ]
    }
    loaded = {
        "transfer.b.training_summary": summary("transfer", 2.0),
        "scratch.a.evaluation": evaluation(labels, [0, 0, 0]),
        "scratch.a.training_summary": summary("scratch", 1.0),
        "transfer.b.evaluation": evaluation(labels, labels),
    }

    # As Kedro calls it: keyword arguments named after the datasets, in any order.
    comparison = nodes.compare_models_node(**loaded)

    assert comparison.set_index("model")["train_time_s"].to_dict() == {
        "transfer.b": 2.0,
        "scratch.a": 1.0,
    }
    with pytest.raises(ValueError, match="scratch.a.history"):
        nodes.compare_models_node(**loaded, **{"scratch.a.history": {}})


def _png_of(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def test_report_nodes_render_the_same_sections_as_markdown_and_html(
    images_test, class_names, report_config
):
    labels = images_test["labels"]
    history = {
        "loss": [1.0, 0.5],
        "val_loss": [1.1, 0.6],
        "accuracy": [0.5, 0.8],
        "val_accuracy": [0.4, 0.7],
    }
    per_model = {
        "scratch.a": (evaluation(labels, labels), summary("scratch")),
        "transfer.b": (evaluation(labels, np.zeros_like(labels)), summary("transfer")),
    }
    evaluations = {f"{model}.evaluation": value[0] for model, value in per_model.items()}
    comparison = nodes.compare_models_node(
        **evaluations,
        **{f"{model}.training_summary": value[1] for model, value in per_model.items()},
    )
    strategy_tests = nodes.compare_strategies_node(report_config, **evaluations)
    reports = {
        f"{model}.classification_report": nodes.per_class_report(value[0], class_names)
        for model, value in per_model.items()
    }

    markdown = nodes.report_markdown_node(comparison, strategy_tests, report_config, **reports)
    # The figures as the catalog loads them after a run saved them: PNG bytes, embedded as they are.
    saved_png = {kind: _png_of(plot_learning_curves(history, kind)) for kind in nodes.FIGURE_KINDS}
    page = nodes.report_html_node(
        comparison,
        strategy_tests,
        report_config,
        nodes.plot_model_comparison(comparison),  # an in-memory run hands the figure itself
        **reports,
        **{f"{model}.{kind}": png for model in per_model for kind, png in saved_png.items()},
    )

    headings = re.findall(r"^## (.+)$", markdown, flags=re.MULTILINE)
    assert headings == [
        "Findings",
        "Models (best accuracy first)",
        "Paired comparisons (McNemar's test)",
        "Per-class scores: scratch.a",
        "Per-class scores: transfer.b",
    ]
    html_headings = re.findall(r"<h2>(.+?)</h2>|<summary>(.+?)</summary>", page)
    assert [heading or summary for heading, summary in html_headings] == [
        *headings[:3],
        "Figures",
        *headings[3:],
    ]
    assert page.count('<img src="data:image/png;base64,') == 1 + 4 * len(per_model)
    assert all(page.count(base64.b64encode(png).decode()) == len(per_model) for png in saved_png.values())
    assert "over 200 resamples" in markdown and "over 200 resamples" in page


def test_compare_strategies_tests_the_best_model_of_each_strategy_by_validation_accuracy():
    labels = np.repeat([0, 1, 2], 20)
    always_right = labels.copy()
    wrong_on_first_30 = labels.copy()
    wrong_on_first_30[:30] = (labels[:30] + 1) % 3
    wrong_on_first_40 = labels.copy()
    wrong_on_first_40[:40] = (labels[:40] + 1) % 3
    wrong_on_first_2 = labels.copy()
    wrong_on_first_2[:2] = (labels[:2] + 1) % 3
    evaluations = {
        "scratch.basenet": evaluation(labels, wrong_on_first_30),
        "scratch.worse": evaluation(labels, wrong_on_first_40),
        "transfer.mobilenet_v2": evaluation(labels, always_right),
        "finetune.mobilenet_v2": evaluation(labels, wrong_on_first_2),
        "baseline.linear_probe.mobilenet_v2": evaluation(labels, wrong_on_first_2),
    }
    # scratch.worse has the better validation accuracy: it is scratch's best, whatever the test split says.
    summaries = {
        "scratch.basenet": {"validation_accuracy": 0.5},
        "scratch.worse": {"validation_accuracy": 0.6},
        "transfer.mobilenet_v2": {"validation_accuracy": 0.9},
        "finetune.mobilenet_v2": {"validation_accuracy": 0.95},
        "baseline.linear_probe.mobilenet_v2": {"validation_accuracy": 0.99},
    }

    tests = nodes.compare_strategies(evaluations, summaries, alpha=0.05)

    assert list(tests.columns) == STRATEGY_TEST_COLUMNS
    assert list(zip(tests["comparison"], tests["model_a"], tests["model_b"], strict=True)) == [
        ("strategies", "scratch.worse", "transfer.mobilenet_v2"),
        ("strategies", "scratch.worse", "finetune.mobilenet_v2"),
        # the best transfer and fine-tuned models share a backbone: tested once, as fine-tune vs its transfer model
        ("fine-tune vs transfer", "finetune.mobilenet_v2", "transfer.mobilenet_v2"),
        ("head vs probe", "transfer.mobilenet_v2", "baseline.linear_probe.mobilenet_v2"),
    ]
    scratch_vs_transfer, scratch_vs_finetune, finetune_vs_transfer, head_vs_probe = tests.to_dict("records")
    assert (scratch_vs_transfer["only_a_correct"], scratch_vs_transfer["only_b_correct"]) == (0, 40)
    assert scratch_vs_transfer["significant"] and scratch_vs_finetune["significant"]
    assert not finetune_vs_transfer["significant"]  # b = 0, c = 2: exact p = 0.5
    assert finetune_vs_transfer["p_value"] == pytest.approx(0.5)
    assert (head_vs_probe["only_a_correct"], head_vs_probe["only_b_correct"]) == (2, 0)


def test_compare_strategies_needs_two_strategies_and_one_test_set():
    labels = [0, 1, 2]
    same_strategy = {
        "scratch.a": evaluation(labels, labels),
        "scratch.b": evaluation(labels, labels),
    }
    single = nodes.compare_strategies(same_strategy)
    assert single.empty and list(single.columns) == STRATEGY_TEST_COLUMNS
    with pytest.raises(ValueError, match=r"(?=.*\bscratch\.a\b)(?=.*\btransfer\.b\b)"):
        nodes.compare_strategies(
            {"scratch.a": evaluation(labels, labels), "transfer.b": evaluation([2, 1, 0], labels)}
        )


def test_every_child_run_gets_the_same_metric_names_and_missing_ones_are_left_out():
    evaluation = {
        "metrics": {"accuracy": 0.9, "top5_accuracy": None, "macro_f1": 0.85, "log_loss": float("nan"),
                    "inference_images_per_s": 120.0, "accuracy_ci_low": 0.8},
    }  # fmt: skip

    assert mlflow_nodes.model_test_metrics(evaluation, {"train_time_s": 3.5, "epochs_run": 2}) == {
        "test_accuracy": 0.9,
        "test_macro_f1": 0.85,
        "images_per_s": 120.0,
        "train_time_s": 3.5,
    }


def test_the_test_split_fingerprint_changes_with_images_labels_or_classes():
    images = {"images": np.zeros((2, 4, 4, 3), np.uint8), "labels": np.asarray([0, 1])}
    reference = mlflow_nodes.test_split_fingerprint(images, ["a", "b"])

    assert mlflow_nodes.test_split_fingerprint({k: v.copy() for k, v in images.items()}, ["a", "b"]) == reference
    brighter = {"images": images["images"] + 1, "labels": images["labels"]}
    swapped = {"images": images["images"], "labels": np.asarray([1, 0])}
    others = {mlflow_nodes.test_split_fingerprint(brighter, ["a", "b"]), mlflow_nodes.test_split_fingerprint(swapped, ["a", "b"]),
              mlflow_nodes.test_split_fingerprint(images, ["a", "c"])}  # fmt: skip
    assert reference not in others and len(others) == 3
