"""Tests for finding image files and labelling them (folder, file name, CSV)."""

from __future__ import annotations

import re

import pytest

from image_classification.data.labels import assign_labels, find_image_files

from .conftest import write_image


def _names(labels: dict) -> dict[str, str]:
    return {path.name: label for path, label in labels.items()}


def test_find_image_files_skips_hidden_macos_and_ignored_dirs_and_counts_others(tmp_path):
    write_image(tmp_path / "a" / "1.PNG")
    write_image(tmp_path / "a" / ".hidden.png")
    write_image(tmp_path / "__MACOSX" / "a" / "._1.png")
    write_image(tmp_path / "test" / "x.png")
    (tmp_path / "a" / "readme.txt").write_text("hi", encoding="utf-8")
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    found = find_image_files(tmp_path, ignore_dirs=["test"])
    assert [p.relative_to(tmp_path).as_posix() for p in found.images] == ["a/1.PNG"]
    assert found.other_files == {".txt": 1}
    assert found.empty_dirs == [tmp_path / "empty"]  # only the top-most empty folder


def test_folder_labels_use_parent_folder_at_any_depth_and_report_root_images(tmp_path):
    files = [
        write_image(tmp_path / "training" / "Monet" / "1.png"),
        write_image(tmp_path / "validation" / "Monet" / "2.png"),
        write_image(tmp_path / "training" / "Cézanne" / "3.png"),
        write_image(tmp_path / "loose.png"),
    ]
    labels, findings = assign_labels(files, tmp_path, {"from": "folder"})
    assert _names(labels) == {"1.png": "Monet", "2.png": "Monet", "3.png": "Cézanne"}
    assert [(f.file, f.action) for f in findings] == [(str(files[3]), "skipped")]
    assert "no label folder" in findings[0].problem


def test_filename_labels_with_default_pattern_and_non_matching_files(tmp_path):
    files = [write_image(tmp_path / n) for n in ("cat.12.jpg", "dog.1.jpg", "chat_noir.jpg")]
    labels, findings = assign_labels(files[:3], tmp_path, {"from": "filename"})
    assert _names(labels) == {"cat.12.jpg": "cat", "dog.1.jpg": "dog", "chat_noir.jpg": "chat_noir"}
    custom, findings = assign_labels(
        files[:3], tmp_path, {"from": "filename", "pattern": r"(?P<label>cat|dog)\."}
    )
    assert _names(custom) == {"cat.12.jpg": "cat", "dog.1.jpg": "dog"}
    assert [f.file for f in findings] == [str(files[2])] and "does not match" in findings[0].problem


@pytest.mark.parametrize(
    ("pattern", "invalid"), [(r"^([^.]+)\.", False), ("(?P<label>", True)], ids=["no_label_group", "invalid_regex"]
)
def test_bad_filename_pattern_is_a_clear_error(tmp_path, pattern, invalid):
    with pytest.raises(ValueError, match=rf"ingest\.labels\.pattern {re.escape(repr(pattern))}") as caught:
        assign_labels([], tmp_path, {"from": "filename", "pattern": pattern})
    assert isinstance(caught.value.__cause__, re.error) is invalid  # the regular expression's own error, kept
    assert invalid or "'label'" in str(caught.value)  # the named group a valid pattern lacks


def test_csv_labels_report_ids_without_files_and_files_without_ids(tmp_path):
    files = [
        write_image(tmp_path / "train" / "000bec.jpg"),
        write_image(tmp_path / "train" / "001513.jpg"),
        write_image(tmp_path / "train" / "ñandú.jpg"),
        write_image(tmp_path / "train" / "orphan.jpg"),
    ]
    (tmp_path / "labels.csv").write_text(
        "id,breed\n000bec,boston_bull\n001513.jpg,dingo\nñandú,rhea\nghost,beagle\n",
        encoding="utf-8",
    )
    settings = {"from": "csv", "csv_path": "labels.csv", "id_column": "id", "label_column": "breed"}
    labels, findings = assign_labels(files, tmp_path, settings)
    assert _names(labels) == {
        "000bec.jpg": "boston_bull",
        "001513.jpg": "dingo",
        "ñandú.jpg": "rhea",
    }
    by_problem = {f.problem: f for f in findings}
    ghost = next(f for f in findings if "'ghost'" in f.file)
    assert (
        "no image file for this id" in ghost.problem
        and "beagle" in ghost.problem
        and ghost.action == "ignored"
    )
    orphan = next(f for f in findings if f.file == str(files[3]))
    assert orphan.problem.startswith("no id for this file in") and orphan.action == "skipped"
    assert len(by_problem) == 2


def test_csv_id_extension_conflicting_labels_and_ambiguous_stems(tmp_path):
    files = [
        write_image(tmp_path / "a" / "x.jpg"),
        write_image(tmp_path / "b" / "x.png"),
        write_image(tmp_path / "y.jpg"),
    ]
    (tmp_path / "t.csv").write_text("name,label\ny,dog\ny,cat\nx,bird\n", encoding="utf-8")
    labels, findings = assign_labels(
        files, tmp_path, {"from": "csv", "csv_path": "t.csv", "id_column": "name"}
    )
    problems = " | ".join(f.problem for f in findings)
    assert "two labels: 'dog' and 'cat'" in problems  # y is skipped rather than guessed
    assert "same file stem as" in problems  # b/x.png vs a/x.jpg
    assert _names(labels) == {"x.jpg": "bird"}
    with_extension, _ = assign_labels(
        files,
        tmp_path,
        {
            "from": "csv",
            "csv_path": str(tmp_path / "t.csv"),
            "id_column": "name",
            "id_extension": ".png",
        },
    )
    assert _names(with_extension) == {"x.png": "bird"}


def test_csv_errors_name_the_setting(tmp_path):
    (tmp_path / "t.csv").write_text("id,label\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"'breed'.*ingest\.labels\.label_column\b"):
        assign_labels([], tmp_path, {"from": "csv", "csv_path": "t.csv", "label_column": "breed"})
    with pytest.raises(FileNotFoundError, match="ingest.labels.csv_path"):
        assign_labels([], tmp_path, {"from": "csv", "csv_path": "missing.csv"})
    with pytest.raises(ValueError, match="ingest.labels.from"):
        assign_labels([], tmp_path, {"from": "magic"})
    with pytest.raises(ValueError, match="ingest.labels.patern"):
        assign_labels([], tmp_path, {"from": "filename", "patern": "x"})
