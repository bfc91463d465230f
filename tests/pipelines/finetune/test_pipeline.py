"""The finetune pipeline: unfreezes the top of each trained transfer model's backbone and trains on (warmup, then
cosine decay), run on real paintings with Kedro's runner, alone and after the transfer pipeline."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from kedro.runner import SequentialRunner

from image_classification.models.backbones import BACKBONES
from image_classification.models.inference import predict_proba
from image_classification.models.transfer import build_transfer_model, extract_features
from image_classification.pipelines.finetune.pipeline import create_pipeline
from image_classification.pipelines.transfer.pipeline import create_pipeline as transfer_pipeline
from tests.pipelines.paintings import (
    AUGMENTATION,
    HISTORY_KEYS,
    SHARED_TRAINING,
    SIZE,
    model_plan,
    painting_splits,
    training_catalog,
)

FINETUNE_TRAINING = {
    "epochs": 2, "batch_size": 4, "learning_rate": 1e-3, "lr_schedule": "cosine", "warmup_epochs": 1,
    "min_lr_ratio": 0.1, "reduce_lr_patience": None,
}  # fmt: skip
# The bundled ImageNet weights (offline, fast at 32 px): with random weights MobileNet v1's activations vanish
# through its frozen BatchNorms, and so do the gradients of its top layers.
TRANSFER_MODELS = {
    "mobilenet_v2": {"backbone": "mobilenet_v2", "weights": "imagenet"},
    "mobilenet_v1_075": {"backbone": "mobilenet_v1_075", "weights": "imagenet"},
}
FINETUNE_MODELS = {
    "mobilenet_v2": {"unfreeze_blocks": 2, "unfreeze_from": None},  # the top two blocks: Conv_1 and block 16
    "mobilenet_v1_075": {"unfreeze_from": None, "unfreeze_blocks": None},  # the backbone's default layer
}
UNFREEZE_FROM = {"mobilenet_v2": "block_16_expand", "mobilenet_v1_075": BACKBONES["mobilenet_v1_075"].default_unfreeze_layer}
PARAMETERS = {
    "training": SHARED_TRAINING,
    "finetune.training": FINETUNE_TRAINING,
    **{f"transfer.models.{name}": settings for name, settings in TRANSFER_MODELS.items()},
    **{f"finetune.models.{name}": settings for name, settings in FINETUNE_MODELS.items()},
}


def _transfer_model(settings: dict) -> keras.Model:
    """A transfer model with an untrained head (BatchNorm in it), standing in for transfer.<name>.model."""
    keras.utils.set_random_seed(0)
    return build_transfer_model(
        settings["backbone"], (SIZE, SIZE, 3), 3, settings["weights"], {"batch_norm": True, "dense_units": [8]}
    )


def _weights(layer: keras.layers.Layer) -> list[np.ndarray]:
    return [np.array(weight) for weight in layer.get_weights()]


#: The stand-in transfer models have a trained-by-gradient head, as end_to_end ones do: nothing to refit.
E2E_PLAN = {"transfer": {"models": {name: {**s, "mode": "end_to_end"} for name, s in TRANSFER_MODELS.items()}}}


def test_pipeline_reads_the_transfer_model_of_the_same_name() -> None:
    with model_plan(E2E_PLAN):
        pipeline = create_pipeline(model_names=list(FINETUNE_MODELS))
    assert pipeline.inputs() == {
        "images_train", "images_val", "class_names", "params:training", "params:finetune.training",
        *(f"params:{strategy}.models.{name}" for strategy in ("transfer", "finetune") for name in FINETUNE_MODELS),
        *(f"transfer.{name}.model" for name in FINETUNE_MODELS),
    }  # fmt: skip
    assert pipeline.outputs() == {
        f"finetune.{name}.{dataset}" for name in FINETUNE_MODELS for dataset in ("model", "history", "training_summary")
    }


def test_fine_tuning_trains_the_top_of_the_backbone_only() -> None:
    transfer_models = {f"transfer.{name}.model": _transfer_model(s) for name, s in TRANSFER_MODELS.items()}
    before = {
        name: {layer.name: _weights(layer) for layer in model.get_layer("backbone").layers}
        for name, model in transfer_models.items()
    }
    catalog = training_catalog(
        PARAMETERS,
        models={**transfer_models, **{f"finetune.{name}.model": None for name in FINETUNE_MODELS}},
        kept=tuple(f"finetune.{name}.history" for name in FINETUNE_MODELS),
    )
    with model_plan(E2E_PLAN):
        pipeline = create_pipeline(model_names=list(FINETUNE_MODELS))
    SequentialRunner().run(pipeline, catalog)

    for name, start in UNFREEZE_FROM.items():
        model = catalog.load(f"finetune.{name}.model")
        history = catalog.load(f"finetune.{name}.history")
        summary = catalog.load(f"finetune.{name}.training_summary")
        assert summary["strategy"] == "finetune" and summary["model_name"] == name
        assert summary["unfreeze_from"] == start and summary["lr_schedule"] == "cosine"
        assert summary["epochs_run"] == 2 and summary["image_size"] == SIZE
        assert 0.0 <= summary["start_validation_accuracy"] <= 1.0  # the transfer model's, before any epoch
        assert set(history) == HISTORY_KEYS and all(len(values) == 2 for values in history.values())
        # Warmup over the first epoch to the configured rate, then cosine decay to min_lr_ratio of it.
        assert history["learning_rate"] == [pytest.approx(1e-3), pytest.approx(1e-4)]
        assert predict_proba(model, catalog.load("images_val")["images"]).shape == (6, 3)

        layers = model.get_layer("backbone").layers
        index = [layer.name for layer in layers].index(start)
        for position, layer in enumerate(layers):
            batch_norm = isinstance(layer, keras.layers.BatchNormalization)
            assert layer.trainable == (position >= index and not batch_norm), layer.name
            changed = any(
                not np.allclose(old, new) for old, new in zip(before[f"transfer.{name}.model"][layer.name], _weights(layer), strict=True)
            )
            # Trained layers with weights moved; frozen layers and every BatchNorm (statistics too) did not.
            assert changed == (layer.trainable and bool(layer.trainable_weights)), layer.name
        assert summary["trainable_params"] == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert model.get_layer("head").trainable


def test_transfer_then_finetune_in_one_run() -> None:
    """The finetune pipeline picks up the model the transfer pipeline just trained (head first, then the backbone)."""
    transfer = {"mobilenet_v2": {**TRANSFER_MODELS["mobilenet_v2"], "mode": "end_to_end"}}
    with model_plan({"transfer": {"models": transfer}}):
        pipeline = transfer_pipeline(model_names=["mobilenet_v2"]) + create_pipeline(model_names=["mobilenet_v2"])
    assert "transfer.mobilenet_v2.model" not in pipeline.inputs()
    catalog = training_catalog(
        {
            **PARAMETERS,
            "transfer.training": {"epochs": 1, "batch_size": 4},
            "preprocess.augmentation": AUGMENTATION,
            "transfer.models.mobilenet_v2": transfer["mobilenet_v2"],
        },
        models={f"{ns}.{dataset}": None for ns in ("transfer.mobilenet_v2", "finetune.mobilenet_v2") for dataset in ("model", "untrained_model")},
    )
    SequentialRunner().run(pipeline, catalog)

    transfer_summary = catalog.load("transfer.mobilenet_v2.training_summary")
    finetune_summary = catalog.load("finetune.mobilenet_v2.training_summary")
    assert transfer_summary["epochs_run"] == 1 and finetune_summary["epochs_run"] == 2
    assert finetune_summary["trainable_params"] > transfer_summary["trainable_params"]  # the backbone's top too
    assert finetune_summary["unfreeze_from"] == "block_16_expand"


def test_a_linear_head_is_refitted_on_the_training_split_alone_before_fine_tuning() -> None:
    """The transfer head learned from train + validation; fine-tuning stops on validation, so it restarts from a head
    that never saw it: the validation features do not change it."""
    from image_classification.pipelines.finetune.nodes import refit_linear_head_on_training_split  # noqa: PLC0415
    from image_classification.training.linear_probe import (  # noqa: PLC0415
        LinearProbeSettings,
        fit_logistic_regression,
    )

    with model_plan({"transfer": {"models": TRANSFER_MODELS}}):
        assert "transfer.mobilenet_v2.features" in create_pipeline(model_names=["mobilenet_v2"]).inputs()
    train, val, _ = painting_splits()
    model = build_transfer_model("mobilenet_v2", (SIZE, SIZE, 3), 3, "imagenet", {"dense_units": []})
    train_features = extract_features(model, train["images"])
    settings = LinearProbeSettings(inner_folds=2, c_values=(0.01, 1.0))
    rng = np.random.default_rng(0)
    for val_features in (extract_features(model, val["images"]), rng.normal(size=(6, train_features.shape[1]))):
        features = {"train_features": train_features, "train_labels": train["labels"],
                    "val_features": val_features.astype(np.float32), "val_labels": val["labels"]}  # fmt: skip
        chosen = refit_linear_head_on_training_split(model, features, settings)
        expected = fit_logistic_regression(train_features, train["labels"], chosen, settings)
        np.testing.assert_allclose(
            predict_proba(model, train["images"]), expected.predict_proba(train_features), atol=2e-4
        )
