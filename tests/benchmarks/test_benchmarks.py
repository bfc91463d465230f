"""Smoke tests of the benchmark scripts: each runs on the tiny shared photo set and prints its table.

Timings are never asserted: only that every script runs the project's code end to end, prints its Markdown table
with the machine described, and writes its own section of a results file.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.benchmarks.conftest import BENCHMARKS, assert_described, run_script


@pytest.mark.parametrize(("backend", "section"), [("tensorflow", "input-pipeline"), ("jax", "input-pipeline-jax")])
def test_input_pipeline_prints_its_table(tiny_photos, tmp_path, backend: str, section: str):
    results = tmp_path / "results.md"
    stdout = run_script(
        "input_pipeline.py", "--data", str(tiny_photos), "--limit", "40", "--epochs", "1", "--image-size", "48",
        "--batch-size", "8", "--fit-epochs", "1", "--backend", backend, "--results", str(results), tmp_path=tmp_path,
    )  # fmt: skip
    assert "| way | per batch | images | seconds | images/s | vs baseline |" in stdout
    assert "| baseline: seeds' way (Keras ImageDataGenerator) |" in stdout
    assert "| stricter baseline: same steps with PIL's affine |" in stdout
    assert "| ours: uint8 cache + augmentation layers |" in stdout
    assert "| random_affine | flip=horizontal, rotation=0.05" in stdout  # the per-layer breakdown
    assert "| basenet, with augmentation |" in stdout and "| basenet, without augmentation |" in stdout  # fit epochs
    assert f"Keras backend {backend};" in stdout
    assert_described(stdout, results, section)


def test_image_data_generator_gets_the_same_ranges_in_its_own_units():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from baselines import image_data_generator_settings
    finally:
        sys.path.remove(str(BENCHMARKS))
    settings = image_data_generator_settings(
        {"flip": "horizontal_and_vertical", "rotation": 0.05, "zoom": 0.1, "translation": 0.2, "contrast": 0.1, "shear": 1.0}
    )
    assert settings["rotation_range"] == pytest.approx(18)  # a twentieth of a turn, in degrees
    assert settings["shear_range"] == pytest.approx(45)  # shear factor 1 = 45 degrees
    assert (settings["width_shift_range"], settings["height_shift_range"], settings["zoom_range"]) == (0.2, 0.2, 0.1)
    assert settings["horizontal_flip"] and settings["vertical_flip"]
    assert settings["brightness_range"] == pytest.approx((0.9, 1.1))
    assert image_data_generator_settings({"flip": None, "contrast": 0})["brightness_range"] is None


def test_feature_extraction_prints_its_table(tiny_photos, tmp_path):
    results = tmp_path / "results.md"
    stdout = run_script(
        "feature_extraction.py", "--data", str(tiny_photos), "--limit", "40", "--epochs", "2", "--image-size", "32",
        "--results", str(results), tmp_path=tmp_path,
    )  # fmt: skip
    assert "| way | what one epoch runs | epoch times (s) | s/epoch (steady) | vs from images |" in stdout
    assert "on cached embeddings (mode: feature_extraction)" in stdout
    assert_described(stdout, results, "feature-extraction")


def test_a_missing_data_folder_is_named_with_the_fix(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "input_pipeline.py"), "--data", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "Image folder not found at" in result.stderr and "IMAGE_CLASSIFICATION_SHARED" in result.stderr


def test_update_results_replaces_only_its_own_section(tmp_path):
    spec = importlib.util.spec_from_file_location("benchmarks_common", BENCHMARKS / "common.py")
    common = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = common  # dataclasses look their module up while the class is created
    try:
        spec.loader.exec_module(common)
    finally:
        del sys.modules[spec.name]
    results = tmp_path / "results.md"
    common.update_results(results, "a", "first A")
    common.update_results(results, "b", "only B")
    common.update_results(results, "a", "second A")
    text = results.read_text()
    assert "second A" in text and "first A" not in text and "only B" in text
    assert text.index("second A") < text.index("only B")


def test_larger_than_memory_prints_its_table(tmp_path):
    results = tmp_path / "results.md"
    stdout = run_script(
        "larger_than_memory.py", "--images", "60", "--size", "32", "--classes", "3", "--baseline-images", "30",
        "--batch-size", "8", "--workdir", str(tmp_path / "work"), "--results", str(results), tmp_path=tmp_path,
    )  # fmt: skip
    assert "| phase | images | seconds (loading) | images/s | before (GiB) | peak (GiB) |" in stdout
    for phase in ("preprocess, streamed", "one epoch, memory-mapped", "preprocess, in memory", "one epoch, in memory"):
        assert f"| {phase} " in stdout
    assert "within the 1.5 GiB target" in stdout
    assert list((tmp_path / "work").iterdir()) == []  # images and arrays deleted
    assert_described(stdout, results, "larger-than-memory")
