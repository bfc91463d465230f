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
from image_classification.project.model_checks import ParameterProblem
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


def _caught(parameters: dict, pipeline: Pipeline | None = None) -> RunParametersError:
    with pytest.raises(RunParametersError) as caught:
        validate_run_parameters(parameters, pipeline)
    return caught.value


def _problems(parameters: dict, pipeline: Pipeline | None = None) -> str:
    return " ".join(str(_caught(parameters, pipeline)).split())  # one line, whatever the wrapping


def _by_parameter(parameters: dict, pipeline: Pipeline | None = None) -> dict[str, ParameterProblem]:
    """Each problem by the parameter it names (parameters named once; see ``_caught`` for the others)."""
    return {problem.parameter: problem for problem in _caught(parameters, pipeline).problems}


def _names(message: str, *identifiers: str) -> bool:
    """Whether ``message`` names every one of ``identifiers`` (whole words: ``max`` is not ``max_pixels``)."""
    return all(re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", message) for name in identifiers)


def test_the_project_parameters_pass(params):
    scope = validate_run_parameters(params)
    assert "mobilenet_v2" in scope.models["transfer"] and scope.preprocess
    assert all(scope.models[strategy] for strategy in model_plan.STRATEGIES)


def test_unknown_backbone_names_the_parameter_and_lists_the_backbones(params):
    params["transfer"]["models"]["mobilenet_v2"]["backbone"] = "resnet5000"
    problem = _by_parameter(params)["transfer.models.mobilenet_v2.backbone"]
    assert problem.value == "resnet5000" and _names(problem.message, *BACKBONES)


def test_image_size_below_the_backbone_minimum_names_both_settings(params):
    params["transfer"]["models"]["mobilenet_v2"]["backbone"] = "inception_v3"
    params["preprocess"]["image_size"] = 64
    problem = _by_parameter(params)["preprocess.image_size"]
    assert problem.value == 64
    assert _names(problem.message, "'inception_v3'", "transfer.models.mobilenet_v2.backbone", "75x75")


def test_image_size_below_a_scratch_model_minimum(params):
    params["preprocess"]["image_size"] = 12
    messages = [problem.message for problem in _caught(params).problems
                if (problem.parameter, problem.value) == ("preprocess.image_size", 12)]  # fmt: skip
    assert any(_names(message, "'basenet'", "scratch.models.basenet.architecture", "16x16") for message in messages)
    assert any(_names(message, "'mobilenet_v2'") for message in messages)  # 32 px: both models are reported at once


def test_image_size_that_is_not_a_size(params):
    params["preprocess"]["image_size"] = "big"
    assert _by_parameter(params)["preprocess.image_size"].value == "big"


def test_unknown_fine_tuning_layer_lists_close_matches(params):
    params["finetune"]["models"]["mobilenet_v2"]["unfreeze_from"] = "block_16_expnad"
    problem = _by_parameter(params)["finetune.models.mobilenet_v2.unfreeze_from"]
    assert problem.value == "block_16_expnad" and _names(problem.message, "'mobilenet_v2'", "block_16_expand")


def test_fine_tuning_layer_count_out_of_range_gives_the_range(params):
    params["finetune"]["models"]["mobilenet_v2"]["unfreeze_from"] = 10_000
    layers = len(backbone_layer_names("mobilenet_v2"))
    problem = _by_parameter(params)["finetune.models.mobilenet_v2.unfreeze_from"]
    assert problem.value == 10_000 and re.search(rf"\b0\b\D+\b{layers}\b", problem.message)  # 0 to the layer count
    params["finetune"]["models"]["mobilenet_v2"]["unfreeze_from"] = 20  # a valid count passes
    validate_run_parameters(params)


def test_fine_tuning_needs_a_transfer_model_of_the_same_name(params):
    params["finetune"]["models"]["resnet"] = {"unfreeze_from": None}
    problem = _by_parameter(params)["finetune.models.resnet"]
    assert problem.value == {"unfreeze_from": None}
    assert _names(problem.message, "transfer.models", *params["transfer"]["models"])  # the names it may have


def test_unknown_scratch_architecture_and_option(params):
    params["scratch"]["models"]["basenet"]["architecture"] = "resnet_tiny"
    params["scratch"]["models"]["cnn3_dropout"]["options"] = {"dropuot": 0.2}
    problems = _by_parameter(params)
    architecture = problems["scratch.models.basenet.architecture"]
    assert architecture.value == "resnet_tiny" and _names(architecture.message, *SCRATCH_MODELS)
    option = problems["scratch.models.cnn3_dropout.options.dropuot"]
    assert option.value == 0.2 and _names(option.message, "'cnn3_dropout'", "'dropout'")  # the model, the closest key


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
    problems = caught.value.problems

    # Each problem is named by the block that set the key, and reported once however many models merge it.
    assert sorted((problem.parameter, problem.value) for problem in problems) == sorted([
        ("scratch.training.optimiser", "adam"),  # the strategy block where the typo is, not a model's path
        ("transfer.models.mobilenet_v2.training.learning_rate", -1.0),
        ("transfer.training.optimizer", "lion"),
        ("training.class_weight", "auto"),  # reported with the typo above: every problem at once
        ("finetune.training.epochs", 0),  # still merged by the fine-tuned models that do not override it
    ])
    typo = next(problem for problem in problems if problem.parameter == "scratch.training.optimiser")
    assert _names(typo.message, "'optimizer'")  # the closest key
    assert all(str(problem) in str(caught.value) for problem in problems)  # each listed in the error
    assert "finetune.models.mobilenet_v2.training.epochs" not in str(caught.value)


def test_cosine_schedule_and_fine_tuning_blocks_are_checked(params):
    params["finetune"]["training"].update(lr_schedule="cosine", reduce_lr_patience=2)
    params["finetune"]["models"]["mobilenet_v2"].update(unfreeze_from=None, unfreeze_blocks=99)
    problems = _by_parameter(params)
    patience = problems["finetune.training.reduce_lr_patience"]
    assert patience.value == 2 and _names(patience.message, "lr_schedule", "'cosine'")
    blocks = problems["finetune.models.mobilenet_v2.unfreeze_blocks"]
    assert blocks.value == 99 and re.search(r"\b1\b\D+\b17\b", blocks.message)  # mobilenet_v2's blocks: 1 to 17
    params["finetune"]["models"]["mobilenet_v2"].update(unfreeze_from="block_16_expand", unfreeze_blocks=2)
    both = _by_parameter(params)["finetune.models.mobilenet_v2.unfreeze_from"]
    assert both.value == "block_16_expand" and _names(both.message, "unfreeze_blocks")  # the other one set
    params["finetune"]["training"]["reduce_lr_patience"] = None
    params["finetune"]["models"]["mobilenet_v2"].update(unfreeze_from=None, unfreeze_blocks=3)  # valid
    validate_run_parameters(params)


def test_a_training_block_that_is_not_a_mapping(params):
    params["transfer"]["training"] = ["epochs", 3]
    assert _by_parameter(params)["transfer.training"].value == ["epochs", 3]


def test_transfer_mode_pooling_head_and_missing_weights_file(params, tmp_path):
    model = params["transfer"]["models"]["mobilenet_v2"]
    model.update(mode="fine", pooling="mean", weights=str(tmp_path / "missing.h5"), head={"units": [64]})
    problems = _by_parameter(params)
    mode = problems["transfer.models.mobilenet_v2.mode"]
    assert mode.value == "fine" and _names(mode.message, "feature_extraction", "end_to_end")  # the allowed modes
    pooling = problems["transfer.models.mobilenet_v2.pooling"]
    assert pooling.value == "mean" and _names(pooling.message, "avg", "max")
    assert problems["transfer.models.mobilenet_v2.weights"].value == str(tmp_path / "missing.h5")
    head = problems["transfer.models.mobilenet_v2.head.units"]
    assert head.value == [64] and _names(head.message, "'dense_units'")  # the closest key


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
    problems = _by_parameter(params)
    resize = problems["preprocess.resize_method"]
    assert resize.value == "squash" and _names(resize.message, "stretch", "pad", "center_crop")  # the allowed ones
    flop = problems["preprocess.augmentation.flop"]
    assert flop.value == "horizontal" and _names(flop.message, "'flip'")  # the closest key


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
    assert [(problem.parameter, problem.value) for problem in caught.value.problems] == [
        ("scratch.models.basenet.architecture", "nope"),
        ("transfer.models.mobilenet_v2.backbone", "resnet5000"),
        ("finetune.training.optimizer", "nope"),
    ]
    assert str(caught.value.problems[-1]).startswith("finetune.training.optimizer = 'nope'")
    assert isinstance(caught.value, ValueError)
    assert all(str(problem) in str(caught.value) for problem in caught.value.problems)  # one error lists all three


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
    problems = _by_parameter(params)
    assert {parameter: problem.value for parameter, problem in problems.items()} == {
        "scratch.models.basenet.optons": {"dropout": 0.2},
        "scratch.models.cnn3_dropout.input_size": "big",
        "transfer.models.mobilenet_v2.poling": "max",
        "finetune.models.mobilenet_v2.enabled": "sometimes",
        "preprocess.worker": 4,
    }
    for misspelt, meant in (("scratch.models.basenet.optons", "options"), ("transfer.models.mobilenet_v2.poling",
                            "pooling"), ("preprocess.worker", "workers")):  # fmt: skip
        assert _names(problems[misspelt].message, f"'{meant}'"), misspelt  # the closest key


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
    assert [(problem.parameter, problem.value) for problem in caught.value.problems] == [(name, 1)]  # only the typo
    assert _names(caught.value.problems[0].message, f"'{meant}'")  # the closest key
    assert f"{name} = 1" in str(caught.value)


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
    with pytest.raises(RunParametersError, match=rf"{re.escape(f'{path}.{misspelt}')} = 1\b"):
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
