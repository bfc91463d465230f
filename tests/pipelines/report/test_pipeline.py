"""The report pipeline's dataset names and a full run on an in-memory catalog with real trained models."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset
from matplotlib.figure import Figure

from image_classification.pipelines.report import create_pipeline


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so the test can read intermediate results after the run."""

    def _release(self) -> None:
        pass


MODELS = ["scratch.a", "transfer.b"]
PER_MODEL_OUTPUTS = [
    "evaluation",
    "classification_report",
    "learning_curves_figure",
    "confusion_matrix_figure",
    "predictions_figure",
]


def test_pipeline_datasets_are_named_per_namespace_with_shared_inputs():
    pipeline = create_pipeline(model_namespaces=MODELS)

    assert pipeline.inputs() == {
        "images_test",
        "class_names",
        "params:report",
        "scratch.a.model",
        "scratch.a.history",
        "scratch.a.training_summary",
        "transfer.b.model",
        "transfer.b.history",
        "transfer.b.training_summary",
    }
    produced = {output for node in pipeline.nodes for output in node.outputs}
    assert produced == {f"{model}.{kind}" for model in MODELS for kind in PER_MODEL_OUTPUTS} | {
        "comparison",
        "strategy_tests",
        "comparison_figure",
        "report_markdown",
        "report_html",
        "report_metrics",
    }
    names = {node.name for node in pipeline.nodes}
    assert {
        "scratch.a.evaluate_model",
        "transfer.b.plot_confusion_matrix",
        "compare_models",
        "render_html",
    } <= names
    assert all(node.tags == {"report"} for node in pipeline.nodes)


def test_pipeline_rejects_malformed_or_duplicate_namespaces():
    with pytest.raises(ValueError, match="<strategy>.<name>"):
        create_pipeline(model_namespaces=["basenet"])
    with pytest.raises(ValueError, match="unique"):
        create_pipeline(model_namespaces=["scratch.a", "scratch.a"])
    assert not create_pipeline(model_namespaces=[]).nodes


def test_pipeline_runs_end_to_end_on_an_in_memory_catalog(
    trained_model_and_history, images_test, class_names, report_config, tmp_path
):
    model, history = trained_model_and_history
    datasets = {
        "images_test": MemoryDataset(images_test),
        "class_names": MemoryDataset(class_names),
        "params:report": MemoryDataset(report_config),
    }
    for model_name in MODELS:
        datasets[f"{model_name}.model"] = MemoryDataset(model, copy_mode="assign")
        datasets[f"{model_name}.history"] = MemoryDataset(history)
        datasets[f"{model_name}.training_summary"] = MemoryDataset(
            {
                "train_time_s": 1.5,
                "epochs_run": 2,
                "trainable_params": 579,
                "total_params": 579,
                "strategy": model_name.split(".")[0],
                "model_name": model_name.split(".")[1],
                "image_size": 8,
            }
        )
    for name in ["scratch.a.evaluation", "transfer.b.classification_report"]:
        datasets[name] = KeptDataset()
    # Saved and reloaded as CSV, as the project's catalog does: later nodes must cope with the round trip.
    for name in ["comparison", "strategy_tests"]:
        datasets[name] = CSVDataset(
            filepath=str(tmp_path / f"{name}.csv"), save_args={"index": False}
        )
    catalog = DataCatalog(datasets=datasets)

    SequentialRunner().run(create_pipeline(model_namespaces=MODELS), catalog)

    comparison = catalog.load("comparison")
    assert sorted(comparison["model"]) == MODELS
    accuracy = catalog.load("scratch.a.evaluation")["metrics"]["accuracy"]
    assert comparison["accuracy"].tolist() == pytest.approx([accuracy, accuracy])
    strategy_tests = catalog.load("strategy_tests")
    assert (
        strategy_tests["conclusion"].str.startswith("No significant difference").all()
    )  # same model twice
    for name in [
        "comparison_figure",
        "scratch.a.learning_curves_figure",
        "transfer.b.confusion_matrix_figure",
        "transfer.b.predictions_figure",
    ]:
        assert isinstance(catalog.load(name), Figure)
    assert isinstance(catalog.load("transfer.b.classification_report"), pd.DataFrame)
    html = catalog.load("report_html")
    assert html.count('<img src="data:image/png;base64,') == 1 + 3 * len(MODELS)
    markdown = catalog.load("report_markdown")
    assert "test split of 30 images" in markdown and "| scratch.a | scratch |" in markdown
    metrics = catalog.load("report_metrics")
    assert metrics["scratch.a.test_accuracy"] == {"value": pytest.approx(accuracy), "step": 0}
    assert np.isfinite([entry["value"] for entry in metrics.values()]).all()


def test_pipeline_node_functions_are_picklable_for_parallel_runners():
    for node in create_pipeline(model_namespaces=MODELS).nodes:
        pickle.dumps(node.func)
