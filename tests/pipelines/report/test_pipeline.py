"""The report pipeline's dataset names and a full run on an in-memory catalog with real trained models."""

from __future__ import annotations

import base64
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
    "test_metrics",
    "classification_report",
    "learning_curves_figure",
    "confusion_matrix_figure",
    "predictions_figure",
    "top_losses_figure",
]


def test_pipeline_datasets_are_named_per_namespace_with_shared_inputs():
    pipeline = create_pipeline(model_namespaces=MODELS)

    assert pipeline.inputs() == {
        "images_test",
        "class_names",
        "params:report",
        "params:preprocess",
        "params:predict",
        "params:scratch.models",
        "params:transfer.models",
        "scratch.a.model",
        "scratch.a.history",
        "scratch.a.training_summary",
        "transfer.b.model",
        "transfer.b.history",
        "transfer.b.training_summary",
    }
    produced = {output for node in pipeline.nodes for output in node.outputs}
    assert produced == {f"report.{model}.{kind}" for model in MODELS for kind in PER_MODEL_OUTPUTS} | {
        "comparison",
        "strategy_tests",
        "error_analysis",
        "comparison_figure",
        "gradcam_figure",
        "report.gradcam",
        "report_markdown",
        "report_html",
        "report.test_split",
        "report.serving_spec",
        "model_runs",
    }
    names = {node.name for node in pipeline.nodes}
    assert {
        "report.scratch.a.evaluate_model",
        "report.transfer.b.plot_confusion_matrix",
        "report.compare_models",
        "report.render_html",
    } <= names
    assert all(node.tags == {"report"} for node in pipeline.nodes)
    # kedro-viz collapses the report into one box, one sub-box per model
    assert {node.namespace for node in pipeline.nodes} == {"report", "report.scratch.a", "report.transfer.b"}


def test_pipeline_rejects_malformed_or_duplicate_namespaces():
    with pytest.raises(ValueError, match=r"\['basenet'\]"):
        create_pipeline(model_namespaces=["basenet"])
    with pytest.raises(ValueError, match=r"\['scratch\.a', 'scratch\.a'\]"):
        create_pipeline(model_namespaces=["scratch.a", "scratch.a"])
    assert not create_pipeline(model_namespaces=[]).nodes


def test_pipeline_runs_end_to_end_on_an_in_memory_catalog(
    trained_model_and_history, images_test, class_names, report_config, tmp_path
):
    model, history = trained_model_and_history
    datasets = {
        "images_test": MemoryDataset(images_test),
        "class_names": MemoryDataset(class_names),
        # The Grad-CAM nodes need a real transfer model (tests/pipelines/report/test_explain.py); none shown here.
        "params:report": MemoryDataset({**report_config, "gradcam_images": 0, "tta": "flip"}),
        "params:preprocess": MemoryDataset({"image_size": 8, "resize_method": "stretch"}),
        "params:predict": MemoryDataset({"top_k": 2}),
        "params:scratch.models": MemoryDataset({}),
        "params:transfer.models": MemoryDataset({}),
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
    for name in [
        "report.scratch.a.evaluation",
        "report.scratch.a.test_metrics",
        "report.transfer.b.classification_report",
        "report.test_split",
        "report.serving_spec",
        # Read by the HTML report too, then released by the runner: kept to look at them afterwards.
        "comparison_figure",
        "report.scratch.a.learning_curves_figure",
        "report.transfer.b.confusion_matrix_figure",
        "report.transfer.b.predictions_figure",
    ]:
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
    accuracy = catalog.load("report.scratch.a.evaluation")["metrics"]["accuracy"]
    assert comparison["accuracy"].tolist() == pytest.approx([accuracy, accuracy])
    strategy_tests = catalog.load("strategy_tests")
    assert (
        strategy_tests["conclusion"].str.startswith("No significant difference").all()
    )  # same model twice
    for name in [
        "comparison_figure",
        "report.scratch.a.learning_curves_figure",
        "report.transfer.b.confusion_matrix_figure",
        "report.transfer.b.predictions_figure",
    ]:
        assert isinstance(catalog.load(name), Figure)
    assert isinstance(catalog.load("report.transfer.b.classification_report"), pd.DataFrame)
    html = catalog.load("report_html")
    assert html.count('<img src="data:image/png;base64,') == 1 + 4 * len(MODELS)
    markdown = catalog.load("report_markdown")
    assert "test split of 30 images" in markdown and "| scratch.a | scratch |" in markdown
    # The same metric names in every model's MLflow child run (top-5 left out: 3 classes)
    metrics = catalog.load("report.scratch.a.test_metrics")
    assert set(metrics) == {
        "test_accuracy", "test_macro_f1", "test_log_loss", "images_per_s", "train_time_s", "test_accuracy_tta",
    }  # fmt: skip
    # Mirrored colour images keep their colour: test-time augmentation cannot hurt here.
    assert metrics["test_accuracy_tta"] >= metrics["test_accuracy"] - 1e-9
    assert "Accuracy with flip TTA" in markdown
    assert metrics["test_accuracy"] == pytest.approx(accuracy) and metrics["train_time_s"] == 1.5
    assert np.isfinite(list(metrics.values())).all()
    assert len(catalog.load("report.test_split")) == 16
    spec = catalog.load("report.serving_spec")
    assert spec["class_names"] == class_names and spec["image_size"] == 8 and spec["top_k"] == 2
    assert base64.b64decode(spec["input_example"]).startswith(b"\x89PNG")


def test_pipeline_node_functions_are_picklable_for_parallel_runners():
    for node in create_pipeline(model_namespaces=MODELS).nodes:
        pickle.dumps(node.func)


def test_one_node_at_the_end_logs_every_models_mlflow_run():
    pipeline = create_pipeline(model_namespaces=MODELS)
    (logging,) = [node for node in pipeline.nodes if node.name == "report.log_model_runs"]
    assert logging.outputs == ["model_runs"]
    for model in MODELS:
        assert {f"{model}.training_summary", f"{model}.history", f"report.{model}.test_metrics",
                f"report.{model}.evaluation", f"report.{model}.confusion_matrix_figure"} <= set(logging.inputs)  # fmt: skip
    assert {"report.test_split", "report.serving_spec", "params:report"} <= set(logging.inputs)
