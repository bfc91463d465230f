"""The scratch pipeline: one namespaced training pipeline per model, run on real paintings with Kedro's runner."""

from __future__ import annotations

import re

import keras
import pytest
from kedro.runner import SequentialRunner

from image_classification.models.inference import predict_proba
from image_classification.pipelines.scratch.pipeline import create_pipeline
from tests.pipelines.paintings import (
    AUGMENTATION,
    HISTORY_KEYS,
    SHARED_TRAINING,
    SIZE,
    training_catalog,
)

MODELS = ["basenet", "cnn3_dropout"]
PARAMETERS = {
    "training": SHARED_TRAINING,
    "scratch.training": {"epochs": 2, "batch_size": 4, "learning_rate": 2e-3},
    "scratch.models.basenet": {"architecture": "basenet"},
    # A model's own training block overrides the strategy's, key by key.
    "scratch.models.cnn3_dropout": {"architecture": "cnn3_dropout", "training": {"learning_rate": 5e-4, "optimizer": "sgd"}},
    "preprocess.augmentation": AUGMENTATION,
}


def test_pipeline_reads_shared_inputs_and_per_model_parameters() -> None:
    pipeline = create_pipeline(model_names=MODELS)
    assert pipeline.inputs() == {
        "images_train", "images_val", "class_names", "params:training", "params:scratch.training",
        "params:preprocess.augmentation", "params:scratch.models.basenet", "params:scratch.models.cnn3_dropout",
    }  # fmt: skip
    assert pipeline.outputs() == {
        f"scratch.{name}.{dataset}" for name in MODELS for dataset in ("model", "history", "training_summary")
    }
    one = pipeline.only_nodes_with_tags("scratch.basenet")
    assert {node.name for node in one.nodes} == {
        "scratch.basenet.collect_training_blocks", "scratch.basenet.train_scratch_model",
    }  # fmt: skip
    assert all(node.tags == {"scratch", "scratch.basenet"} for node in one.nodes)
    assert not create_pipeline(model_names=[]).nodes


def test_pipeline_trains_every_model_on_real_paintings() -> None:
    catalog = training_catalog(
        PARAMETERS,
        models={f"scratch.{name}.model": None for name in MODELS},
        kept=tuple(f"scratch.{name}.history" for name in MODELS),
    )
    outputs = SequentialRunner().run(create_pipeline(model_names=MODELS), catalog)

    assert set(outputs) == create_pipeline(model_names=MODELS).outputs()
    val = catalog.load("images_val")
    for name, learning_rate, optimizer in (("basenet", 2e-3, "adam"), ("cnn3_dropout", 5e-4, "sgd")):
        model = catalog.load(f"scratch.{name}.model")
        history = catalog.load(f"scratch.{name}.history")
        summary = catalog.load(f"scratch.{name}.training_summary")
        assert isinstance(model, keras.Model) and model.input_shape == (None, SIZE, SIZE, 3)
        assert predict_proba(model, val["images"]).shape == (6, 3)
        assert set(history) == HISTORY_KEYS and all(len(values) == 2 for values in history.values())
        assert history["learning_rate"] == [pytest.approx(learning_rate)] * 2
        assert summary["strategy"] == "scratch" and summary["model_name"] == name
        assert summary["image_size"] == SIZE and summary["epochs_run"] == 2
        assert summary["learning_rate"] == pytest.approx(learning_rate) and summary["optimizer"] == optimizer
        assert summary["lr_schedule"] == "constant"
        assert summary["trainable_params"] == summary["total_params"] == model.count_params()
        assert isinstance(model.optimizer, keras.optimizers.SGD if optimizer == "sgd" else keras.optimizers.Adam)


def test_one_model_runs_alone_by_its_tag() -> None:
    pipeline = create_pipeline(model_names=MODELS).only_nodes_with_tags("scratch.basenet")
    catalog = training_catalog(
        {**PARAMETERS, "scratch.training": {"epochs": 1, "batch_size": 4}}, models={"scratch.basenet.model": None}
    )
    SequentialRunner().run(pipeline, catalog)
    assert catalog.load("scratch.basenet.training_summary")["epochs_run"] == 1
    assert "scratch.cnn3_dropout.model" not in catalog


@pytest.mark.parametrize(
    ("block", "named"),
    [("scratch.training", "scratch.training.epoch"), ("scratch.models.basenet", "scratch.models.basenet.training.epoch")],
)
def test_a_bad_training_key_is_named_by_the_block_that_set_it(block: str, named: str) -> None:
    settings = {"epoch": 1} if block == "scratch.training" else {**PARAMETERS[block], "training": {"epoch": 1}}
    catalog = training_catalog({**PARAMETERS, block: settings}, models={"scratch.basenet.model": None})
    with pytest.raises(ValueError, match=rf"{re.escape(named)} = 1\b.*'epochs'"):
        SequentialRunner().run(create_pipeline(model_names=["basenet"]), catalog)
