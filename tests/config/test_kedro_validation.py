"""Kedro 1.7's own parameter validator checks the settings blocks the project's nodes are annotated with, scoped to
the pipelines being run; their keys reach MLflow one parameter each."""

from __future__ import annotations

import copy
import importlib
import logging

import mlflow
import pytest
from kedro.config import OmegaConfigLoader
from kedro.validation import ParameterValidationError
from kedro.validation.parameter_validator import ParameterValidator
from kedro.validation.type_extractor import TypeExtractor

from image_classification.data.settings import PreprocessSettings, SplitSettings
from image_classification.models.gan_settings import GanSettings
from image_classification.models.predict_settings import PredictSettings
from image_classification.models.settings import (
    FinetuneModelSettings,
    ScratchModelSettings,
    TransferModelSettings,
)
from image_classification.pipeline_registry import pipeline_names
from image_classification.pipelines.embeddings.pipeline import (
    create_pipeline as embeddings_pipeline,
)
from image_classification.pipelines.finetune.pipeline import create_pipeline as finetune_pipeline
from image_classification.pipelines.gan.pipeline import create_pipeline as gan_pipeline
from image_classification.pipelines.report.pipeline import create_pipeline as report_pipeline
from image_classification.pipelines.scratch.pipeline import create_pipeline as scratch_pipeline
from image_classification.pipelines.similar.pipeline import create_pipeline as similar_pipeline
from image_classification.pipelines.split.pipeline import create_pipeline as split_pipeline
from image_classification.pipelines.transfer.pipeline import create_pipeline as transfer_pipeline
from image_classification.project.hooks import SettingsParamsHook
from image_classification.reporting.embedding_settings import EmbeddingSettings, SimilarSettings
from image_classification.reporting.settings import ReportSettings
from image_classification.settings import CONFIG_LOADER_ARGS

from ..parameters import with_setting


@pytest.fixture(scope="module")
def parameters(project_root) -> dict:
    return OmegaConfigLoader(str(project_root / "conf"), **CONFIG_LOADER_ARGS)["parameters"]


@pytest.fixture(scope="module")
def pipelines() -> dict:
    return {
        "split": split_pipeline(),
        "report": report_pipeline(),
        "embeddings": embeddings_pipeline(),
        "similar": similar_pipeline(),
        "gan": gan_pipeline(),
        "scratch": scratch_pipeline(),
        "transfer": transfer_pipeline(),
        "finetune": finetune_pipeline(),
    }


def test_the_annotated_blocks_become_their_settings(parameters, pipelines) -> None:
    validated = ParameterValidator(pipelines).validate_raw_params(parameters)
    expected = {"split": SplitSettings, "preprocess": PreprocessSettings, "predict": PredictSettings,
                "report": ReportSettings, "embeddings": EmbeddingSettings, "similar": SimilarSettings, "gan": GanSettings}  # fmt: skip
    assert {block: type(validated[block]) for block in expected} == expected
    assert validated["report"].batch_size == parameters["report"]["batch_size"]
    assert isinstance(validated["training"], dict)  # merged per model by the run checks, not annotated
    for strategy, cls in (("scratch", ScratchModelSettings), ("transfer", TransferModelSettings), ("finetune", FinetuneModelSettings)):
        models = validated[strategy]["models"]
        assert models and all(isinstance(block, cls) for block in models.values()), strategy


@pytest.mark.parametrize(
    ("block", "key", "value"),
    [("report", "confidence", 95), ("report", "batch_siz", 8), ("split", "test_fraction", "abc"),
     ("gan", "image_size", 48), ("similar", "top_k", 0), ("embeddings", "pooling", "mean"),
     ("transfer.models.mobilenet_v2", "poolin", "max"), ("finetune.models.mobilenet_v1_075", "layer_decay", 2),
     ("scratch.models.basenet", "input_size", "big")],  # fmt: skip
)
def test_a_bad_value_stops_the_validator_naming_the_block_and_key(parameters, pipelines, block, key, value) -> None:
    bad = with_setting(parameters, block, key, value)
    with pytest.raises(ParameterValidationError) as caught:
        ParameterValidator(pipelines).validate_raw_params(bad)
    assert f"Parameter '{block}'" in str(caught.value) and key in str(caught.value)


def test_the_validator_is_scoped_to_the_pipelines_run(parameters, pipelines) -> None:
    bad = copy.deepcopy(parameters)
    bad["gan"]["image_size"] = 48
    validated = ParameterValidator({"split": pipelines["split"]}).validate_raw_params(bad)
    assert validated["gan"]["image_size"] == 48  # the gan pipeline is not run: its block is not read


def test_each_key_of_a_validated_block_is_an_mlflow_parameter(tmp_path) -> None:
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        with mlflow.start_run() as run:
            inputs = {"params:report": ReportSettings(registry={"alias": "best"}), "params:seed": 3, "images": None}
            SettingsParamsHook().before_node_run(node=None, inputs=inputs)
        logged = mlflow.get_run(run.info.run_id).data.params
    finally:
        mlflow.set_tracking_uri(None)
    assert logged["report.batch_size"] == str(ReportSettings().batch_size)
    assert logged["report.registry.alias"] == "best"
    assert "seed" not in logged and "images" not in logged  # plain values are kedro-mlflow's to log


def test_every_node_signature_is_one_kedro_reads_without_a_warning(caplog) -> None:
    """Kedro warns of a node whose hints it cannot resolve, or of a union it cannot validate: a warning of ours."""
    every = {name: importlib.import_module(f"image_classification.pipelines.{name}").create_pipeline()
             for name in pipeline_names() if name != "__default__"}  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="kedro.validation"):
        requirements = TypeExtractor(every).extract_types_from_pipelines()
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
    assert requirements["report"] is ReportSettings and requirements["transfer.models.mobilenet_v2"] is TransferModelSettings
