"""Issue 14 case 10: a value of the wrong type or out of range fails before any node, naming the setting and what
a valid value is, and the nodes that read it say the same (never a raw ``int()``/``float()`` or tensor-shape error)."""

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


# (block, its new values, the expected problem: "<setting> = <value>: <what a valid value is>")
BAD_VALUES = [
    ("split", {"test_fraction": "abc"}, "split.test_fraction = 'abc': must be a number."),
    ("split", {"test_fraction": 1.5}, "split.test_fraction = 1.5: must be between 0 and 1 (exclusive)"),
    ("split", {"val_fraction": 0}, "split.val_fraction = 0.0: must be between 0 and 1 (exclusive)"),
    ("split", {"seed": "x"}, "split.seed = 'x': must be a whole number."),
    ("split", {"cross_validation": {"folds": 1}}, "split.cross_validation.folds = 1: must be a whole number of at"),
    ("split", {"cross_validation": {"folds": 5, "fold": 5}}, "split.cross_validation.fold = 5: must be a whole number from 0 to 4"),
    ("split.selection", {"top_n_classes": 1}, "split.selection.top_n_classes = 1: must be at least 2 (a classifier"),
    ("split.selection", {"classes": ["monet"]}, "split.selection.classes = ['monet']: must be at least 2 class names"),
    ("split.selection", {"min_images_per_class": "many"}, "split.selection.min_images_per_class = 'many': must be a whole"),
    ("preprocess", {"image_size": "abc"}, "preprocess.image_size = 'abc': must be a whole number of pixels, at least 8"),
    ("preprocess", {"workers": 0}, "preprocess.workers = 0: must be at least 1, or null."),
    ("predict", {"top_k": "abc"}, "predict.top_k = 'abc': must be a whole number."),
    ("predict", {"top_k": 0}, "predict.top_k = 0: must be at least 1 (classes reported per image)."),
    ("predict", {"batch_size": -5}, "predict.batch_size = -5: must be at least 1 (images per batch)."),
    ("predict", {"batch_size": 0}, "predict.batch_size = 0: must be at least 1 (images per batch)."),
    ("predict", {"model": "mobilenet_v2"}, "predict.model = 'mobilenet_v2': predict.model 'mobilenet_v2' must name"),
    ("report", {"confidence": 95}, "report.confidence = 95.0: must be between 0 and 1."),
    ("report", {"batch_size": 0}, "report.batch_size = 0: must be at least 1."),
    ("training", {"epochs": "ten"}, "training.epochs = 'ten': must be a whole number."),
    ("distribution", {"strategy": "mirrored"}, "distribution.strategy = 'mirrored': must be null (one device) or data_parallel"),
    ("ingest.source", {"type": "ftp"}, "ingest.source.type = 'ftp': unknown source type. Allowed: bundled, folder"),
    ("ingest.source", {"name": "paintings"}, "ingest.source.name = 'paintings': unknown bundled data set. Allowed: "),
    ("ingest.source", {"name": "../elsewhere"}, "ingest.source.name = '../elsewhere': must be a plain folder name"),
    ("ingest.source", {"type": "folder"}, "ingest.source.path = None: must be set when ingest.source.type is 'folder'."),
    ("ingest.source", {"type": "url"}, "ingest.source.url = None: must be set when ingest.source.type is 'url'."),
    ("ingest.source", {"sha256": "abc123"}, "ingest.source.sha256 = 'abc123': must be 64 hexadecimal digits, or null."),
    ("ingest.labels", {"from": "xml"}, "ingest.labels.from = 'xml': unknown labelling strategy. Allowed: folder, filename, csv."),
    ("ingest.labels", {"from": "csv"}, "ingest.labels.csv_path = None: must be set when ingest.labels.from is 'csv'."),
    ("ingest.labels", {"from": "filename", "pattern": "(?P<name>.*)"}, "ingest.labels.pattern = '(?P<name>.*)': needs a named group 'label'"),
    ("ingest.labels", {"from": "filename", "pattern": "(?P<label>"}, "ingest.labels.pattern = '(?P<label>': not a regular expression"),
    ("ingest.labels", {"ignore_dirs": "test"}, "ingest.labels.ignore_dirs = 'test': must be a list."),
    ("ingest.checks", {"min_side": -1}, "ingest.checks.min_side = -1: must be a positive number of pixels, or null."),
    ("ingest.checks", {"max_pixels": "lots"}, "ingest.checks.max_pixels = 'lots': must be a whole number."),
    ("ingest.archive_limits", {"max_ratio": 0}, "ingest.archive_limits.max_ratio = 0.0: must be at least 1."),
]


def _id(expected: str) -> str:
    """``split.test_fraction=abc`` for "split.test_fraction = 'abc': must be ..."."""
    return expected.split(":", 1)[0].replace(" = ", "=").replace("'", "")


@pytest.mark.parametrize(("path", "values", "expected"), BAD_VALUES, ids=[_id(expected) for *_, expected in BAD_VALUES])
def test_a_bad_value_names_the_setting_and_what_is_valid(base_parameters, path, values, expected):
    parameters = copy.deepcopy(base_parameters)
    block = parameters
    for key in path.split("."):
        block = block[key]
    block.update(values)
    with pytest.raises(RunParametersError) as caught:
        validate_run_parameters(parameters)
    assert len(caught.value.problems) == 1, caught.value  # the bad value alone, no knock-on problem
    assert f"- {expected}" in " ".join(str(caught.value).split())


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
    ("top_k", "batch_size", "expected"),
    [
        ("abc", 8, "predict.top_k = 'abc': must be a whole number."),
        (0, 8, "predict.top_k = 0: must be at least 1"),
        (2, -5, "predict.batch_size = -5: must be at least 1"),
        (2, 0, "predict.batch_size = 0: must be at least 1"),
    ],
    ids=["top_k=abc", "top_k=0", "batch_size=-5", "batch_size=0"],
)
def test_the_predict_node_names_a_bad_top_k_or_batch_size(tiny_model, top_k, batch_size, expected):
    """The served model takes ``predict.top_k`` per request, so the node checks it too."""
    pixels = np.zeros((3, 8, 8, 3), np.uint8)
    rows = pd.DataFrame({"file": ["a", "b", "c"], "problem": ["", "", ""]})
    with pytest.raises(ValueError, match=expected):
        classify_images(tiny_model, ["cat", "dog"], pixels, rows, top_k, batch_size)
    predictions = classify_images(tiny_model, ["cat", "dog"], pixels, rows, np.int64(1), 2)  # NumPy ints are fine
    assert list(predictions.columns) == ["file", "label_1", "probability_1", "problem"]


def test_decoding_names_a_bad_image_size():
    table = pd.DataFrame({"file": [], "image": []})
    with pytest.raises(ValueError, match=r"preprocess.image_size = 'abc': must be a whole number\."):
        decode_images(table, {"image_size": "abc", "resize_method": "stretch"})
    with pytest.raises(ValueError, match=r"preprocess.resize_method = 'squash': must be one of stretch, pad"):
        decode_images(table, {"image_size": 32, "resize_method": "squash"})
