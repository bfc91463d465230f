"""Issue 23 item 5: every size, count and fraction setting has an upper bound that names the setting, checked before
any node; and an image cache larger than the free disk is refused, naming its size, before a single image is
decoded."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader

from image_classification.datasets import ArrayChunks, MemmapArraysDataset
from image_classification.datasets.memmap_arrays import NotEnoughDiskSpaceError
from image_classification.pipelines.preprocess.nodes import build_image_arrays
from image_classification.project.run_checks import RunParametersError, validate_run_parameters

from ..parameters import with_setting


@pytest.fixture(scope="module")
def base_parameters(project_root) -> dict:
    loader = OmegaConfigLoader(
        str(project_root / "conf"), base_env="base", default_run_env="base", merge_strategy={"parameters": "soft"}
    )
    return loader["parameters"]


# (block, key, a value far too large)
TOO_LARGE = [
    ("preprocess", "image_size", 100_000),
    ("preprocess", "workers", 100_000),
    ("split", "seed", 2**40),
    ("split.selection", "top_n_classes", 10**9),
    ("split.selection", "min_images_per_class", 10**12),
    ("ingest.checks", "max_pixels", 10**12),
    ("ingest.checks", "min_side", 100_000),
    ("ingest.checks", "near_duplicate_distance", 64),
    ("ingest.archive_limits", "max_total_gb", 10**9),
    ("ingest.archive_limits", "max_members", 10**12),
    ("ingest.archive_limits", "max_ratio", 10**9),
    ("predict", "top_k", 10**6),
    ("predict", "batch_size", 10**7),
    ("scratch.training", "epochs", 10**7),
    ("training", "batch_size", 10**7),
    ("scratch.training", "learning_rate", 1000.0),
    ("report", "batch_size", 10**7),
    ("report", "bootstrap_samples", 10**9),
    ("report", "grid_images", 10**6),
]


@pytest.mark.parametrize(("block", "key", "value"), TOO_LARGE, ids=[f"{b}.{k}" for b, k, _ in TOO_LARGE])
def test_a_value_far_too_large_is_refused_naming_the_setting(base_parameters, block, key, value):
    parameters = with_setting(base_parameters, block, key, value)
    with pytest.raises(RunParametersError) as caught:
        validate_run_parameters(parameters)
    assert [problem.parameter for problem in caught.value.problems] == [f"{block}.{key}"]


def test_folds_have_an_upper_bound(base_parameters):
    parameters = copy.deepcopy(base_parameters)
    parameters["split"]["cross_validation"] = {"folds": 10_000, "fold": 0}
    with pytest.raises(RunParametersError) as caught:
        validate_run_parameters(parameters)
    assert [problem.parameter for problem in caught.value.problems] == ["split.cross_validation.folds"]


def test_the_preprocess_node_refuses_image_size_100000_by_name_before_decoding():
    splits = pd.DataFrame({"path": ["/nowhere/a.png"] * 3, "label": ["a"] * 3, "split": ["train", "val", "test"]})
    with pytest.raises(ValueError, match=r"preprocess\.image_size = 100000"):
        build_image_arrays(splits, ["a"], {"image_size": 100_000})


def test_a_cache_larger_than_the_free_disk_is_refused_before_any_chunk_is_decoded(tmp_path):
    def never():
        raise AssertionError("a chunk was decoded")

    rows = 10**9  # 10^9 images of 4096 x 4096 x 3: 50 PB
    huge = ArrayChunks(rows, {"images": ((4096, 4096, 3), np.dtype(np.uint8)), "labels": ((), np.dtype(np.int64))}, never)
    dataset = MemmapArraysDataset(filepath=str(tmp_path / "images_train"))
    with pytest.raises(NotEnoughDiskSpaceError) as caught:
        dataset.save(huge)
    assert caught.value.needed == rows * (4096 * 4096 * 3 + 8) and caught.value.free < caught.value.needed
    assert not (tmp_path / "images_train").exists()
