"""The test split only reports: shuffling its labels changes the scores, never a choice (issue 21, item 4).

Choices are: each strategy's best model and so McNemar's pairs, the models whose errors are analysed, Grad-CAM's
model and the registry's champion. All of them read validation accuracies, which the test split cannot move.
"""

from __future__ import annotations

import numpy as np
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from image_classification.pipelines.report import create_pipeline
from image_classification.reporting.comparison import best_model_per_strategy
from image_classification.tracking.registry import Candidate, champion_candidate
from tests.pipelines.report.test_pipeline import KeptDataset

MODELS = ["scratch.a", "scratch.b", "transfer.c", "finetune.c"]
#: Validation accuracies that disagree with what the test split says (the same model answers for all four).
VALIDATION = {"scratch.a": 0.4, "scratch.b": 0.6, "transfer.c": 0.8, "finetune.c": 0.7}


def _report(model, images_test, class_names, report_config) -> DataCatalog:
    datasets = {
        "images_test": MemoryDataset(images_test),
        "class_names": MemoryDataset(class_names),
        "params:report": MemoryDataset({**report_config, "gradcam_images": 0, "tta": None}),
        "params:preprocess": MemoryDataset({"image_size": 8, "resize_method": "stretch"}),
        "params:predict": MemoryDataset({"top_k": 2}),
        "params:scratch.models": MemoryDataset({}),
        "params:transfer.models": MemoryDataset({}),
        "strategy_tests": KeptDataset(),
        "error_analysis": KeptDataset(),
        "comparison": KeptDataset(),
    }
    for name in MODELS:
        datasets[f"{name}.model"] = MemoryDataset(model, copy_mode="assign")
        datasets[f"{name}.history"] = MemoryDataset({"loss": [1.0], "val_accuracy": [VALIDATION[name]]})
        datasets[f"{name}.training_summary"] = MemoryDataset(
            {"train_time_s": 1.0, "epochs_run": 1, "validation_accuracy": VALIDATION[name]}
        )
    catalog = DataCatalog(datasets=datasets)
    SequentialRunner().run(create_pipeline(model_namespaces=MODELS), catalog)
    return catalog


def test_shuffled_test_labels_change_the_scores_and_no_choice(
    trained_model_and_history, images_test, class_names, report_config
):
    model, _ = trained_model_and_history
    shuffled = {**images_test, "labels": np.random.default_rng(0).permutation(images_test["labels"])}

    honest = _report(model, images_test, class_names, report_config)
    scrambled = _report(model, shuffled, class_names, report_config)

    assert not np.allclose(honest.load("comparison")["accuracy"], scrambled.load("comparison")["accuracy"])
    pairs = ["comparison", "model_a", "model_b"]
    assert honest.load("strategy_tests")[pairs].equals(scrambled.load("strategy_tests")[pairs])
    assert set(honest.load("strategy_tests")["model_a"]) | set(honest.load("strategy_tests")["model_b"]) == {
        "scratch.b", "transfer.c", "finetune.c",
    }  # fmt: skip
    # The model is the same for all four, so the scrambled labels make it wrong somewhere for every strategy.
    chosen = {"scratch.b", "transfer.c", "finetune.c"}
    assert set(scrambled.load("error_analysis")["model"]) == chosen  # a perfect model confuses nothing
    assert set(honest.load("error_analysis")["model"]) <= chosen
    summaries = {name: {"validation_accuracy": accuracy} for name, accuracy in VALIDATION.items()}
    assert best_model_per_strategy(summaries) == {"scratch": "scratch.b", "transfer": "transfer.c", "finetune": "finetune.c"}


def test_the_champion_is_chosen_by_validation_accuracy_whatever_the_test_accuracy():
    candidates = [
        Candidate(name, f"run-{name}", f"models:/{name}", VALIDATION[name], test)
        for name, test in zip(MODELS, (0.99, 0.1, 0.2, 0.98), strict=True)
    ]
    assert champion_candidate(candidates).namespace == "transfer.c"
    reshuffled = [Candidate(c.namespace, c.run_id, c.model_uri, c.validation_accuracy, 1 - c.test_accuracy)
                  for c in candidates]  # fmt: skip
    assert champion_candidate(reshuffled).namespace == "transfer.c"
