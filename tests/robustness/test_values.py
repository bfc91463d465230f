"""Issue 14 case 10: a value of the wrong type or out of range fails before any node as one problem naming the
setting and the value, and the nodes that read it name them too (never a raw ``int()``/``float()`` or tensor-shape
error)."""

from __future__ import annotations

import copy

import keras
import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader

from image_classification.pipelines.predict.nodes import classify_images, decode_images
from image_classification.project.model_plan import ModelPlan
from image_classification.project.run_checks import RunParametersError, validate_run_parameters


@pytest.fixture(scope="module")
def base_parameters(project_root) -> dict:
    loader = OmegaConfigLoader(
        str(project_root / "conf"), base_env="base", default_run_env="base", merge_strategy={"parameters": "soft"}
    )
    return loader["parameters"]


# (block, its new values, the setting and the value the one problem names)
BAD_VALUES = [
    ("split", {"test_fraction": "abc"}, "split.test_fraction", "abc"),
    ("split", {"test_fraction": 1.5}, "split.test_fraction", 1.5),
    ("split", {"val_fraction": 0}, "split.val_fraction", 0.0),
    ("split", {"seed": "x"}, "split.seed", "x"),
    ("split", {"cross_validation": {"folds": 1}}, "split.cross_validation.folds", 1),
    ("split", {"cross_validation": {"folds": 5, "fold": 5}}, "split.cross_validation.fold", 5),
    ("split.selection", {"top_n_classes": 1}, "split.selection.top_n_classes", 1),
    ("split.selection", {"classes": ["monet"]}, "split.selection.classes", ["monet"]),
    ("split.selection", {"min_images_per_class": "many"}, "split.selection.min_images_per_class", "many"),
    ("preprocess", {"image_size": "abc"}, "preprocess.image_size", "abc"),
    ("preprocess", {"workers": 0}, "preprocess.workers", 0),
    ("predict", {"top_k": "abc"}, "predict.top_k", "abc"),
    ("predict", {"top_k": 0}, "predict.top_k", 0),
    ("predict", {"batch_size": -5}, "predict.batch_size", -5),
    ("predict", {"batch_size": 0}, "predict.batch_size", 0),
    ("predict", {"model": "mobilenet_v2"}, "predict.model", "mobilenet_v2"),
    ("report", {"confidence": 95}, "report.confidence", 95.0),
    ("report", {"batch_size": 0}, "report.batch_size", 0),
    ("training", {"epochs": "ten"}, "training.epochs", "ten"),
    ("distribution", {"strategy": "mirrored"}, "distribution.strategy", "mirrored"),
    ("ingest.source", {"type": "ftp"}, "ingest.source.type", "ftp"),
    ("ingest.source", {"name": "paintings"}, "ingest.source.name", "paintings"),
    ("ingest.source", {"name": "../elsewhere"}, "ingest.source.name", "../elsewhere"),
    ("ingest.source", {"type": "folder"}, "ingest.source.path", None),
    ("ingest.source", {"type": "url"}, "ingest.source.url", None),
    ("ingest.source", {"sha256": "abc123"}, "ingest.source.sha256", "abc123"),
    ("ingest.labels", {"from": "xml"}, "ingest.labels.from", "xml"),
    ("ingest.labels", {"from": "csv"}, "ingest.labels.csv_path", None),
    ("ingest.labels", {"from": "filename", "pattern": "(?P<name>.*)"}, "ingest.labels.pattern", "(?P<name>.*)"),
    ("ingest.labels", {"from": "filename", "pattern": "(?P<label>"}, "ingest.labels.pattern", "(?P<label>"),
    ("ingest.labels", {"ignore_dirs": "test"}, "ingest.labels.ignore_dirs", "test"),
    ("ingest.checks", {"min_side": -1}, "ingest.checks.min_side", -1),
    ("ingest.checks", {"max_pixels": "lots"}, "ingest.checks.max_pixels", "lots"),
    ("ingest.archive_limits", {"max_ratio": 0}, "ingest.archive_limits.max_ratio", 0.0),
]


@pytest.mark.parametrize(
    ("path", "values", "setting", "value"), BAD_VALUES, ids=[f"{setting}={value}" for *_, setting, value in BAD_VALUES]
)
def test_a_bad_value_is_one_problem_naming_the_setting_and_the_value(base_parameters, path, values, setting, value):
    parameters = copy.deepcopy(base_parameters)
    block = parameters
    for key in path.split("."):
        block = block[key]
    block.update(values)
    with pytest.raises(RunParametersError) as caught:
        validate_run_parameters(parameters)
    assert len(caught.value.problems) == 1, caught.value  # the bad value alone, no knock-on problem
    [problem] = caught.value.problems
    assert (problem.parameter, problem.value) == (setting, value)
    assert f"{setting} = {value!r}" in " ".join(str(caught.value).split())  # as the message shows it


def test_a_bad_top_k_leaves_the_model_plan_to_the_run_checks(base_parameters):
    """The plan is built before any check (it shapes the pipelines): a bad ``top_k`` keeps the default there."""
    parameters = copy.deepcopy(base_parameters)
    parameters["predict"]["top_k"] = "abc"
    assert ModelPlan.from_parameters(parameters).predict_top_k == 3
    parameters["predict"]["top_k"] = 5
    assert ModelPlan.from_parameters(parameters).predict_top_k == 5


@pytest.fixture(scope="module")
def tiny_model() -> keras.Model:
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])


@pytest.mark.parametrize(
    ("top_k", "batch_size", "named"),
    [
        ("abc", 8, r"predict\.top_k = 'abc'"),
        (0, 8, r"predict\.top_k = 0\b"),
        (2, -5, r"predict\.batch_size = -5\b"),
        (2, 0, r"predict\.batch_size = 0\b"),
    ],
    ids=["top_k=abc", "top_k=0", "batch_size=-5", "batch_size=0"],
)
def test_the_predict_node_names_a_bad_top_k_or_batch_size(tiny_model, top_k, batch_size, named):
    """The served model takes ``predict.top_k`` per request, so the node checks it too."""
    pixels = np.zeros((3, 8, 8, 3), np.uint8)
    rows = pd.DataFrame({"file": ["a", "b", "c"], "problem": ["", "", ""]})
    with pytest.raises(ValueError, match=named):
        classify_images(tiny_model, ["cat", "dog"], pixels, rows, top_k, batch_size)
    predictions = classify_images(tiny_model, ["cat", "dog"], pixels, rows, np.int64(1), 2)  # NumPy ints are fine
    assert list(predictions.columns) == ["file", "label_1", "probability_1", "problem"]


def test_decoding_names_a_bad_image_size():
    table = pd.DataFrame({"file": [], "image": []})
    with pytest.raises(ValueError, match=r"preprocess\.image_size = 'abc'"):
        decode_images(table, {"image_size": "abc", "resize_method": "stretch"})
    with pytest.raises(ValueError, match=r"preprocess\.resize_method = 'squash'"):
        decode_images(table, {"image_size": 32, "resize_method": "squash"})
