"""Grad-CAM in the report: the best transfer/fine-tuned model by validation accuracy, explained on right and wrong
test predictions of real paintings, in its own figure and in the HTML report."""

from __future__ import annotations

import keras
import numpy as np
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from image_classification.models.transfer import build_transfer_model
from image_classification.pipelines.report import create_pipeline
from tests.pipelines.paintings import KeptDataset, painting_splits

MODELS = ["scratch.small", "transfer.mobilenet_v2", "finetune.mobilenet_v2"]
#: The fine-tuned model has the best validation accuracy, the transfer one the best test accuracy (random heads).
VAL_ACCURACY = {"scratch.small": 0.9, "transfer.mobilenet_v2": 0.4, "finetune.mobilenet_v2": 0.6}


def _upscaled(split: dict) -> dict:
    """The 32 px paintings at 64 px, so MobileNetV2's feature maps are 2x2 rather than one pixel."""
    return {"images": split["images"].repeat(2, axis=1).repeat(2, axis=2), "labels": split["labels"]}


def _scratch_model(classes: int) -> keras.Model:
    return keras.Sequential(
        [keras.Input((64, 64, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(classes, "softmax")]
    )


def test_the_report_explains_the_best_transfer_or_fine_tuned_model_by_validation_accuracy():
    train, val, class_names = painting_splits()
    images_test = _upscaled({key: np.concatenate([train[key], val[key]]) for key in train})  # 18 paintings
    keras.utils.set_random_seed(0)
    models = {
        "scratch.small": _scratch_model(len(class_names)),
        "transfer.mobilenet_v2": build_transfer_model("mobilenet_v2", (64, 64, 3), len(class_names), "imagenet"),
        "finetune.mobilenet_v2": build_transfer_model("mobilenet_v2", (64, 64, 3), len(class_names), "imagenet"),
    }
    datasets = {
        "images_test": MemoryDataset(images_test),
        "class_names": MemoryDataset(class_names),
        "params:report": MemoryDataset({"bootstrap_samples": 20, "gradcam_images": 6, "tta": None}),
        "params:preprocess": MemoryDataset({"image_size": 64, "resize_method": "center_crop"}),
        "params:predict": MemoryDataset({"top_k": 2}),
        "params:scratch.models": MemoryDataset({}),
        "params:transfer.models": MemoryDataset({}),
        "report.gradcam": KeptDataset(),
        "gradcam_figure": KeptDataset(),
        "report_html": KeptDataset(),
        "report.transfer.mobilenet_v2.evaluation": KeptDataset(),
    }
    for name, model in models.items():
        datasets[f"{name}.model"] = MemoryDataset(model, copy_mode="assign")
        datasets[f"{name}.history"] = MemoryDataset({"loss": [1.0], "val_accuracy": [VAL_ACCURACY[name]]})
        datasets[f"{name}.training_summary"] = MemoryDataset(
            {"train_time_s": 1.0, "epochs_run": 1, "validation_accuracy": VAL_ACCURACY[name]}
        )

    SequentialRunner().run(create_pipeline(model_namespaces=MODELS), DataCatalog(datasets=datasets))

    catalog = DataCatalog(datasets=datasets)
    gradcam = catalog.load("report.gradcam")
    assert gradcam["model"] == "finetune.mobilenet_v2"  # scratch models have no backbone to explain
    evaluation = catalog.load("report.transfer.mobilenet_v2.evaluation")
    assert len(gradcam["indices"]) == 6 and len(set(gradcam["indices"])) == 6
    assert gradcam["heatmaps"].shape == (6, 2, 2)
    assert 0 <= gradcam["heatmaps"].min() and gradcam["heatmaps"].max() <= 1
    np.testing.assert_array_equal(gradcam["labels"], evaluation["labels"][gradcam["indices"]])
    assert isinstance(catalog.load("gradcam_figure"), Figure)
    assert "finetune.mobilenet_v2: Grad-CAM of right and wrong test predictions" in catalog.load("report_html")
