"""Issue 23 item 2: class names that print alike are one class; names that differ only in case are reported, or
merged with ``ingest.labels.merge_case``. Each collision gets a validation-report row naming both folders."""

from __future__ import annotations

import unicodedata

import pytest

from image_classification.pipelines.ingest.nodes import build_manifest
from tests.pipelines.ingest.conftest import write_image

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")


def _images(root, folders):
    for number, folder in enumerate(folders):
        for index in range(2):
            write_image(root / folder / f"{index}.png", color=(number * 30 + index, 5 * number, 100))


def test_nfc_and_nfd_spellings_are_one_class_with_a_row_naming_both_folders(tmp_path):
    _images(tmp_path, [NFC, NFD, "dog"])
    manifest, report = build_manifest(str(tmp_path), {"from": "folder"}, {})
    assert sorted(manifest["label"].unique()) == [NFC, "dog"]  # NFC-normalised
    assert (manifest["label"] == NFC).sum() == 4
    rows = report[report["action"] == "merged"]
    assert len(rows) == 1
    assert str(tmp_path / NFC) in rows["problem"].iloc[0] and str(tmp_path / NFD) in rows["problem"].iloc[0]


def test_a_trailing_space_is_stripped_and_the_two_folders_merged(tmp_path):
    _images(tmp_path, ["golden retriever", "golden retriever ", "pug"])
    manifest, report = build_manifest(str(tmp_path), {"from": "folder"}, {})
    assert sorted(manifest["label"].unique()) == ["golden retriever", "pug"]
    merged = report[report["action"] == "merged"]
    assert len(merged) == 1 and str(tmp_path / "golden retriever ") in merged["problem"].iloc[0]


def test_names_that_differ_only_in_case_are_kept_apart_with_a_row_naming_both(tmp_path):
    _images(tmp_path, ["Cat", "cat", "dog"])
    manifest, report = build_manifest(str(tmp_path), {"from": "folder"}, {})
    assert sorted(manifest["label"].unique()) == ["Cat", "cat", "dog"]
    rows = report[report["action"] == "kept apart"]
    assert len(rows) == 1
    assert str(tmp_path / "Cat") in rows["problem"].iloc[0] and str(tmp_path / "cat") in rows["problem"].iloc[0]
    assert "ingest.labels.merge_case" in rows["problem"].iloc[0]


def test_merge_case_merges_them_into_the_spelling_with_most_images(tmp_path):
    _images(tmp_path, ["Cat", "cat", "dog"])
    write_image(tmp_path / "cat" / "extra.png", color=(1, 2, 3))
    manifest, report = build_manifest(str(tmp_path), {"from": "folder", "merge_case": True}, {})
    assert sorted(manifest["label"].unique()) == ["cat", "dog"] and (manifest["label"] == "cat").sum() == 5
    assert (report["action"] == "merged").sum() == 1


def test_csv_labels_are_normalised_too(tmp_path):
    _images(tmp_path, ["all"])
    (tmp_path / "labels.csv").write_text(f"id,label\n0,{NFD}\n1,{NFC} \n", encoding="utf-8")
    manifest, report = build_manifest(str(tmp_path), {"from": "csv", "csv_path": "labels.csv"}, {})
    assert manifest["label"].tolist() == [NFC, NFC]
    assert (report["action"] == "merged").sum() == 1


def test_merge_case_is_a_known_setting_checked_as_true_or_false(tmp_path):
    from image_classification.config import read_settings
    from image_classification.data.settings import LabelSettings

    assert read_settings(LabelSettings, {"merge_case": True}, "ingest.labels")[1] == []
    _, problems = read_settings(LabelSettings, {"merge_case": "sometimes"}, "ingest.labels")
    assert [problem.parameter for problem in problems] == ["ingest.labels.merge_case"]


@pytest.mark.parametrize("blank", [" ", "\u3000"])
def test_a_folder_named_only_white_space_is_skipped_not_an_empty_class(tmp_path, blank):
    _images(tmp_path, [blank, "dog", "cat"])
    manifest, report = build_manifest(str(tmp_path), {"from": "folder"}, {})
    assert "" not in set(manifest["label"]) and len(manifest) == 4
    assert (report["action"] == "skipped").sum() == 2
