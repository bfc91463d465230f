"""Tests for resizing into uint8 arrays and the augmentation preview."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from image_classification.data.resize import resize_image
from image_classification.pipelines.preprocess.nodes import build_image_arrays, preview_augmentation

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
    train, val, test = build_image_arrays(splits, ["grey", "red"], CONFIG)
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
    assert len(train["labels"]) == 5


def test_resize_methods_keep_or_ignore_the_aspect_ratio():
    wide = Image.new("RGB", (40, 20), (0, 0, 255))
    padded = resize_image(wide, 20, "pad")
    assert tuple(padded[0, 10]) == (0, 0, 0) and tuple(padded[10, 10]) == (0, 0, 255)  # black bars top and bottom
    cropped = resize_image(wide, 20, "center_crop")
    assert tuple(cropped[0, 10]) == (0, 0, 255)
    stretched = resize_image(wide, 20, "stretch")
    assert stretched.shape == (20, 20, 3) and tuple(stretched[0, 0]) == (0, 0, 255)


def test_unknown_resize_method_lists_the_allowed_ones(splits):
    with pytest.raises(ValueError, match="stretch, pad, center_crop"):
        build_image_arrays(splits, ["grey", "red"], {**CONFIG, "resize_method": "squash"})


def test_augmentation_preview_shows_nine_versions(splits):
    train, _, _ = build_image_arrays(splits, ["grey", "red"], CONFIG)
    figure = preview_augmentation(train, {"flip": "horizontal", "rotation": 0.1})
    assert isinstance(figure, Figure)
    assert len([axis for axis in figure.axes if axis.has_data() or axis.images]) == 9
