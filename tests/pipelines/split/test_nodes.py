"""Tests for class selection and the stratified splits."""

from __future__ import annotations

import re

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
    with pytest.raises(ValueError, match=r"split\.selection\.classes\b.*\['picasso'\]"):
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
    with pytest.raises(ValueError, match=r"'pollock'\D*\b1\b.*split\.selection\.min_images_per_class"):
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


def test_a_single_class_stops_the_split_naming_it_and_the_fixes():
    """Issue 14 case 13: one class would only fail at training ("num_classes must be at least 2")."""
    with pytest.raises(ValueError) as caught:
        select_classes(_manifest({"monet": 30}), {})
    message = str(caught.value)
    assert re.search(r"'monet'\D*\b30\b", message)  # the class and its images
    assert "ingest.labels" in message and "split.selection" not in message  # the labelling to check, not the selection


def test_a_selection_that_leaves_one_class_names_the_selection():
    with pytest.raises(ValueError) as caught:
        select_classes(_manifest({"monet": 30, "degas": 5}), {"min_images_per_class": 10})
    message = str(caught.value)
    assert re.search(r"'monet'\D*\b30\b", message) and re.search(r"\bdegas\b\D*\b5\b", message)  # kept and dropped
    assert "split.selection" in message and "min_images_per_class=10" in message  # the selection, with its values


def test_the_split_pipeline_stops_at_its_first_node_with_one_class():
    catalog = DataCatalog({
        "manifest": MemoryDataset(_manifest({"monet": 30})),
        "params:split.selection": MemoryDataset({}),
        "params:split": MemoryDataset(SPLIT_CONFIG),
    })  # fmt: skip
    with pytest.raises(ValueError, match=r"'monet'\D*\b30\b"):
        SequentialRunner().run(create_pipeline(), catalog)
    assert not catalog.exists("selected_manifest")  # nothing downstream (preprocess, training) gets an input


@pytest.mark.parametrize(
    ("test_fraction", "val_fraction", "blamed", "not_blamed"),
    [
        # 0.99 of 300 images leaves 3 for train and validation: test_fraction is the one to lower, not val_fraction.
        (0.99, 0.15, [r"split\.test_fraction=0\.99\b", r"\b300\b", r"\b3\b"], "split.val_fraction"),
        # 0.01 of the 240 images left after the test split gives a validation split of 3.
        (0.2, 0.01, [r"split\.val_fraction=0\.01\b", r"\b240\b", r"\b3\b"], "split.test_fraction"),
        # Together they leave 7 of 300 images for training: both are named.
        (0.5, 0.95, [r"split\.test_fraction=0\.5\b", r"split\.val_fraction=0\.95\b", r"\b7\b", r"\b300\b"], None),
    ],
    ids=["test_fraction-too-large", "val_fraction-too-small", "both-leave-too-few-for-training"],
)
def test_fractions_that_leave_a_split_too_small_blame_the_setting_to_change(test_fraction, val_fraction, blamed, not_blamed):
    manifest = _manifest({f"painter{index}": 30 for index in range(10)})
    with pytest.raises(ValueError) as caught:
        split_dataset(manifest, {**SPLIT_CONFIG, "test_fraction": test_fraction, "val_fraction": val_fraction})
    message = str(caught.value)
    assert all(re.search(pattern, message) for pattern in blamed), message
    assert not_blamed is None or not_blamed not in message


def test_a_test_fold_too_small_blames_the_number_of_folds():
    manifest = _manifest({f"class{index}": 8 for index in range(10)})
    config = {**SPLIT_CONFIG, "val_fraction": 0.3}
    splits, _ = split_dataset(manifest, {**config, "cross_validation": {"folds": 4, "fold": 3}})
    assert (splits["split"] == "test").sum() == 20
    with pytest.raises(ValueError, match=r"split\.cross_validation\.folds=9\b.*\b88\b.*\b10\b"):
        split_dataset(_manifest({f"class{index}": 8 for index in range(11)}), {**config, "cross_validation": {"folds": 9}})
    with pytest.raises(ValueError, match=r"split\.cross_validation\.fold = 4\b"):
        split_dataset(manifest, {**config, "cross_validation": {"folds": 4, "fold": 4}})
