"""Each model at its own image size: the plan, one cache per size from one decode per image, the wiring of training
and report to the cache of each model's size, and the run checks."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from PIL import Image
from sklearn.datasets import load_digits

import image_classification.data.resize as resize_module
from image_classification.datasets import MemmapArraysDataset
from image_classification.pipelines import finetune, preprocess, report, scratch, transfer
from image_classification.pipelines.preprocess.nodes import build_image_arrays
from image_classification.project.model_plan import ModelPlan, use_model_plan
from image_classification.project.run_checks import RunScope, check_run_parameters
from tests.pipelines.paintings import KeptDataset
from tests.scratch_project import PROJECT_ROOT

SPLITS = ("train", "val", "test")
#: Scratch basenet at the default 16 px, transfer (and so finetune) mobilenet_v2 at 32 px.
PARAMETERS = {
    "preprocess": {"image_size": 16, "augmentation": {"flip": None}},
    "scratch": {"models": {"basenet": {"architecture": "basenet", "input_size": None}}},
    "transfer": {"models": {"mobilenet_v2": {"backbone": "mobilenet_v2", "image_size": 32, "head": {"dense_units": []}}}},
    "finetune": {"models": {"mobilenet_v2": None}},
}  # fmt: skip
SCOPE = RunScope({"scratch": ["basenet"], "transfer": ["mobilenet_v2"], "finetune": ["mobilenet_v2"]}, preprocess=True)


@pytest.fixture
def plan():
    """The plan of ``PARAMETERS``, set as ModelPlanHook sets it in a session."""
    planned = ModelPlan.from_parameters(PARAMETERS)
    use_model_plan(planned)
    yield planned
    use_model_plan(None)


@pytest.fixture(scope="module")
def digit_splits(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """30 digit PNGs (3 classes), 6 per class for training and 2 each for val and test."""
    folder = tmp_path_factory.mktemp("digits")
    digits = load_digits()
    rows = []
    for label in (0, 1, 2):
        for index, image in enumerate(digits.images[digits.target == label][:10]):
            path = folder / f"{label}_{index}.png"
            Image.fromarray((image * 15).astype(np.uint8)).convert("RGB").save(path)
            rows.append({"path": str(path), "label": str(label), "split": "train" if index < 6 else SPLITS[1 + index % 2]})
    return pd.DataFrame(rows)


def test_a_model_takes_its_own_size_else_its_strategys_else_preprocess_and_a_fine_tune_its_transfer_models() -> None:
    parameters = copy.deepcopy(PARAMETERS)
    parameters["scratch"]["models"]["lenet"] = {"enabled": True}
    parameters["scratch"]["image_size"] = 24
    parameters["scratch"]["models"]["basenet"]["image_size"] = 16

    plan = ModelPlan.from_parameters(parameters)

    assert plan.image_sizes == {
        "scratch.basenet": 16, "scratch.lenet": 24, "transfer.mobilenet_v2": 32, "finetune.mobilenet_v2": 32,
    }  # fmt: skip
    assert plan.extra_image_sizes() == (24, 32)
    assert plan.images("scratch.basenet") == {"images_train": "images_train", "images_val": "images_val"}
    assert plan.images("finetune.mobilenet_v2", ("test",)) == {"images_test": "images_32px_test"}


def test_the_default_configuration_plans_one_size_so_preprocess_writes_only_images_split() -> None:
    parameters = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="base")["parameters"]
    plan = ModelPlan.from_parameters(parameters)

    assert plan.extra_image_sizes() == ()
    assert set(plan.image_sizes.values()) == {parameters["preprocess"]["image_size"]}
    built = preprocess.create_pipeline(extra_sizes=plan.extra_image_sizes())
    assert {name for name in built.all_outputs() if name.startswith("images_")} == {f"images_{s}" for s in SPLITS}


def test_each_models_training_and_report_nodes_read_the_cache_of_its_size(plan: ModelPlan) -> None:
    def images(pipeline) -> set[str]:
        return {name for name in pipeline.inputs() | pipeline.all_outputs() if name.startswith("images_")}

    assert images(preprocess.create_pipeline()) == {f"images_{s}" for s in SPLITS} | {f"images_32px_{s}" for s in SPLITS}
    assert images(scratch.create_pipeline()) == {"images_train", "images_val"}
    assert images(transfer.create_pipeline()) == {"images_32px_train", "images_32px_val"}
    assert images(finetune.create_pipeline()) == {"images_32px_train", "images_32px_val"}
    evaluations = {node.name: node.inputs for node in report.create_pipeline().nodes if node.name.endswith("evaluate_model")}
    assert evaluations == {
        "report.scratch.basenet.evaluate_model": ["scratch.basenet.model", "images_test", "class_names", "params:report"],
        **{
            f"report.{model}.evaluate_model": [f"{model}.model", "images_32px_test", "class_names", "params:report"]
            for model in ("transfer.mobilenet_v2", "finetune.mobilenet_v2")
        },
    }  # fmt: skip


def test_preprocess_decodes_each_image_once_for_every_size(
    digit_splits: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    real_load = resize_module.load_rgb

    def counted_load(path: str):
        decoded.append(path)
        return real_load(path)

    monkeypatch.setattr(resize_module, "load_rgb", counted_load)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "spill"))  # where the other sizes' chunks wait
    (tmp_path / "spill").mkdir()
    bundles = build_image_arrays(digit_splits, ["0", "1", "2"], PARAMETERS["preprocess"], extra_sizes=(32,))
    names = [f"images_{s}" for s in SPLITS] + [f"images_32px_{s}" for s in SPLITS]
    for name, bundle in zip(names, bundles, strict=True):  # saved in turn, as Kedro saves a node's outputs
        MemmapArraysDataset(filepath=str(tmp_path / name)).save(bundle)

    assert sorted(decoded) == sorted(digit_splits["path"])
    saved = {name: MemmapArraysDataset(filepath=str(tmp_path / name)).load() for name in names}
    for split in SPLITS:
        small, large = saved[f"images_{split}"], saved[f"images_32px_{split}"]
        assert small["images"].shape[1:] == (16, 16, 3) and large["images"].shape[1:] == (32, 32, 3)
        np.testing.assert_array_equal(small["labels"], large["labels"])  # same images, same order
        resized = [resize_module.resize_image(real_load(path), 32, "stretch") for path in digit_splits.query(
            "split == @split")["path"]]  # fmt: skip
        np.testing.assert_array_equal(large["images"], np.stack(resized))
    assert list((tmp_path / "spill").glob("preprocess-sizes-*/*")) == []  # read, then deleted


def test_a_fine_tune_at_another_size_than_its_transfer_model_is_refused_before_the_run() -> None:
    parameters = copy.deepcopy(PARAMETERS)
    parameters["finetune"]["models"]["mobilenet_v2"] = {"image_size": 48}

    problems = [str(problem) for problem in check_run_parameters(parameters, SCOPE) if "image_size" in str(problem)]

    assert problems == [
        "finetune.models.mobilenet_v2.image_size = 48: finetune.models.mobilenet_v2 starts from "
        "transfer.models.mobilenet_v2, which takes 32x32 px images (transfer.models.mobilenet_v2.image_size); a "
        "fine-tuned model keeps its transfer model's input size. Remove this image_size (it then follows the "
        "transfer model's) or set it to 32."
    ]
    assert [problem for problem in check_run_parameters(PARAMETERS, SCOPE) if "image_size" in str(problem)] == []


def test_a_model_is_checked_at_its_own_size_against_its_backbones_minimum() -> None:
    parameters = copy.deepcopy(PARAMETERS)
    parameters["transfer"]["models"]["mobilenet_v2"]["image_size"] = 16  # mobilenet_v2 needs 32
    parameters["preprocess"]["image_size"] = 64

    problems = [str(problem) for problem in check_run_parameters(parameters, SCOPE)]

    assert any(p.startswith("transfer.models.mobilenet_v2.image_size = 16: backbone 'mobilenet_v2'") for p in problems)
    assert all("preprocess.image_size" not in problem for problem in problems)


def _parameter(parameters: dict[str, Any], dotted: str) -> Any:
    value: Any = parameters
    for key in dotted.split("."):
        value = value[key]
    return value


def test_each_model_trains_and_is_evaluated_at_its_own_size(
    plan: ModelPlan, digit_splits: pd.DataFrame, tmp_path: Path
) -> None:
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="base")
    parameters = loader["parameters"]
    for block, settings in {**PARAMETERS, "training": {"epochs": 1, "batch_size": 8}}.items():
        parameters[block] = {**parameters.get(block, {}), **settings}
    for strategy in ("scratch", "transfer"):
        parameters[strategy]["training"] = {"epochs": 1}
    models = ("scratch.basenet", "transfer.mobilenet_v2")
    evaluated = {f"report.{model}.evaluate_model" for model in models} | {"report.compare_strategies"}
    pipeline = (
        preprocess.create_pipeline().only_nodes("build_image_arrays")
        + scratch.create_pipeline()
        + transfer.create_pipeline()
        + report.create_pipeline(list(models), {"transfer.mobilenet_v2": "images_32px_test"}).only_nodes(*evaluated)
    )
    images = [f"images_{s}" for s in SPLITS] + [f"images_32px_{s}" for s in SPLITS]
    entries: dict[str, Any] = {name: MemmapArraysDataset(filepath=str(tmp_path / name)) for name in images}
    entries |= {"splits": MemoryDataset(digit_splits), "class_names": MemoryDataset(["0", "1", "2"])}
    for name in pipeline.inputs():
        if name.startswith("params:"):
            entries[name] = MemoryDataset(_parameter(parameters, name.removeprefix("params:")))
    entries["transfer.mobilenet_v2.untrained_model"] = MemoryDataset(copy_mode="assign")  # Keras: not deep-copied
    kept = [f"{model}.model" for model in models] + [f"report.{model}.evaluation" for model in models]
    entries |= {name: KeptDataset() for name in [*kept, "strategy_tests"]}
    catalog = DataCatalog(datasets=entries)

    SequentialRunner().run(pipeline, catalog)

    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(images)  # one cache per size, versioned folders
    assert catalog.load("scratch.basenet.model").input_shape[1:] == (16, 16, 3)
    assert catalog.load("transfer.mobilenet_v2.model").input_shape[1:] == (32, 32, 3)
    for model in models:
        assert len(catalog.load(f"report.{model}.evaluation")["labels"]) == 6
    assert len(catalog.load("strategy_tests")) == 1  # McNemar's test paired the two sizes' test images
