"""Smoke tests of the two benchmark scripts that run `kedro run` (overhead, accuracy study): the longest of the
suite, in their own file so that `make test`'s two workers take them apart from the other benchmarks."""

from __future__ import annotations

import pytest

from tests.benchmarks.conftest import assert_described, run_script


@pytest.mark.e2e
def test_overhead_prints_its_table(tiny_photos, tmp_path):
    results = tmp_path / "results.md"
    stdout = run_script(
        "overhead.py", "--data", str(tiny_photos), "--image-size", "32", "--epochs", "1", "--repeats", "1",
        "--workdir", str(tmp_path / "project"), "--results", str(results), tmp_path=tmp_path,
    )  # fmt: skip
    assert "| bare Keras script (`benchmarks/bare_keras_transfer.py`) |" in stdout
    assert "| `kedro run --pipelines=transfer` |" in stdout
    assert_described(stdout, results, "overhead")


@pytest.mark.e2e
def test_accuracy_study_runs_kedro_and_writes_its_tables(shared_tiny_photos, tmp_path):
    results = tmp_path / "results.md"
    results.write_text("# Results\n\nKept as it is.\n")
    stdout = run_script(
        "accuracy_study.py", "--datasets", "cats_dogs_tiny",
        "--models", "scratch.basenet", "transfer.mobilenet_v2", "--seed", "3",
        "--workdir", str(tmp_path / "study"), "--results", str(results), tmp_path=tmp_path,
    )  # fmt: skip
    assert "| model | test accuracy per fold | mean ± sd (points) |" in stdout
    models = sorted(line.split("|")[1].strip() for line in stdout.splitlines() if line.startswith("| `"))
    # The others were switched off; the transfer head's linear probe comes with it.
    assert models == ["`baseline.linear_probe.mobilenet_v2`", "`scratch.basenet`", "`transfer.mobilenet_v2`"]
    assert "n = 40 " in stdout  # 2 folds over 40 photos in one run: every photo tested once
    assert "| strategies |" in stdout and "| head vs probe |" in stdout  # McNemar on the pooled images
    assert_described(stdout, results, "fold-study-cats_dogs_tiny")
    assert results.read_text().startswith("# Results\n\nKept as it is.\n")
