"""Smoke tests of the benchmark scripts: each runs on the tiny shared photo set and prints its table.

Timings are never asserted: only that every script runs the project's code end to end, prints its Markdown table
with the machine described, and writes its own section of a results file.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_DIR

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


BUNDLED_PAINTINGS = Path(__file__).resolve().parents[2] / "src" / "image_classification" / "bundled" / "impressionists"


@pytest.fixture(scope="module")
def tiny_photos(tmp_path_factory) -> Path:
    """Real images in one folder per class: ../shared's 40 cats and dogs, else two bundled painters (60 paintings)."""
    folder = SHARED_DIR / "datasets" / "cats_dogs_tiny"
    if folder.is_dir():
        return folder
    two_painters = tmp_path_factory.mktemp("two_painters")
    for painter in ("Monet", "VanGogh"):  # 2 classes, so the benchmarks' small --limit still splits by class
        shutil.copytree(BUNDLED_PAINTINGS / painter, two_painters / painter)  # copies: ingest follows no symlink
    return two_painters


@pytest.fixture(scope="module")
def shared_tiny_photos(shared_dir: Path) -> Path:
    """../shared's 40 cats and dogs: the accuracy study knows that set by name."""
    return shared_dir / "datasets" / "cats_dogs_tiny"


def _run(script: str, *arguments: str, tmp_path: Path) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KEDRO_DISABLE_TELEMETRY": "true"}
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result.stdout


def _assert_described(stdout: str, results: Path, section: str) -> None:
    assert "- Machine: " in stdout and "- Load average (1/5/15 min): " in stdout and "- Command: `python " in stdout
    text = results.read_text()
    assert f"<!-- {section}:start -->" in text and f"<!-- {section}:end -->" in text


@pytest.mark.parametrize(("backend", "section"), [("tensorflow", "input-pipeline"), ("jax", "input-pipeline-jax")])
def test_input_pipeline_prints_its_table(tiny_photos, tmp_path, backend: str, section: str):
    results = tmp_path / "results.md"
    stdout = _run(
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
    _assert_described(stdout, results, section)


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
    stdout = _run(
        "feature_extraction.py", "--data", str(tiny_photos), "--limit", "40", "--epochs", "2", "--image-size", "32",
        "--results", str(results), tmp_path=tmp_path,
    )  # fmt: skip
    assert "| way | what one epoch runs | epoch times (s) | s/epoch (steady) | vs from images |" in stdout
    assert "on cached embeddings (mode: feature_extraction)" in stdout
    _assert_described(stdout, results, "feature-extraction")


@pytest.mark.e2e
def test_overhead_prints_its_table(tiny_photos, tmp_path):
    results = tmp_path / "results.md"
    stdout = _run(
        "overhead.py", "--data", str(tiny_photos), "--image-size", "32", "--epochs", "1", "--repeats", "1",
        "--workdir", str(tmp_path / "project"), "--results", str(results), tmp_path=tmp_path,
    )  # fmt: skip
    assert "| bare Keras script (`benchmarks/bare_keras_transfer.py`) |" in stdout
    assert "| `kedro run --pipelines=transfer` |" in stdout
    _assert_described(stdout, results, "overhead")


@pytest.mark.e2e
def test_accuracy_study_runs_kedro_and_writes_its_tables(shared_tiny_photos, tmp_path):
    results = tmp_path / "results.md"
    results.write_text("# Results\n\nKept as it is.\n")
    stdout = _run(
        "accuracy_study.py", "--datasets", "cats_dogs_tiny", "--run-folds", "2",
        "--models", "scratch.basenet", "transfer.mobilenet_v2", "--seed", "3",
        "--workdir", str(tmp_path / "study"), "--results", str(results), tmp_path=tmp_path,
    )  # fmt: skip
    assert "| model | test accuracy per fold (95% CI) | mean ± sd (points) |" in stdout
    models = [line.split("|")[1].strip() for line in stdout.splitlines() if line.startswith("| `")]
    assert models == ["`scratch.basenet`", "`transfer.mobilenet_v2`"]  # the others were switched off
    assert "n = 20 |" in stdout  # 2 folds of the 4 over 40 photos: 20 test images pooled, each tested once
    assert "| transfer vs scratch |" in stdout  # McNemar between the two strategies, on the pooled images
    _assert_described(stdout, results, "accuracy-study-cats_dogs_tiny")
    assert results.read_text().startswith("# Results\n\nKept as it is.\n")


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
    stdout = _run(
        "larger_than_memory.py", "--images", "60", "--size", "32", "--classes", "3", "--baseline-images", "30",
        "--batch-size", "8", "--workdir", str(tmp_path / "work"), "--results", str(results), tmp_path=tmp_path,
    )  # fmt: skip
    assert "| phase | images | seconds (loading) | images/s | before (GiB) | peak (GiB) |" in stdout
    for phase in ("preprocess, streamed", "one epoch, memory-mapped", "preprocess, in memory", "one epoch, in memory"):
        assert f"| {phase} " in stdout
    assert "within the 1.5 GiB target" in stdout
    assert list((tmp_path / "work").iterdir()) == []  # images and arrays deleted
    _assert_described(stdout, results, "larger-than-memory")
