"""Tests for resizing into uint8 arrays (streamed to the catalog's memory-mapped folders) and the augmentation
preview."""

from __future__ import annotations

import re

import keras
import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro.io.core import DatasetError
from matplotlib.figure import Figure
from PIL import Image

from image_classification.data.resize import resize_image
from image_classification.datasets import ArrayChunks
from image_classification.pipelines.preprocess import nodes
from image_classification.pipelines.preprocess.nodes import build_image_arrays, preview_augmentation
from image_classification.training.fit import fit_model

CONFIG = {"image_size": 16, "resize_method": "stretch", "workers": 2}


def _write(path, size, colour, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)
    return str(path)


@pytest.fixture
def splits(tmp_path) -> pd.DataFrame:
    rows = []
    for split in ("train", "val", "test"):
        for index in range(3):
            rows.append({"path": _write(tmp_path / split / f"red{index}.png", (40, 20), (255, 0, 0)), "label": "red", "split": split})
            rows.append({"path": _write(tmp_path / split / f"grey{index}.png", (20, 30), 128, "L"), "label": "grey", "split": split})
    return pd.DataFrame(rows)


def test_build_image_arrays_gives_uint8_bundles_per_split(splits):
    bundles = build_image_arrays(splits, ["grey", "red"], CONFIG)
    assert all(isinstance(bundle, ArrayChunks) and bundle.rows == 6 for bundle in bundles)  # nothing decoded yet
    train, val, test = (bundle.in_memory() for bundle in bundles)
    for bundle in (train, val, test):
        assert bundle["images"].shape == (6, 16, 16, 3)
        assert bundle["images"].dtype == np.uint8
        assert sorted(bundle["labels"].tolist()) == [0, 0, 0, 1, 1, 1]
    red = train["images"][train["labels"] == 1][0]
    assert tuple(red[8, 8]) == (255, 0, 0)
    grey = train["images"][train["labels"] == 0][0]
    assert tuple(grey[8, 8]) == (128, 128, 128)  # grayscale converted to 3 channels


def test_a_file_broken_after_ingest_is_skipped_not_fatal(splits):
    broken = splits[splits["split"] == "train"]["path"].iloc[0]
    with open(broken, "wb") as stream:
        stream.write(b"not an image any more")
    train, _, _ = build_image_arrays(splits, ["grey", "red"], CONFIG)
    assert len(train.in_memory()["labels"]) == 5


def test_resize_methods_keep_or_ignore_the_aspect_ratio():
    wide = Image.new("RGB", (40, 20), (0, 0, 255))
    padded = resize_image(wide, 20, "pad")
    assert tuple(padded[0, 10]) == (0, 0, 0) and tuple(padded[10, 10]) == (0, 0, 255)  # black bars top and bottom
    cropped = resize_image(wide, 20, "center_crop")
    assert tuple(cropped[0, 10]) == (0, 0, 255)
    stretched = resize_image(wide, 20, "stretch")
    assert stretched.shape == (20, 20, 3) and tuple(stretched[0, 0]) == (0, 0, 255)


def test_unknown_resize_method_lists_the_allowed_ones(splits):
    with pytest.raises(ValueError, match=r"preprocess\.resize_method = 'squash'.*\bstretch, pad, center_crop\b"):
        build_image_arrays(splits, ["grey", "red"], {**CONFIG, "resize_method": "squash"})


def test_augmentation_preview_shows_nine_versions(splits):
    train, _, _ = build_image_arrays(splits, ["grey", "red"], CONFIG)
    figure = preview_augmentation(train.in_memory(), {"flip": "horizontal", "rotation": 0.1})
    assert isinstance(figure, Figure)
    assert len([axis for axis in figure.axes if axis.has_data() or axis.images]) == 9


@pytest.fixture
def catalog(project_root, tmp_path, monkeypatch) -> DataCatalog:
    """The project's own ``images_{split}`` entry, saving under ``tmp_path``."""
    monkeypatch.chdir(tmp_path)  # the catalog's paths are relative to the project folder
    entries = OmegaConfigLoader(str(project_root / "conf"), default_run_env="local")["catalog"]
    return DataCatalog.from_config({"images_{split}": entries["images_{split}"]})


def test_the_catalog_streams_each_split_to_disk_and_loads_it_memory_mapped(splits, catalog, monkeypatch):
    monkeypatch.setattr(nodes, "CHUNK_BYTES", 16 * 16 * 3 * 2)  # two images per chunk
    broken = splits[splits["split"] == "val"]["path"].iloc[0]
    with open(broken, "wb") as stream:
        stream.write(b"not an image any more")
    bundles = build_image_arrays(splits, ["grey", "red"], CONFIG)
    for split, bundle in zip(("train", "val", "test"), bundles):
        catalog.save(f"images_{split}", bundle)

    for split, bundle in zip(("train", "val", "test"), bundles):
        loaded = catalog.load(f"images_{split}")
        assert isinstance(loaded["images"], np.memmap) and loaded["images"].mode == "r"
        expected = bundle.in_memory()
        assert loaded["images"].shape == (5 if split == "val" else 6, 16, 16, 3)  # the broken file is left out
        np.testing.assert_array_equal(loaded["images"], expected["images"])
        np.testing.assert_array_equal(loaded["labels"], expected["labels"])


def test_a_split_without_images_fails_before_anything_is_decoded(splits):
    with pytest.raises(ValueError, match=r"\btest\b") as caught:
        build_image_arrays(splits[splits["split"] != "test"], ["grey", "red"], CONFIG)
    assert not re.search(r"\b(train|val)\b", str(caught.value))  # only the empty split is named


def test_a_split_none_of_whose_images_decodes_fails_when_saved(splits, catalog):
    for path in splits[splits["split"] == "test"]["path"]:
        with open(path, "wb") as stream:
            stream.write(b"broken")
    _, _, test = build_image_arrays(splits, ["grey", "red"], CONFIG)
    with pytest.raises(DatasetError, match=r"images_test\b.*'data/05_model_input/images_test'"):
        catalog.save("images_test", test)
    assert not catalog.exists("images_test")


def test_memory_mapped_splits_train_for_an_epoch(splits, catalog):
    train, val, _ = build_image_arrays(splits, ["grey", "red"], CONFIG)
    catalog.save("images_train", train)
    catalog.save("images_val", val)
    train, val = catalog.load("images_train"), catalog.load("images_val")
    assert isinstance(train["images"], np.memmap)

    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])  # fmt: skip
    settings = {"epochs": 1, "batch_size": 4, "verbose": 0, "early_stopping_patience": None}
    _, history, summary = fit_model(model, train, val, settings, class_names=["grey", "red"])
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    assert summary["epochs_run"] == 1
