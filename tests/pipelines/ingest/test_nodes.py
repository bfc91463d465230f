"""Tests for the ingest nodes and pipeline on tiny real images (and the shared cats/dogs photos)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import ParquetDataset
from matplotlib.figure import Figure
from PIL import Image

from image_classification.pipelines.ingest import create_pipeline
from image_classification.pipelines.ingest.nodes import (
    MANIFEST_COLUMNS,
    REPORT_COLUMNS,
    NoUsableImagesError,
    acquire_images,
    build_manifest,
    plot_class_counts,
    plot_image_sizes,
    plot_sample_grid,
)

from .conftest import write_image

FOLDER = {"from": "folder"}


@pytest.fixture
def messy_folder(tmp_path) -> Path:
    """A class-per-folder data set with every kind of trouble ingest must report."""
    root = tmp_path / "images"
    write_image(root / "cat" / "a.png", color=(250, 0, 0))
    write_image(root / "cat" / "b.jpg", color=(240, 20, 0))
    write_image(root / "cat" / "gray.png", mode="L")
    write_image(root / "cat" / "print.jpg", mode="CMYK")
    shutil.copy(root / "cat" / "a.png", root / "cat" / "z_copy.png")  # exact duplicate
    write_image(root / "dog" / "c.png", color=(0, 0, 250))
    write_image(root / "dog" / "chién_犬.png", color=(0, 30, 250))  # non-ASCII file name
    write_image(root / "dog" / "pixel.png", size=(1, 1))
    (root / "dog" / "empty.jpg").touch()
    (root / "dog" / "text.jpg").write_text("not a picture", encoding="utf-8")
    full = write_image(root / "dog" / "cut.jpg", size=(64, 64)).read_bytes()
    (root / "dog" / "cut.jpg").write_bytes(full[: len(full) // 2])
    (root / "bird").mkdir()  # empty class folder
    (root / "fish" / "broken.png").parent.mkdir()
    (root / "fish" / "broken.png").write_bytes(b"\x89PNG garbage")  # a class with no usable image
    write_image(root / "loose.png")  # no label folder
    return root


def _problem_for(report: pd.DataFrame, name: str) -> tuple[str, str]:
    rows = report[report["file"].str.endswith(name)]
    assert len(rows) == 1, (name, report.to_string())
    return rows.iloc[0]["problem"], rows.iloc[0]["action"]


def test_build_manifest_keeps_usable_images_and_reports_every_problem(messy_folder, caplog):
    with caplog.at_level(logging.INFO, logger="image_classification.pipelines.ingest.nodes"):
        manifest, report = build_manifest(
            str(messy_folder), FOLDER, {"max_pixels": 10_000, "min_side": 4}
        )
    assert list(manifest.columns) == MANIFEST_COLUMNS and list(report.columns) == REPORT_COLUMNS
    assert manifest[["width", "height", "bytes"]].dtypes.tolist() == ["int64"] * 3
    kept = {Path(p).name: label for p, label in zip(manifest["path"], manifest["label"])}
    assert kept == {
        "a.png": "cat",
        "b.jpg": "cat",
        "gray.png": "cat",
        "print.jpg": "cat",
        "c.png": "dog",
        "chién_犬.png": "dog",
    }
    assert (
        manifest.set_index(manifest["path"].map(lambda p: Path(p).name)).loc["gray.png", "mode"]
        == "L"
    )
    expectations = {
        "z_copy.png": (f"exact duplicate of {messy_folder / 'cat' / 'a.png'}", "skipped"),
        "gray.png": ("mode L", "converted to RGB"),
        "print.jpg": ("mode CMYK", "converted to RGB"),
        "pixel.png": ("too small: 1x1", "skipped"),
        "empty.jpg": ("zero-byte file", "skipped"),
        "text.jpg": ("not an image", "skipped"),
        "cut.jpg": ("truncated", "skipped"),
        "broken.png": ("", "skipped"),
        "loose.png": ("no label folder", "skipped"),
        "bird": ("empty class folder", "skipped"),
    }
    for name, (problem, action) in expectations.items():
        found_problem, found_action = _problem_for(report, name)
        assert found_problem.startswith(problem) and found_action == action, (name, found_problem)
    dropped = report[report["action"] == "class dropped"]["problem"].tolist()
    assert dropped == ["class 'fish' has no usable image (all 1 files skipped)"]
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Ingest kept")]
    assert summary == [summary[0]] and "6 images in 2 classes (cat: 4, dog: 2)" in summary[0]


def test_duplicate_across_classes_names_both_labels(tmp_path):
    first = write_image(tmp_path / "cat" / "x.png", color=(1, 2, 3))
    (tmp_path / "dog").mkdir()
    shutil.copy(first, tmp_path / "dog" / "y.png")
    write_image(tmp_path / "dog" / "z.png", color=(9, 9, 9))
    manifest, report = build_manifest(str(tmp_path), FOLDER, {})
    assert len(manifest) == 2
    assert report["problem"].tolist() == [
        f"exact duplicate of {first} (labelled 'cat' there, 'dog' here)"
    ]


def test_build_manifest_with_filename_labels(tmp_path):
    for shade, name in enumerate(("cat.1.jpg", "cat.2.jpg", "dog.1.jpg")):
        write_image(tmp_path / name, color=(50 * shade, 0, 0))
    (tmp_path / "readme.jpg.txt").write_text("x", encoding="utf-8")
    write_image(
        tmp_path / "nodots", format="PNG"
    )  # no extension: not considered an image file at all
    manifest, report = build_manifest(str(tmp_path), {"from": "filename"}, {})
    assert manifest["label"].tolist() == ["cat", "cat", "dog"] and report.empty


def test_build_manifest_with_csv_labels(tmp_path):
    for shade, stem in enumerate(("000bec", "001513", "orphan")):
        write_image(tmp_path / "train" / f"{stem}.jpg", color=(50 * shade, 0, 0))
    write_image(tmp_path / "test" / "unlabelled.jpg")
    (tmp_path / "labels.csv").write_text(
        "id,breed\n000bec,boston_bull\n001513,dingo\nghost,pug\n", encoding="utf-8"
    )
    labels = {
        "from": "csv",
        "csv_path": "labels.csv",
        "label_column": "breed",
        "ignore_dirs": ["test"],
    }
    manifest, report = build_manifest(str(tmp_path), labels, {})
    assert dict(zip(manifest["path"].map(lambda p: Path(p).stem), manifest["label"])) == {
        "000bec": "boston_bull",
        "001513": "dingo",
    }
    assert sorted(report["action"]) == [
        "ignored",
        "skipped",
    ]  # ghost id without file, orphan file without id


def test_build_manifest_without_usable_images_names_folder_and_settings(tmp_path):
    write_image(tmp_path / "flat.png")
    with pytest.raises(NoUsableImagesError, match=r"ingest\.labels\.from='folder'") as caught:
        build_manifest(str(tmp_path), FOLDER, {})
    assert str(tmp_path) in str(caught.value) and str(tmp_path / "flat.png") in str(caught.value)  # the skipped file
    with pytest.raises(NotADirectoryError, match="nowhere"):
        build_manifest(str(tmp_path / "nowhere"), FOLDER, {})
    with pytest.raises(ValueError, match="ingest.checks.min_size"):
        build_manifest(str(tmp_path), FOLDER, {"min_size": 3})


def test_build_manifest_on_shared_cats_dogs_tiny(cats_dogs_tiny):
    manifest, _ = build_manifest(str(cats_dogs_tiny), FOLDER, {})
    assert manifest["label"].value_counts().to_dict() == {"Cat": 20, "Dog": 20}
    assert manifest["sha256"].is_unique


def test_acquire_images_returns_the_bundled_digits_folder(tmp_path):
    root = acquire_images({"type": "bundled", "name": "digits", "raw_dir": str(tmp_path)})
    assert isinstance(root, str) and Path(root) == tmp_path / "digits"
    manifest, report = build_manifest(root, FOLDER, {})
    assert len(manifest) == 1797 and report.empty and set(manifest["mode"]) == {"RGB"}


def _manifest_for(tmp_path: Path, n_classes: int, per_class: int = 2) -> pd.DataFrame:
    rows = []
    for c in range(n_classes):
        for i in range(per_class):
            path = write_image(
                tmp_path / f"class_{c:02d}" / f"{i}.png", size=(10 + c, 20 + i), color=(c * 4, i, 0)
            )
            rows.append(
                {
                    "path": str(path),
                    "label": f"class_{c:02d}",
                    "width": 10 + c,
                    "height": 20 + i,
                    "mode": "RGB",
                    "bytes": path.stat().st_size,
                    "sha256": f"{c}-{i}",
                }
            )
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)


def test_figures_are_agg_figures_that_save_as_png(tmp_path):
    manifest = _manifest_for(tmp_path, 3, per_class=7)
    for plot in (plot_class_counts, plot_sample_grid, plot_image_sizes):
        figure = plot(manifest)
        assert isinstance(figure, Figure)
        figure.savefig(tmp_path / f"{plot.__name__}.png")
        with Image.open(tmp_path / f"{plot.__name__}.png") as saved:
            assert saved.size[0] > 300


def test_class_counts_figure_grows_with_many_classes(tmp_path):
    manifest = _manifest_for(tmp_path, 60, per_class=1)
    axes = plot_class_counts(manifest).axes[0]
    labels = [t.get_text() for t in axes.get_yticklabels()]
    assert len(labels) == 60 and set(labels) == set(manifest["label"])
    assert plot_class_counts(manifest).get_size_inches()[1] > 10


def test_sample_grid_is_deterministic_and_labelled(tmp_path):
    manifest = _manifest_for(tmp_path, 3, per_class=7)
    titles = [[a.get_title() for a in plot_sample_grid(manifest).axes] for _ in range(2)]
    assert titles[0] == titles[1]
    assert (
        titles[0][:3] == ["class_00", "class_01", "class_02"]
        and len([t for t in titles[0] if t]) == 16
    )


def test_pipeline_structure_and_run(tmp_path):
    pipeline = create_pipeline()
    assert {n.name for n in pipeline.nodes} == {
        "acquire_images",
        "build_manifest",
        "plot_class_counts",
        "plot_sample_grid",
        "plot_image_sizes",
    }
    assert pipeline.inputs() == {
        "params:ingest.source",
        "params:ingest.archive_limits",
        "params:ingest.labels",
        "params:ingest.checks",
    }
    assert pipeline.all_outputs() == {
        "ingest_images_root",
        "manifest",
        "validation_report",
        "class_counts_figure",
        "sample_grid_figure",
        "image_sizes_figure",
    }
    assert all(n.tags == {"ingest"} for n in pipeline.nodes)
    write_image(tmp_path / "imgs" / "a" / "1.png")
    write_image(tmp_path / "imgs" / "b" / "2.png", color=(0, 9, 9))
    params = {
        "params:ingest.source": {"type": "folder", "path": str(tmp_path / "imgs")},
        "params:ingest.archive_limits": {},
        "params:ingest.labels": FOLDER,
        "params:ingest.checks": {},
    }
    manifest_file = ParquetDataset(
        filepath=str(tmp_path / "manifest.parquet")
    )  # as in the project catalog
    catalog = DataCatalog(
        {**{k: MemoryDataset(v) for k, v in params.items()}, "manifest": manifest_file}
    )
    outputs = SequentialRunner().run(pipeline, catalog)
    assert manifest_file.load()["label"].tolist() == ["a", "b"]
    assert outputs["validation_report"].load().empty
    assert isinstance(outputs["sample_grid_figure"].load(), Figure)
