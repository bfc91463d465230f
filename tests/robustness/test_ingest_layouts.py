"""Data sets laid out as people ship them: labels.csv from Excel, Kaggle's unlabelled test folder, a zip in a zip."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from image_classification.pipelines.ingest.nodes import (
    NoUsableImagesError,
    acquire_images,
    build_manifest,
)
from tests.pipelines.ingest.conftest import make_zip, png_bytes, write_image

# What conf/base/parameters_ingest.yml gives every run (the pattern is set even when labels come from a CSV).
BASE_LABELS = {"pattern": r"^(?P<label>[^.]+)\.", "id_column": "id", "label_column": "label"}


def _csv_dataset(root: Path, text: str, encoding: str = "utf-8") -> dict:
    write_image(root / "images" / "0a.png", color=(250, 0, 0))
    write_image(root / "images" / "0b.png", color=(0, 0, 250))
    (root / "labels.csv").write_bytes(text.encode(encoding))
    return {**BASE_LABELS, "from": "csv", "csv_path": "labels.csv"}


# ---- labels.csv --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["id;label\n0a;Cézanne\n0b;Monet\n", "id\tlabel\n0a\tCézanne\n0b\tMonet\n", "\ufeffid|label\r\n0a|Cézanne\r\n0b|Monet\r\n"],
    ids=["semicolon", "tab", "pipe-bom-crlf"],
)
def test_a_labels_csv_with_another_separator_is_sniffed(tmp_path, text):
    manifest, report = build_manifest(str(tmp_path), _csv_dataset(tmp_path, text), {})
    assert sorted(manifest["label"]) == ["Cézanne", "Monet"] and report.empty


def test_a_cp1252_labels_csv_fails_naming_the_encoding_setting_and_reads_once_set(tmp_path):
    labels = _csv_dataset(tmp_path, "id;label\n0a;Cézanne\n0b;Monet\n", encoding="cp1252")
    with pytest.raises(ValueError, match=r"\butf-8\b.*\b0xe9\b") as caught:
        build_manifest(str(tmp_path), labels, {})
    assert "labels.csv" in str(caught.value) and "ingest.labels.csv_encoding: cp1252" in str(caught.value)
    manifest, _ = build_manifest(str(tmp_path), {**labels, "csv_encoding": "cp1252"}, {})
    assert sorted(manifest["label"]) == ["Cézanne", "Monet"]


@pytest.mark.parametrize(  # '\t' single-quoted in YAML reaches us as 2 characters
    "setting", ["\\t", "tab", "\t"], ids=["backslash-t", "word", "tab-character"]
)
def test_a_tab_separator_setting_is_understood_however_it_is_written(tmp_path, setting):
    labels = {**_csv_dataset(tmp_path, "id\tlabel\n0a\tcat\n0b\tdog\n"), "csv_separator": setting}
    manifest, _ = build_manifest(str(tmp_path), labels, {})
    assert sorted(manifest["label"]) == ["cat", "dog"]


def test_a_wrong_separator_setting_is_hinted_in_the_missing_column_error(tmp_path):
    labels = {**_csv_dataset(tmp_path, "id;label\n0a;x\n"), "csv_separator": ","}
    with pytest.raises(ValueError, match=r"\['id;label'\].*ingest\.labels\.csv_separator\b"):
        build_manifest(str(tmp_path), labels, {})


def test_a_header_only_labels_csv_says_so_and_hints_at_the_csv_settings_not_the_pattern(tmp_path):
    with pytest.raises(NoUsableImagesError) as caught:
        build_manifest(str(tmp_path), _csv_dataset(tmp_path, "id,label\n"), {})
    message = str(caught.value)
    assert re.search(rf"^\s+{re.escape(str(tmp_path / 'labels.csv'))}: ", message, re.MULTILINE)  # the CSV's own problem
    assert "ingest.labels.csv_path 'labels.csv', id_column 'id', label_column 'label'" in message
    assert "pattern" not in message


# ---- an unlabelled folder that would become a class ----------------------------------------------------------------


def _kaggle_layout(root: Path, unlabelled: str) -> Path:
    for index, label in enumerate(("buildings", "buildings", "forest", "forest")):
        write_image(root / "seg_train" / label / f"{index}.png", color=(60 * index, 0, 0))
    for index in range(5):  # unlabelled, and the largest "class"
        write_image(root / unlabelled / f"{index}.png", color=(0, 30 + 40 * index, 0))
    return root


@pytest.mark.parametrize("unlabelled", ["test", "seg_pred/seg_pred", "Unlabelled_Images"])
def test_an_unlabelled_folder_used_as_a_class_is_reported_and_logged_with_the_setting(tmp_path, unlabelled, caplog):
    root = _kaggle_layout(tmp_path, unlabelled)
    name = Path(unlabelled).name
    with caplog.at_level(logging.WARNING):
        manifest, report = build_manifest(str(root), {"from": "folder"}, {})
    [row] = report[report["action"] == "kept as a class"].itertuples()
    assert row.file == str(root / unlabelled)
    assert f"folder {name!r} looks unlabelled" in row.problem and "ingest.labels.ignore_dirs" in row.problem
    assert any("ingest.labels.ignore_dirs" in record.getMessage() for record in caplog.records)
    assert (manifest["label"] == name).sum() == 5  # warned, not refused: a class may really be called so

    manifest, report = build_manifest(str(root), {"from": "folder", "ignore_dirs": [name]}, {})
    assert sorted(set(manifest["label"])) == ["buildings", "forest"] and report.empty


def test_a_labelled_test_split_is_not_flagged(tmp_path):
    for split in ("train", "test"):
        for index, label in enumerate(("cat", "dog")):
            write_image(tmp_path / split / label / f"{index}.png", color=(100 * index, 50 if split == "test" else 0, 0))
    _, report = build_manifest(str(tmp_path), {"from": "folder"}, {})
    assert report.empty


# ---- an archive inside the archive -----------------------------------------------------------------------------------


def test_a_zip_inside_the_zip_is_named_with_what_to_do(tmp_path):
    inner = make_zip(tmp_path / "inner.zip", {"pets/cat/a.png": png_bytes(), "pets/dog/b.png": png_bytes((0, 0, 9))})
    outer = make_zip(tmp_path / "outer.zip", {"download/pets.zip": inner.read_bytes(), "download/README.txt": b"hi"})
    root = acquire_images({"type": "zip", "name": "pets", "raw_dir": str(tmp_path / "raw"), "path": str(outer)}, {})
    with pytest.raises(NoUsableImagesError) as caught:
        build_manifest(root, {"from": "folder"}, {})
    message = str(caught.value)
    nested = Path(root) / "download" / "pets.zip"
    assert str(nested) in message and "ingest.source.path" in message and "ingest.source.type: zip" in message

    write_image(Path(root) / "download" / "cat" / "c.png")  # some images beside the archive: kept, archive reported
    write_image(Path(root) / "download" / "dog" / "d.png", color=(0, 0, 200))
    manifest, report = build_manifest(root, {"from": "folder"}, {})
    assert len(manifest) == 2 and report["file"].tolist() == [str(nested)]
    assert report["problem"][0].startswith("archive inside the data set: its images are not read")
