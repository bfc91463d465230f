"""The model plan: built from the parameters in one place, set by the session hook, read by every pipeline."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework import project as kedro_project
from kedro_mlflow.pipeline.pipeline_ml import PipelineML

from image_classification import pipeline_registry, settings
from image_classification.data.sources import BUNDLED_DIR
from image_classification.pipelines import predict, scratch, transfer
from image_classification.project.hooks import ModelPlanHook
from image_classification.project.model_plan import (
    ModelPlan,
    configured_models,
    current_model_plan,
    trained_model_namespaces,
    use_model_plan,
)
from tests.scratch_project import kedro_env, make_scratch_project, run_kedro

PARAMETERS = {
    "scratch": {"models": {"basenet": {}, "lenet": {"enabled": False}, "cnn3_dropout": {"architecture": "cnn3_dropout"}}},
    "transfer": {"models": {"mobilenet_v2": {"mode": "end_to_end"}, "resnet50": {"backbone": "resnet50"}}},
    "finetune": {"models": {"mobilenet_v2": None}},
    "predict": {"model": "scratch.basenet", "top_k": 5},
}  # fmt: skip


@pytest.fixture
def session_plan():
    """Sets a plan as ModelPlanHook does in a session; back to reading conf/ afterwards."""
    yield use_model_plan
    use_model_plan(None)


def test_the_plan_lists_enabled_models_in_order_with_their_modes_and_the_served_model() -> None:
    plan = ModelPlan.from_parameters(PARAMETERS)

    assert plan.scratch == ("basenet", "cnn3_dropout") and plan.finetune == ("mobilenet_v2",)
    assert plan.transfer == ("mobilenet_v2", "resnet50")
    assert plan.transfer_mode("mobilenet_v2") == "end_to_end" and plan.transfer_mode("resnet50") == "feature_extraction"
    assert plan.served_model() == "scratch.basenet" and plan.predict_top_k == 5
    assert plan.namespaces() == [
        "scratch.basenet", "scratch.cnn3_dropout", "transfer.mobilenet_v2", "transfer.resnet50", "finetune.mobilenet_v2",
    ]  # fmt: skip
    assert ModelPlan.from_parameters({}) == ModelPlan()
    with pytest.raises(ValueError, match="'report'"):
        plan.models("report")


@pytest.mark.parametrize("namespace", ["", "mobilenet_v2", "serving.mobilenet_v2", "transfer."])
def test_a_bad_served_model_names_the_setting_and_where_to_set_it(namespace: str) -> None:
    plan = ModelPlan.from_parameters({"predict": {"model": namespace}})
    with pytest.raises(ValueError, match=rf"predict\.model '{re.escape(namespace)}'.*conf/local/parameters\.yml.*--params predict\.model="):
        plan.served_model()


def test_a_models_block_that_is_not_a_mapping_is_named() -> None:
    with pytest.raises(ValueError, match=r"'scratch\.models'.*conf/base/parameters_scratch\.yml.*\blist\b"):
        ModelPlan.from_parameters({"scratch": {"models": ["basenet"]}})


def test_pipelines_follow_the_plan_set_for_the_session(session_plan) -> None:
    session_plan(ModelPlan.from_parameters(PARAMETERS))

    assert current_model_plan() == ModelPlan.from_parameters(PARAMETERS)
    assert configured_models("scratch") == ["basenet", "cnn3_dropout"]
    assert trained_model_namespaces() == ModelPlan.from_parameters(PARAMETERS).namespaces()
    assert {node.namespace for node in scratch.create_pipeline().nodes} == {"scratch.basenet", "scratch.cnn3_dropout"}
    names = {node.name for node in transfer.create_pipeline().nodes}
    assert {"transfer.mobilenet_v2.train_transfer_end_to_end", "transfer.resnet50.train_head_on_features"} <= names
    assert "scratch.basenet.model" in predict.create_pipeline().inputs()


def test_outside_a_session_the_plan_is_read_from_conf_with_the_kedro_env_profile(tmp_path, monkeypatch) -> None:
    project = make_scratch_project(tmp_path / "project")
    (project / "conf" / "served_finetuned").mkdir()
    (project / "conf" / "served_finetuned" / "parameters.yml").write_text("predict:\n  model: finetune.mobilenet_v2\n")
    monkeypatch.chdir(project)

    assert current_model_plan().served_model() == "transfer.mobilenet_v2"  # conf/base
    monkeypatch.setenv("KEDRO_ENV", "served_finetuned")
    assert current_model_plan().served_model() == "finetune.mobilenet_v2"


def test_the_hook_runs_first_and_takes_the_runtime_params(tmp_path, session_plan) -> None:
    """``--params`` reach the config loader of the context, which the hook reads before pipelines are built."""
    assert any(isinstance(hook, ModelPlanHook) for hook in settings.HOOKS)
    assert ModelPlanHook.after_context_created.kedro_impl["tryfirst"]
    project = make_scratch_project(tmp_path / "project")
    runtime_params = {"predict": {"model": "scratch.basenet"}, "transfer": {"models": {"mobilenet_v2": {"mode": "end_to_end"}}}}
    loader = OmegaConfigLoader(
        conf_source=str(project / "conf"), env="local", runtime_params=runtime_params, **settings.CONFIG_LOADER_ARGS
    )

    ModelPlanHook().after_context_created(SimpleNamespace(config_loader=loader))

    plan = current_model_plan()
    assert plan.served_model() == "scratch.basenet" and plan.transfer_mode("mobilenet_v2") == "end_to_end"
    assert "mobilenet_v2" in plan.finetune  # the rest of the parameters as configured
    assert "scratch.basenet.model" in predict.create_pipeline().inputs()


@pytest.fixture
def configured_package(monkeypatch):
    """``find_pipelines`` as ``kedro run`` calls it: the package configured, and the names asked for on the CLI."""
    monkeypatch.setattr(kedro_project, "PACKAGE_NAME", "image_classification")
    yield kedro_project.pipelines.set_requested
    kedro_project.pipelines.set_requested(None)


def test_every_folder_is_registered_and_default_leaves_out_predict_and_serving(configured_package, session_plan) -> None:
    session_plan(ModelPlan.from_parameters(PARAMETERS))

    pipelines = pipeline_registry.register_pipelines()

    assert {"ingest", "split", "preprocess", "scratch", "transfer", "finetune", "report"} <= set(pipelines)
    assert isinstance(pipelines["train_and_serve"], PipelineML)
    default = {node.name for node in pipelines["__default__"].nodes}
    assert "scratch.basenet.train_scratch_model" in default and "finetune.mobilenet_v2.fine_tune_model" in default
    assert not default & {"image_table_from_folder", "decode_images", "classify_images", "stage_for_serving"}
    assert not any(name.startswith("fold_") for name in default)  # the study is a run of its own
    assert {"study", "baseline"} <= set(pipelines) and "decode_study_images" not in default


def test_kedro_run_pipelines_train_and_serve_builds_the_served_models_steps_only(configured_package, session_plan) -> None:
    session_plan(ModelPlan.from_parameters(PARAMETERS))
    configured_package(["train_and_serve"])  # what KedroSession.run does for --pipelines train_and_serve

    pipelines = pipeline_registry.register_pipelines()

    assert set(pipelines) == {"train_and_serve", "__default__"} and not pipelines["__default__"].nodes
    serving = pipelines["train_and_serve"]
    assert isinstance(serving, PipelineML) and serving.input_name == "prediction_images"
    trained = {node.namespace for node in serving.nodes if node.namespace}
    assert trained == {"scratch.basenet"}
    assert serving.log_model_kwargs["signature"].params.params[0].default == 5


@pytest.mark.e2e
def test_kedro_run_params_choose_the_model_predict_reads(tmp_path) -> None:
    """``kedro run --pipelines predict --params predict.model=...`` builds ``predict`` for that model."""
    project = make_scratch_project(tmp_path / "project", digits=True)
    params = f"predict.model=scratch.cnn3_dropout,predict.images_dir={BUNDLED_DIR / 'impressionists'}"

    result = run_kedro(project, "--pipelines", "predict", "--params", params, env=kedro_env(COLUMNS="400"), check=False)

    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0 and "scratch.cnn3_dropout.model: Did not find any versions" in output
