"""The transfer pipeline: a head on cached features (feature_extraction) or through the frozen backbone
(end_to_end), per model, run on real paintings with Kedro's runner."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from kedro.runner import SequentialRunner

from image_classification.models.inference import predict_proba
from image_classification.models.transfer import POOLING_LAYERS
from image_classification.pipelines.transfer.pipeline import create_pipeline
from tests.pipelines.paintings import (
    AUGMENTATION,
    HISTORY_KEYS,
    SHARED_TRAINING,
    SIZE,
    model_plan,
    training_catalog,
)

# feature_extraction with the bundled ImageNet MobileNetV2 (offline, fast at 32 px); end_to_end with random weights.
MODELS = {
    "mobilenet_v2": {"backbone": "mobilenet_v2", "weights": "imagenet", "mode": "feature_extraction", "head": {"dropout": 0.3, "fit": "gradient"}},
    "e2e": {"backbone": "mobilenet_v1_075", "weights": None, "mode": "end_to_end", "pooling": "max", "head": {"dense_units": [8]}},
}  # fmt: skip
PARAMETERS = {
    "training": SHARED_TRAINING,
    "transfer.training": {"epochs": 2, "batch_size": 4, "learning_rate": 1e-3},
    "preprocess.augmentation": AUGMENTATION,
    "baseline.linear_probe": {"inner_folds": 2, "c_values": [0.01, 1.0]},
    **{f"transfer.models.{name}": settings for name, settings in MODELS.items()},
}
#: A linear head fitted by L-BFGS (the default ``head.fit`` for ``dense_units: []``).
LBFGS_MODEL = {"backbone": "mobilenet_v2", "weights": "imagenet", "mode": "feature_extraction"}


@pytest.fixture
def pipeline():
    """Built with the modes above, as ModelPlanHook makes a run's pipelines follow its parameters."""
    with model_plan({"transfer": {"models": MODELS}}):
        yield create_pipeline(model_names=list(MODELS))


def test_each_mode_has_its_own_nodes(pipeline) -> None:
    assert {node.name for node in pipeline.nodes} == {
        *(f"transfer.{name}.{step}" for name in MODELS for step in ("collect_training_blocks",)),
        "transfer.mobilenet_v2.build_transfer_classifier", "transfer.mobilenet_v2.extract_backbone_features",
        "transfer.mobilenet_v2.train_head_on_features",
        "transfer.e2e.build_transfer_classifier", "transfer.e2e.train_transfer_end_to_end",
        "baseline.linear_probe.mobilenet_v2.fit_linear_probe",  # the floor of the head on cached features
    }  # fmt: skip
    assert pipeline.inputs() == {
        "images_train", "images_val", "class_names", "params:training", "params:transfer.training",
        "params:preprocess.augmentation", "params:transfer.models.mobilenet_v2", "params:transfer.models.e2e",
        "params:baseline.linear_probe",
    }  # fmt: skip
    with model_plan({"transfer": {"models": {"x": {"mode": "fine"}}}}):
        with pytest.raises(ValueError, match=r"transfer\.models\.x\.mode\b.*'fine'"):
            create_pipeline(model_names=["x"])


def test_pipeline_trains_both_modes_on_real_paintings(pipeline) -> None:
    catalog = training_catalog(
        PARAMETERS,
        models={f"transfer.{name}.{dataset}": None for name in MODELS for dataset in ("model", "untrained_model")},
        kept=("transfer.mobilenet_v2.features", *(f"transfer.{name}.history" for name in MODELS)),
    )
    SequentialRunner().run(pipeline, catalog)

    train, val = catalog.load("images_train"), catalog.load("images_val")
    for name, settings in MODELS.items():
        model = catalog.load(f"transfer.{name}.model")
        history = catalog.load(f"transfer.{name}.history")
        summary = catalog.load(f"transfer.{name}.training_summary")
        assert [layer.name for layer in model.layers][-4:] == ["preprocessing", "backbone", "pooling", "head"]
        assert model.get_layer("backbone").trainable is False
        assert set(history) == HISTORY_KEYS and all(len(values) == 2 for values in history.values())
        assert summary["strategy"] == "transfer" and summary["model_name"] == name
        assert summary["image_size"] == SIZE and summary["epochs_run"] == 2
        assert summary["learning_rate"] == pytest.approx(1e-3) and summary["optimizer"] == "adam"
        head_params = model.get_layer("head").count_params()
        assert summary["trainable_params"] == head_params < summary["total_params"] == model.count_params()
        assert predict_proba(model, val["images"]).shape == (6, 3)
        assert isinstance(model.get_layer("pooling"), POOLING_LAYERS[settings.get("pooling", "avg")])

    features = catalog.load("transfer.mobilenet_v2.features")
    assert features["train_features"].shape == (12, 1280) and features["val_features"].shape == (6, 1280)
    assert features["train_features"].dtype == np.float32
    np.testing.assert_array_equal(features["train_labels"], train["labels"])
    np.testing.assert_array_equal(features["val_labels"], val["labels"])
    assert float(features["extraction_seconds"]) > 0
    summary = catalog.load("transfer.mobilenet_v2.training_summary")
    assert summary["train_time_s"] >= float(features["extraction_seconds"])  # the extraction counts
    # The head trained on cached features is the classifier's own head: it predicts from images with it.
    model = catalog.load("transfer.mobilenet_v2.model")
    from_features = keras.ops.convert_to_numpy(model.get_layer("head")(features["val_features"], training=False))
    np.testing.assert_allclose(predict_proba(model, val["images"]), from_features, rtol=1e-4, atol=1e-5)
    assert model.get_layer("augmentation") is not None  # kept in the model for fine-tuning and end_to_end


def test_a_linear_head_is_the_tuned_logistic_regression_written_into_keras() -> None:
    from image_classification.training.linear_probe import (  # noqa: PLC0415
        LinearProbeSettings,
        fit_logistic_regression,
    )

    with model_plan({"transfer": {"models": {"probe_head": LBFGS_MODEL}}}):
        pipeline = create_pipeline(model_names=["probe_head"])
    parameters = {**PARAMETERS, "transfer.models.probe_head": LBFGS_MODEL}
    catalog = training_catalog(
        parameters,
        models={f"transfer.probe_head.{dataset}": None for dataset in ("model", "untrained_model")},
        kept=("transfer.probe_head.features", "transfer.probe_head.history"),
    )
    SequentialRunner().run(pipeline, catalog)

    summary = catalog.load("transfer.probe_head.training_summary")
    history = catalog.load("transfer.probe_head.history")
    features = catalog.load("transfer.probe_head.features")
    assert summary["optimizer"] == "lbfgs" and summary["epochs_run"] is None
    assert history["C"] == [0.01, 1.0] and summary["C"] in history["C"]
    assert 0 <= summary["validation_accuracy"] <= 1
    assert summary["validation_accuracy"] == max(history["cv_accuracy"])
    # The Keras head predicts what scikit-learn's logistic regression, refitted at the chosen C on train + val,
    # predicts from the same features.
    inputs = np.concatenate([features["train_features"], features["val_features"]])
    labels = np.concatenate([features["train_labels"], features["val_labels"]])
    regression = fit_logistic_regression(inputs, labels, summary["C"], LinearProbeSettings())
    model = catalog.load("transfer.probe_head.model")
    from_images = predict_proba(model, catalog.load("images_val")["images"])
    np.testing.assert_allclose(from_images, regression.predict_proba(features["val_features"]), atol=2e-4)
