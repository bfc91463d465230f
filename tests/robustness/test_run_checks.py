"""Wrong parameters fail at the start of a run, before any node, naming the parameter and the allowed values."""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline

from image_classification import settings
from image_classification.models import weights as weights_module
from image_classification.models.backbones import BACKBONES, backbone_layer_names
from image_classification.models.scratch import SCRATCH_MODELS
from image_classification.pipelines.finetune.pipeline import create_pipeline as finetune_pipeline
from image_classification.pipelines.ingest.pipeline import create_pipeline as ingest_pipeline
from image_classification.pipelines.predict.pipeline import create_pipeline as predict_pipeline
from image_classification.pipelines.preprocess.pipeline import (
    create_pipeline as preprocess_pipeline,
)
from image_classification.pipelines.report.pipeline import create_pipeline as report_pipeline
from image_classification.pipelines.scratch.pipeline import create_pipeline as scratch_pipeline
from image_classification.pipelines.split.pipeline import create_pipeline as split_pipeline
from image_classification.pipelines.transfer.pipeline import create_pipeline as transfer_pipeline
from image_classification.project import model_plan
from image_classification.project.block_checks import base_blocks
from image_classification.project.hooks import RunChecksHook
from image_classification.project.run_checks import (
    RunParametersError,
    RunScope,
    check_run_parameters,
    run_scope,
    validate_run_parameters,
)
from image_classification.settings import CONFIG_LOADER_ARGS


@pytest.fixture(scope="module")
def project_parameters(project_root) -> dict:
    """The parameters in conf/base, as a session would read them (conf/local left out)."""
    loader = OmegaConfigLoader(
        str(project_root / "conf"), base_env="base", default_run_env="base", merge_strategy={"parameters": "soft"}
    )
    return loader["parameters"]


@pytest.fixture
def params(project_parameters) -> dict:
    return copy.deepcopy(project_parameters)


@pytest.fixture
def plan(params):
    """Pipelines built in the test follow ``params`` (as ModelPlanHook does in a session)."""
    model_plan.use_model_plan(model_plan.ModelPlan.from_parameters(params))
    yield params
    model_plan.use_model_plan(None)


def _problems(parameters: dict, pipeline: Pipeline | None = None) -> str:
    with pytest.raises(RunParametersError) as caught:
        validate_run_parameters(parameters, pipeline)
    return " ".join(str(caught.value).split())  # one line, whatever the wrapping


def test_the_project_parameters_pass(params):
    scope = validate_run_parameters(params)
    assert "mobilenet_v2" in scope.models["transfer"] and scope.preprocess
    assert all(scope.models[strategy] for strategy in model_plan.STRATEGIES)


def test_unknown_backbone_names_the_parameter_and_lists_the_backbones(params):
    params["transfer"]["models"]["mobilenet_v2"]["backbone"] = "resnet5000"
    message = _problems(params)
    assert "transfer.models.mobilenet_v2.backbone = 'resnet5000': unknown backbone" in message
    assert f"Allowed: {', '.join(BACKBONES)}." in message and "Did you mean resnet50?" in message


def test_image_size_below_the_backbone_minimum_names_both_settings(params):
    params["transfer"]["models"]["mobilenet_v2"]["backbone"] = "inception_v3"
    params["preprocess"]["image_size"] = 64
    message = _problems(params)
    assert "preprocess.image_size = 64: backbone 'inception_v3' (transfer.models.mobilenet_v2.backbone)" in message
    assert "at least 75x75 px" in message and "Raise preprocess.image_size to 75" in message


def test_image_size_below_a_scratch_model_minimum(params):
    params["preprocess"]["image_size"] = 12
    message = _problems(params)
    assert "scratch model 'basenet' (scratch.models.basenet.architecture) needs images of at least 16x16" in message
    assert "backbone 'mobilenet_v2'" in message  # 32 px: both models are reported in the same error


def test_image_size_that_is_not_a_size(params):
    params["preprocess"]["image_size"] = "big"
    assert "preprocess.image_size = 'big': must be a whole number of pixels, at least 8" in _problems(params)


def test_unknown_fine_tuning_layer_lists_close_matches(params):
    params["finetune"]["models"]["mobilenet_v2"]["unfreeze_from"] = "block_16_expnad"
    message = _problems(params)
    assert "finetune.models.mobilenet_v2.unfreeze_from = 'block_16_expnad'" in message
    assert "does not exist in backbone 'mobilenet_v2'" in message and "block_16_expand" in message


def test_fine_tuning_layer_count_out_of_range_gives_the_range(params):
    params["finetune"]["models"]["mobilenet_v2"]["unfreeze_from"] = 10_000
    layers = len(backbone_layer_names("mobilenet_v2"))
    assert f"allowed 0 to {layers}" in _problems(params)
    params["finetune"]["models"]["mobilenet_v2"]["unfreeze_from"] = 20  # a valid count passes
    validate_run_parameters(params)


def test_fine_tuning_needs_a_transfer_model_of_the_same_name(params):
    params["finetune"]["models"]["resnet"] = {"unfreeze_from": None}
    message = _problems(params)
    assert "finetune.models.resnet = {'unfreeze_from': None}" in message
    assert f"Allowed names (transfer models): {', '.join(params['transfer']['models'])}." in message


def test_unknown_scratch_architecture_and_option(params):
    params["scratch"]["models"]["basenet"]["architecture"] = "resnet_tiny"
    params["scratch"]["models"]["cnn3_dropout"]["options"] = {"dropuot": 0.2}
    message = _problems(params)
    assert "scratch.models.basenet.architecture = 'resnet_tiny': unknown scratch architecture." in message
    assert f"Allowed: {', '.join(sorted(SCRATCH_MODELS))}." in message
    assert (
        "scratch.models.cnn3_dropout.options.dropuot = 0.2: unknown option of 'cnn3_dropout'; did you mean 'dropout'? "
        "Allowed: dense_units, dropout."
    ) in message


def test_training_settings_are_checked_per_model_after_merging_the_blocks(params):
    """Each model's shared, strategy and model ``training`` blocks are merged and read by TrainingSettings."""
    params["scratch"]["training"]["optimiser"] = "adam"
    params["transfer"]["training"]["optimizer"] = "lion"
    params["transfer"]["models"]["mobilenet_v2"]["training"] = {"learning_rate": -1.0}
    params["finetune"]["training"]["epochs"] = 0
    params["finetune"]["models"]["mobilenet_v2"]["training"] = {"epochs": 2}  # the model's block overrides it
    params["training"]["class_weight"] = "auto"
    with pytest.raises(RunParametersError) as caught:
        validate_run_parameters(params)
    message = " ".join(str(caught.value).split())

    # Each problem is named by the block that set the key, and reported once however many models merge it.
    assert sorted(problem.parameter for problem in caught.value.problems) == sorted([
        "scratch.training.optimiser",  # the strategy block where the typo is, not a model's path
        "transfer.models.mobilenet_v2.training.learning_rate",
        "transfer.training.optimizer",
        "training.class_weight",  # reported with the typo above: every problem at once
        "finetune.training.epochs",  # still merged by the fine-tuned models that do not override it
    ])
    assert "5 parameter problem(s)" in message
    assert (
        "- scratch.training.optimiser = 'adam': unknown training setting; did you mean 'optimizer'? "
        "Allowed: epochs, batch_size, learning_rate, optimizer, momentum, lr_schedule"
    ) in message
    assert "- transfer.models.mobilenet_v2.training.learning_rate = -1.0: must be a positive number." in message
    assert message.count("- transfer.training.optimizer = 'lion': must be one of adam, adamw, sgd, rmsprop.") == 1
    assert message.count("- finetune.training.epochs = 0: must be at least 1.") == 1
    assert message.count("- training.class_weight = 'auto': must be 'balanced' or null.") == 1
    assert "finetune.models.mobilenet_v2.training.epochs" not in message


def test_cosine_schedule_and_fine_tuning_blocks_are_checked(params):
    params["finetune"]["training"].update(lr_schedule="cosine", reduce_lr_patience=2)
    params["finetune"]["models"]["mobilenet_v2"].update(unfreeze_from=None, unfreeze_blocks=99)
    message = _problems(params)
    assert (
        "finetune.training.reduce_lr_patience = 2: must be null with lr_schedule 'cosine' (the schedule sets the rate)."
    ) in message
    assert "finetune.models.mobilenet_v2.unfreeze_blocks = 99: unfreeze_blocks for mobilenet_v2 must be a whole number from 1 to 17" in message
    params["finetune"]["models"]["mobilenet_v2"].update(unfreeze_from="block_16_expand", unfreeze_blocks=2)
    message = _problems(params)
    assert "finetune.models.mobilenet_v2.unfreeze_from = 'block_16_expand': Set either unfreeze_from" in message
    assert "not both" in message
    params["finetune"]["training"]["reduce_lr_patience"] = None
    params["finetune"]["models"]["mobilenet_v2"].update(unfreeze_from=None, unfreeze_blocks=3)  # valid
    validate_run_parameters(params)


def test_a_training_block_that_is_not_a_mapping(params):
    params["transfer"]["training"] = ["epochs", 3]
    assert "transfer.training = ['epochs', 3]: must be a mapping of training settings" in _problems(params)


def test_transfer_mode_pooling_head_and_missing_weights_file(params, tmp_path):
    model = params["transfer"]["models"]["mobilenet_v2"]
    model.update(mode="fine", pooling="mean", weights=str(tmp_path / "missing.h5"), head={"units": [64]})
    message = _problems(params)
    assert "transfer.models.mobilenet_v2.mode = 'fine': unknown transfer mode. Allowed: feature_extraction" in message
    assert "transfer.models.mobilenet_v2.pooling = 'mean': unknown pooling. Allowed: avg, max." in message
    assert f"transfer.models.mobilenet_v2.weights = '{tmp_path / 'missing.h5'}': this weights file does not" in message
    assert "transfer.models.mobilenet_v2.head.units = [64]: unknown head setting; did you mean 'dense_units'?" in message


def test_imagenet_weights_not_cached_is_a_warning_not_an_error(params, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(weights_module, "BUNDLED_WEIGHTS_DIR", tmp_path / "no_bundled")  # as if not installed
    with caplog.at_level(logging.WARNING, logger="image_classification.project.run_checks"):
        validate_run_parameters(params)  # nothing downloaded here; the model build downloads it later
    assert "transfer.models.mobilenet_v2.weights = imagenet" in caplog.text and "will be downloaded" in caplog.text


def test_bundled_imagenet_weights_need_no_warning(params, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="image_classification.project.run_checks"):
        validate_run_parameters(params)
    assert "transfer.models.mobilenet_v2.weights = imagenet" not in caplog.text


def test_preprocess_settings_are_checked_when_preprocessing(params):
    params["preprocess"]["resize_method"] = "squash"
    params["preprocess"]["augmentation"]["flop"] = "horizontal"
    message = _problems(params)
    assert "preprocess.resize_method = 'squash': unknown resize method. Allowed: stretch, pad, center_crop." in message
    assert "preprocess.augmentation.flop = 'horizontal': unknown augmentation setting; did you mean 'flip'?" in message


def test_every_problem_is_reported_at_once(params):
    params["transfer"]["models"]["mobilenet_v2"]["backbone"] = "resnet5000"
    params["scratch"]["models"]["basenet"]["architecture"] = "nope"
    params["finetune"]["training"]["optimizer"] = "nope"
    with pytest.raises(RunParametersError) as caught:
        validate_run_parameters(params)
    finetune_models = model_plan.configured_models("finetune", params)
    # The bad optimizer is named by the block that sets it, so it is reported once however many fine-tuned
    # models merge it; so is the unknown backbone, which fine-tuning checks too.
    assert len(finetune_models) > 1
    assert [problem.parameter for problem in caught.value.problems] == [
        "scratch.models.basenet.architecture",
        "transfer.models.mobilenet_v2.backbone",
        "finetune.training.optimizer",
    ]
    assert str(caught.value.problems[-1]) == "finetune.training.optimizer = 'nope': must be one of adam, adamw, sgd, rmsprop."
    assert isinstance(caught.value, ValueError) and "3 parameter problem(s)" in str(caught.value)


def test_only_the_strategies_in_the_run_are_checked(plan):
    plan["transfer"]["models"]["mobilenet_v2"]["backbone"] = "resnet5000"
    plan["preprocess"]["image_size"] = 4
    # Neither ingest/split nor the report (which shares the model namespaces) trains anything.
    for pipeline in (ingest_pipeline() + split_pipeline(), report_pipeline(["transfer.mobilenet_v2"])):
        assert not any(run_scope(pipeline).models.values())
    validate_run_parameters(plan, ingest_pipeline() + split_pipeline())
    # The report reads preprocess (how its served models decode images), not the models' settings.
    message = _problems(plan, report_pipeline(["transfer.mobilenet_v2"]))
    assert "preprocess.image_size = 4" in message and "backbone" not in message
    plan["preprocess"]["image_size"] = 32
    validate_run_parameters(plan, scratch_pipeline())
    assert run_scope(scratch_pipeline()).models["scratch"] == ["basenet", "cnn3_dropout"]
    assert "transfer.models.mobilenet_v2.backbone" in _problems(plan, transfer_pipeline())
    # Fine-tuning alone reads the transfer model's backbone, so it is checked too.
    assert "transfer.models.mobilenet_v2.backbone" in _problems(plan, finetune_pipeline())


def test_the_hook_is_registered_runs_first_and_reads_the_run_parameters(plan):
    assert any(isinstance(hook, RunChecksHook) for hook in settings.HOOKS)
    assert RunChecksHook.before_pipeline_run.kedro_impl["tryfirst"]  # before kedro-mlflow starts a run
    plan["transfer"]["models"]["mobilenet_v2"]["backbone"] = "resnet5000"
    catalog = DataCatalog({"parameters": MemoryDataset(plan)})
    with pytest.raises(RunParametersError, match=re.escape("transfer.models.mobilenet_v2.backbone")):
        RunChecksHook().before_pipeline_run({}, transfer_pipeline(["mobilenet_v2"]), catalog)
    hook = RunChecksHook()  # in a session: the context's parameters, seen when it was created
    hook.after_context_created(SimpleNamespace(config_loader={"parameters": plan}))
    with pytest.raises(RunParametersError, match=re.escape("transfer.models.mobilenet_v2.backbone")):
        hook.before_pipeline_run({}, transfer_pipeline(["mobilenet_v2"]), DataCatalog())


def test_unknown_and_badly_typed_model_settings_are_named_with_a_suggestion(params):
    """Each model block is read by its settings class: unknown keys get a "did you mean", types are checked."""
    params["scratch"]["models"]["basenet"]["optons"] = {"dropout": 0.2}
    params["scratch"]["models"]["cnn3_dropout"]["input_size"] = "big"
    params["transfer"]["models"]["mobilenet_v2"]["poling"] = "max"
    params["finetune"]["models"]["mobilenet_v2"]["enabled"] = "sometimes"
    params["preprocess"]["worker"] = 4
    message = _problems(params)
    assert (
        "scratch.models.basenet.optons = {'dropout': 0.2}: unknown scratch model setting; did you mean 'options'? "
        "Allowed: architecture, image_size, input_size, options, training, enabled."
    ) in message
    assert "scratch.models.cnn3_dropout.input_size = 'big': must be a whole number." in message
    assert "transfer.models.mobilenet_v2.poling = 'max': unknown transfer model setting; did you mean 'pooling'?" in message
    assert "finetune.models.mobilenet_v2.enabled = 'sometimes': must be true or false." in message
    assert "preprocess.worker = 4: unknown preprocess setting; did you mean 'workers'?" in message


# Issue 14 case 9: a misspelt key in any block, at any depth, fails before any node with a "did you mean".
# (block, misspelt key, the key meant); blocks that conf/base leaves null are given one first (see _block).
MISSPELT_KEYS = [
    ("", "preprocss", "preprocess"),  # a top-level block: the real one would keep its defaults
    ("ingest", "sources", "source"),
    ("ingest.source", "kaggle_slg", "kaggle_slug"),
    ("ingest.labels", "patern", "pattern"),
    ("ingest.checks", "min_sid", "min_side"),
    ("ingest.archive_limits", "max_member", "max_members"),
    ("split", "test_fracton", "test_fraction"),
    ("split.selection", "top_n", "top_n_classes"),
    ("split.cross_validation", "fodl", "fold"),
    ("preprocess", "image_szie", "image_size"),
    ("preprocess.augmentation", "zoon", "zoom"),
    ("training", "optimiser", "optimizer"),
    ("scratch", "trainng", "training"),
    ("scratch.training", "learning_rat", "learning_rate"),
    ("scratch.models.basenet", "optons", "options"),
    ("scratch.models.cnn3_dropout.options", "dens_units", "dense_units"),
    ("transfer", "modles", "models"),
    ("transfer.models.mobilenet_v2", "poling", "pooling"),
    ("transfer.models.mobilenet_v2.head", "dropuot", "dropout"),
    ("finetune.models.mobilenet_v2", "unfreeze_form", "unfreeze_from"),
    ("finetune.models.mobilenet_v2.training", "epocs", "epochs"),
    ("predict", "topk", "top_k"),
    ("report", "bootstrap_sample", "bootstrap_samples"),
    ("report.registry", "alais", "alias"),
    ("distribution", "stratgy", "strategy"),
]
_FILLED = {"split.cross_validation": {"folds": 5}, "scratch.models.cnn3_dropout.options": {}}


def _block(parameters: dict, path: str) -> dict:
    """The mapping at dotted ``path`` (the top level for ""), filled in where conf/base leaves it null."""
    block = parameters
    for depth, key in enumerate(path.split(".") if path else []):
        if block.get(key) is None:
            block[key] = copy.deepcopy(_FILLED.get(".".join(path.split(".")[: depth + 1]), {}))
        block = block[key]
    return block


@pytest.mark.parametrize(("path", "misspelt", "meant"), MISSPELT_KEYS, ids=[f"{p}.{k}".lstrip(".") for p, k, _ in MISSPELT_KEYS])
def test_a_misspelt_key_in_any_block_is_named_with_a_suggestion(params, path, misspelt, meant):
    _block(params, path)[misspelt] = 1
    with pytest.raises(RunParametersError) as caught:
        validate_run_parameters(params)
    name = f"{path}.{misspelt}".lstrip(".")
    assert [problem.parameter for problem in caught.value.problems] == [name]  # only the typo, nothing else
    assert f"- {name} = 1: unknown " in str(caught.value) and f"did you mean '{meant}'? Allowed: " in str(caught.value)


@pytest.mark.parametrize(
    ("path", "misspelt", "pipeline"),
    [
        ("split", "test_fracton", split_pipeline),
        ("split.selection", "top_n", split_pipeline),
        ("preprocess", "image_szie", preprocess_pipeline),
        ("scratch.models.basenet", "optons", scratch_pipeline),
        ("ingest.labels", "patern", ingest_pipeline),
        ("predict", "top_kk", predict_pipeline),
    ],
)
def test_the_issue_examples_fail_the_pipeline_that_reads_them_before_any_node(plan, path, misspelt, pipeline):
    """The run checks look at the blocks the pipeline's nodes read (``params:split.selection`` reads ``split``)."""
    _block(plan, path)[misspelt] = 1
    with pytest.raises(RunParametersError, match=re.escape(f"{path}.{misspelt} = 1: unknown")):
        RunChecksHook().before_pipeline_run({}, pipeline(), DataCatalog({"parameters": MemoryDataset(plan)}))


def test_the_allowed_blocks_are_the_parameters_files_of_conf_base(project_root):
    """One conf/base/parameters_<block>.yml per block, holding that block only: what the top-level check relies on."""
    blocks = base_blocks(project_root / "conf")
    for block in blocks:
        content = yaml.safe_load((project_root / "conf" / "base" / f"parameters_{block}.yml").read_text())
        assert list(content) == [block], f"parameters_{block}.yml should define `{block}:` only"
    assert {"ingest", "split", "preprocess", "training", "predict", "report", "distribution"} <= set(blocks)


@pytest.mark.parametrize("profile", sorted(
    path.name for path in (Path(__file__).parents[2] / "conf").iterdir() if path.name not in ("base", "local")
))
def test_every_profile_passes_the_block_checks(profile, project_root):
    """Every data-set profile names only keys and values the blocks accept (the models are tested in profiles/)."""
    loader = OmegaConfigLoader(str(project_root / "conf"), env=profile, **CONFIG_LOADER_ARGS)
    scope = RunScope({strategy: [] for strategy in model_plan.STRATEGIES}, preprocess=True)
    assert check_run_parameters(loader["parameters"], scope, base_blocks(project_root / "conf")) == []
