"""Tests for class selection and the stratified splits."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from image_classification.pipelines.split.nodes import select_classes, split_dataset
from image_classification.pipelines.split.pipeline import create_pipeline

SPLIT_CONFIG = {"test_fraction": 0.05, "val_fraction": 0.15, "seed": 42}


def _manifest(counts: dict[str, int]) -> pd.DataFrame:
    rows = [
        {"path": f"/data/{label}/{index}.png", "label": label, "sha256": f"{label}{index}"}
        for label, count in counts.items()
        for index in range(count)
    ]
    return pd.DataFrame(rows)


def test_select_classes_keeps_top_n_and_drops_small_classes():
    manifest = _manifest({"monet": 50, "degas": 30, "renoir": 30, "pollock": 4})
    top_two = select_classes(manifest, {"top_n_classes": 2})
    assert sorted(top_two["label"].unique()) == ["degas", "monet"]  # tie 30/30 broken by name
    enough = select_classes(manifest, {"min_images_per_class": 10})
    assert "pollock" not in set(enough["label"])
    assert len(enough) == 110


def test_select_classes_names_unknown_classes():
    with pytest.raises(ValueError, match=r"not in the manifest: \['picasso'\]"):
        select_classes(_manifest({"monet": 5}), {"classes": ["monet", "picasso"]})


def test_split_is_stratified_95_5_and_disjoint():
    manifest = _manifest({"cat": 600, "dog": 400})
    splits, class_names = split_dataset(manifest, SPLIT_CONFIG)
    assert class_names == ["cat", "dog"]
    assert splits["path"].is_unique and len(splits) == 1000
    test = splits[splits["split"] == "test"]
    assert len(test) == 50
    assert test["label"].value_counts().to_dict() == {"cat": 30, "dog": 20}
    val = splits[splits["split"] == "val"]
    assert abs(len(val) - 0.15 * 950) <= 1
    assert abs((val["label"] == "cat").mean() - 0.6) < 0.02


def test_split_is_reproducible_with_a_seed():
    manifest = _manifest({"a": 40, "b": 40, "c": 40})
    first, _ = split_dataset(manifest, SPLIT_CONFIG)
    second, _ = split_dataset(manifest, SPLIT_CONFIG)
    pd.testing.assert_frame_equal(first, second)


def test_a_class_too_small_to_stratify_is_named_with_the_fix():
    manifest = _manifest({"monet": 60, "degas": 60, "pollock": 1})
    with pytest.raises(ValueError, match=r"'pollock' \(1 image\).*min_images_per_class"):
        split_dataset(manifest, SPLIT_CONFIG)


def test_too_small_a_test_fraction_for_the_number_of_classes_says_so():
    manifest = _manifest({f"class{index}": 5 for index in range(10)})
    with pytest.raises(ValueError, match="split.test_fraction"):
        split_dataset(manifest, SPLIT_CONFIG)


def test_split_pipeline_runs_on_an_in_memory_catalog():
    catalog = DataCatalog(
        {
            "manifest": MemoryDataset(_manifest({"cat": 40, "dog": 40})),
            "params:split.selection": MemoryDataset({"min_images_per_class": 3}),
            "params:split": MemoryDataset(SPLIT_CONFIG),
            "splits": MemoryDataset(),
            "class_names": MemoryDataset(),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    assert catalog.load("class_names") == ["cat", "dog"]
    assert set(catalog.load("splits")["split"]) == {"train", "val", "test"}
