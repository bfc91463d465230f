"""Issue 23 items 7, 8 and 12: log lines show the project's values as they are (no rich markup eaten, no control
character hidden or splitting the line); the project's own errors end with their message, the traceback kept in a
file; an unknown ``--pipelines`` name lists the valid ones; messages quote ``ingest.checks.max_pixels``; same-pixel
and near-duplicate images across formats and splits are reported."""

from __future__ import annotations

import io
import logging
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from rich.logging import RichHandler

from image_classification.data.duplicates import straddling_pairs
from image_classification.data.images import inspect_image
from image_classification.pipeline_registry import UnknownPipelineError, check_requested_pipelines
from image_classification.pipelines.ingest.nodes import build_manifest
from image_classification.project.errors import PlainTextFilter, is_project_error, short_message
from tests.scratch_project import kedro_env


def _rich_logged(*args) -> str:
    """What Kedro's rich handler prints for one record of the project's logger ``image_classification.x``."""
    output = io.StringIO()
    handler = RichHandler(console=Console(file=output, width=300, color_system=None), markup=True, show_time=False)
    handler.addFilter(PlainTextFilter())
    logger = logging.getLogger("image_classification.test_messages")
    logger.addHandler(handler)
    logger.propagate, logger.level = False, logging.INFO
    try:
        logger.warning(*args)
    finally:
        logger.removeHandler(handler)
    return output.getvalue()


def test_lists_in_brackets_and_markup_in_class_names_are_shown_as_written():
    shown = _rich_logged("was trained on classes %s (%d classes)", "[cat, dog, fox]", 3)
    assert "[cat, dog, fox]" in shown and "(3 classes)" in shown
    assert "[bold red]boom[/]" in _rich_logged("class %s", "[bold red]boom[/]")


def test_control_characters_and_newlines_in_values_are_shown_escaped_on_one_line():
    shown = _rich_logged("Skipping %s: %s", "cat\nfake line", "bell\x07 and \x1b[31mred")
    assert "cat\\nfake line" in shown and "\\x07" in shown and "\\x1b" in shown
    assert len(shown.strip().splitlines()) == 1


def test_other_loggers_are_left_to_rich():
    record = logging.LogRecord("kedro.io", logging.INFO, "", 0, "Loading data from %s", ("[dark_orange]x",), None)
    assert PlainTextFilter().filter(record) and record.args == ("[dark_orange]x",)


def test_an_unknown_pipeline_lists_the_valid_ones():
    with pytest.raises(UnknownPipelineError) as caught:
        check_requested_pipelines(["ingest", "nonexistent"])
    assert caught.value.unknown == ["nonexistent"] and {"ingest", "predict", "__default__"} <= set(caught.value.valid)
    check_requested_pipelines(["ingest", "split"])
    check_requested_pipelines(None)


def test_project_errors_are_told_from_other_errors():
    from image_classification.config import load_settings
    from image_classification.data.settings import PreprocessSettings

    with pytest.raises(ValueError) as ours:
        load_settings(PreprocessSettings, {"image_size": "abc"}, "preprocess")
    assert is_project_error(ours.value)
    with pytest.raises(ZeroDivisionError) as theirs:
        _ = 1 / 0
    assert not is_project_error(theirs.value)
    assert short_message(ours.value, None).rstrip().splitlines()[-3].startswith("ValueError: ")


_FAILING_SESSION = """
from kedro.framework.project import configure_project, settings  # sets up Kedro's logging: rich tracebacks
configure_project("image_classification")
for hook in settings.HOOKS:  # what a session does when its context is created
    if hasattr(hook, "after_context_created") and type(hook).__name__ == "PlainErrorsHook":
        hook.after_context_created(None)
from image_classification.pipeline_registry import check_requested_pipelines
check_requested_pipelines(["nonexistent"])
"""


def test_a_project_error_ends_with_its_message_and_the_traceback_goes_to_a_file(tmp_path):
    """What ``kedro run --pipelines nonexistent`` prints, without starting a session."""
    result = subprocess.run(
        [sys.executable, "-c", _FAILING_SESSION], cwd=tmp_path, env=kedro_env(), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) <= 4 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert lines[0].startswith("UnknownPipelineError: ") and "nonexistent" in lines[0] and "ingest" in lines[0]
    log = tmp_path / "logs" / "last_error.log"
    assert str(log) in result.stderr and "Traceback" in log.read_text()


def test_the_verbose_switch_and_other_errors_keep_the_full_traceback(monkeypatch, tmp_path):
    from image_classification.project import errors

    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *args: seen.append(args[1]))
    monkeypatch.chdir(tmp_path)
    errors.short_errors()
    ours = ValueError("x")  # not raised by the package: left to the previous hook
    for error in (ZeroDivisionError("bug"), ours):
        sys.excepthook(type(error), error, None)
    assert seen == [seen[0], ours] and isinstance(seen[0], ZeroDivisionError)
    monkeypatch.setenv(errors.VERBOSE_VARIABLE, "1")
    project_error = UnknownPipelineError(["x"], ["ingest"])
    sys.excepthook(UnknownPipelineError, project_error, None)
    assert seen[-1] is project_error and not (tmp_path / "logs").exists()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels (its pixel data is never reached)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + end


def test_a_60000_square_header_is_refused_quoting_the_projects_limit_not_pillows(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header(60_000, 60_000))
    info, problems = inspect_image(path)
    assert info is None and "max_pixels=89,478,485" in problems[0].problem
    assert "ingest.checks.max_pixels" in problems[0].problem and "178,956,970" not in problems[0].problem


def _texture(seed: int, size: int = 96) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BILINEAR)


def test_one_picture_as_png_and_bmp_under_two_labels_is_kept_once_with_a_row(tmp_path):
    picture = _texture(1)
    (tmp_path / "monet").mkdir()
    (tmp_path / "renoir").mkdir()
    picture.save(tmp_path / "monet" / "a.png")
    picture.save(tmp_path / "renoir" / "a.bmp")
    _texture(2).save(tmp_path / "renoir" / "b.png")
    manifest, report = build_manifest(str(tmp_path), {"from": "folder"}, {})
    assert len(manifest) == 2
    row = report[report["file"] == str(tmp_path / "renoir" / "a.bmp")]
    assert len(row) == 1 and str(tmp_path / "monet" / "a.png") in row["problem"].iloc[0]
    assert row["action"].iloc[0] == "skipped"


def test_resized_and_recompressed_copies_are_reported_as_near_duplicates(tmp_path):
    (tmp_path / "monet").mkdir()
    (tmp_path / "renoir").mkdir()
    _texture(3, 128).save(tmp_path / "monet" / "a.png")
    _texture(3, 128).resize((100, 100)).save(tmp_path / "renoir" / "copy.jpg", quality=70)
    _texture(4, 128).save(tmp_path / "renoir" / "other.png")
    manifest, report = build_manifest(str(tmp_path), {"from": "folder"}, {})
    assert len(manifest) == 3  # kept: it may be a real second photo
    near = report[report["problem"].str.startswith("near duplicate")]
    assert near["file"].tolist() == [str(tmp_path / "renoir" / "copy.jpg")]
    assert str(tmp_path / "monet" / "a.png") in near["problem"].iloc[0]
    none, _ = build_manifest(str(tmp_path), {"from": "folder"}, {"near_duplicate_distance": None})
    assert (manifest["phash"] != "").all() and len(none) == 3
    paths = manifest["path"].tolist()
    splits = ["train" if "monet" in path else "test" for path in paths]
    pairs = straddling_pairs(paths, splits, manifest["phash"].tolist())
    assert [(test, other) for test, other, _ in pairs] == [(str(tmp_path / "renoir" / "copy.jpg"), paths[0])]


def test_preprocess_warns_about_near_duplicates_on_both_sides_of_the_test_split(tmp_path, caplog):
    from image_classification.pipelines.preprocess.nodes import build_image_arrays

    for label, seeds in (("monet", (5, 6)), ("renoir", (7, 8))):
        for seed in seeds:
            (tmp_path / label).mkdir(exist_ok=True)
            _texture(seed, 96).save(tmp_path / label / f"{seed}.png")
    _texture(5, 96).resize((80, 80)).save(tmp_path / "monet" / "copy.jpg", quality=80)
    manifest, _ = build_manifest(str(tmp_path), {"from": "folder"}, {})
    splits = manifest.assign(split=["test" if path.endswith("copy.jpg") else "train" for path in manifest["path"]])
    splits.loc[splits["path"].str.endswith("6.png"), "split"] = "val"
    splits.loc[splits["path"].str.endswith("8.png"), "split"] = "test"
    with caplog.at_level(logging.WARNING, logger="image_classification"):
        build_image_arrays(splits, ["monet", "renoir"], {"image_size": 8})
    warned = [record for record in caplog.records if "straddle" in record.getMessage()]
    assert len(warned) == 1 and str(tmp_path / "monet" / "copy.jpg") in warned[0].getMessage()
