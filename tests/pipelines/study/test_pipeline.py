"""The study pipeline: k folds as namespaces over images decoded once, and the pooled report, run on real paintings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from image_classification.data.sources import BUNDLED_DIR
from image_classification.pipelines.study.nodes import decode_study_images
from image_classification.pipelines.study.pipeline import create_pipeline
from tests.pipelines.paintings import AUGMENTATION, SHARED_TRAINING, KeptDataset, model_plan

PAINTERS = ("Cezanne", "Monet", "VanGogh")
SIZE = 32
#: One scratch net, one linear head on the bundled MobileNetV2 (and so its probe), fine-tuned for one epoch.
PLAN = {
    "preprocess": {"image_size": SIZE},
    "scratch": {"models": {"basenet": {"architecture": "basenet"}}},
    "transfer": {"models": {"mobilenet_v2": {"backbone": "mobilenet_v2", "weights": "imagenet"}}},
    "finetune": {"models": {"mobilenet_v2": {"unfreeze_blocks": 1}}},
    "study": {"folds": 2},
}
PARAMETERS = {
    "training": SHARED_TRAINING,
    "scratch.training": {"epochs": 1, "batch_size": 8},
    "transfer.training": {"epochs": 1},
    "finetune.training": {"epochs": 1, "batch_size": 8, "learning_rate": 1e-5},
    "preprocess.augmentation": AUGMENTATION,
    "scratch.models": PLAN["scratch"]["models"],
    "transfer.models": PLAN["transfer"]["models"],
    "scratch.models.basenet": PLAN["scratch"]["models"]["basenet"],
    "transfer.models.mobilenet_v2": PLAN["transfer"]["models"]["mobilenet_v2"],
    "finetune.models.mobilenet_v2": PLAN["finetune"]["models"]["mobilenet_v2"],
    "baseline.linear_probe": {"inner_folds": 2, "c_values": [0.01, 1.0]},
    "study": {"folds": 2, "val_fraction": 0.25, "seed": 0},
    "report": {"batch_size": 8, "bootstrap_samples": 50, "alpha": 0.05, "seed": 0, "tta": None},
}
MODELS = ["scratch.basenet", "transfer.mobilenet_v2", "finetune.mobilenet_v2", "baseline.linear_probe.mobilenet_v2"]


def _manifest(per_painter: int = 8) -> pd.DataFrame:
    rows = [
        {"path": str(path), "label": painter}
        for painter in PAINTERS
        for path in sorted((BUNDLED_DIR / "impressionists" / painter).glob("*.jpg"))[:per_painter]
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def pipeline():
    with model_plan(PLAN):
        yield create_pipeline()


def test_each_fold_is_a_top_level_namespace_with_every_model_inside(pipeline) -> None:
    namespaces = {node.namespace for node in pipeline.nodes if node.namespace}
    assert {namespace.split(".")[0] for namespace in namespaces} == {"fold_0", "fold_1"}
    for fold in ("fold_0", "fold_1"):
        for model in MODELS:
            assert f"{fold}.report.{model}.evaluation" in pipeline.all_outputs()
        assert f"{fold}.images_test" in pipeline.all_outputs()
    shared = {node.name for node in pipeline.nodes if not node.namespace}
    assert {"decode_study_images", "assign_study_folds", "pool_folds", "study_tables", "build_manifest"} <= shared
    with model_plan({**PLAN, "transfer": {"models": {"mobilenet_v2": {"backbone": "mobilenet_v2", "image_size": 64}}}}):
        with pytest.raises(ValueError, match="transfer.mobilenet_v2"):
            create_pipeline()


def test_images_are_decoded_once_for_every_fold() -> None:
    chunks, class_names = decode_study_images(_manifest(2), {"image_size": SIZE})
    arrays = chunks.in_memory()
    assert class_names == list(PAINTERS)
    assert arrays["images"].shape == (6, SIZE, SIZE, 3) and arrays["images"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["labels"], [0, 0, 1, 1, 2, 2])


def test_the_study_tests_every_image_once_and_pools_the_folds(pipeline, tmp_path) -> None:
    import mlflow

    chunks, class_names = decode_study_images(_manifest(), {"image_size": SIZE})
    images = chunks.in_memory()
    datasets = {
        "study_images": MemoryDataset(images, copy_mode="assign"),
        "study_class_names": MemoryDataset(class_names),
        **{f"params:{name}": MemoryDataset(value) for name, value in PARAMETERS.items()},
    }
    for name in pipeline.all_outputs():
        if name.endswith((".model", ".untrained_model", ".images_train", ".images_val", ".images_test")):
            datasets[name] = MemoryDataset(copy_mode="assign")
    kept = ("study_folds", "study_fold_table", "study_tests", "study_comparison", "study_error_analysis",
            "study_report_markdown", "study_report_html", "study_top_losses_figure", "fold_0.transfer.mobilenet_v2.training_summary")  # fmt: skip
    datasets.update({name: KeptDataset() for name in kept})
    catalog = DataCatalog(datasets=datasets)

    blocks = [node.name for node in pipeline.nodes if node.name.endswith("collect_training_blocks")]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.MlflowClient().create_experiment("study")  # by id: not whatever experiment is active
        with mlflow.start_run(experiment_id=experiment) as parent:  # kedro-mlflow's parent run of a kedro run
            SequentialRunner().run(pipeline.from_inputs("study_images") + pipeline.only_nodes(*blocks), catalog)
        children = mlflow.MlflowClient().search_runs(
            [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
        )
    finally:
        mlflow.set_tracking_uri(None)
    # Each fold's log_model_runs: a child run per model and fold, tagged with it, with its test accuracy.
    assert sorted(run.info.run_name for run in children) == sorted(f"fold_{f}.{m}" for f in (0, 1) for m in MODELS)
    assert all(run.info.run_name.startswith(f"fold_{run.data.tags['fold']}.") for run in children)
    assert all(0 <= run.data.metrics["test_accuracy"] <= 1 for run in children)

    folds = catalog.load("study_folds")
    assert sorted(folds["fold"].value_counts().tolist()) == [12, 12]  # 24 paintings, 2 stratified folds
    table = catalog.load("study_fold_table")
    assert sorted(table["model"]) == sorted(MODELS)
    assert (table["pooled_images"] == 24).all() and (table["folds"] == 2).all()
    for row in table.to_dict("records"):  # pooled accuracy is the folds' accuracies weighted by their sizes
        per_fold = [float(value) for value in row["fold_accuracies"].split()]
        assert row["pooled_accuracy"] == pytest.approx(np.mean(per_fold), abs=1e-4)  # per fold: 4 decimals
    tests = catalog.load("study_tests")
    assert {"strategies", "fine-tune vs transfer", "head vs probe"} == set(tests["comparison"])
    assert (tests["only_a_correct"] + tests["only_b_correct"] <= 24).all()
    summary = catalog.load("fold_0.transfer.mobilenet_v2.training_summary")
    assert summary["optimizer"] == "lbfgs" and 0 <= summary["validation_accuracy"] <= 1
    markdown = catalog.load("study_report_markdown")
    assert "Accuracy per fold" in markdown and "Error analysis" in markdown
    page = catalog.load("study_report_html")  # the comparison and top-losses figures the study drew, embedded
    assert page.count('<img src="data:image/png;base64,') == 2 and "over all folds" in page
    assert set(catalog.load("study_error_analysis")["strategy"]) <= {"scratch", "transfer", "finetune"}
    assert isinstance(catalog.load("study_top_losses_figure"), Figure)
