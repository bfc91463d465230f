"""Issue 23 items 6 and 11: a corrupt ``mlflow.db`` is named with the fix (move it aside) and left untouched; an
unusable ``mlartifacts/`` is found before the run; the temporary folder of a killed save is removed by the next save.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from kedro.io.core import Version

from image_classification.datasets import MemmapArraysDataset
from image_classification.datasets.atomic_writes import temporary_path
from image_classification.project.mlflow_store_guard import (
    MlflowStoreCorruptError,
    MlflowStoreError,
    MlflowStoreHook,
    check_artifact_folder,
    check_store,
)


@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    """A SQLite store of many pages, with rows whose bytes must never be lost (MLflow's own takes seconds to make)."""
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE metrics (run_uuid TEXT, key TEXT, value REAL)")
        connection.executemany("INSERT INTO metrics VALUES (?, 'accuracy', ?)", [(f"run-{i:05d}", i / 1e4) for i in range(5000)])
    return path


def test_a_text_file_as_the_store_is_named_with_the_fix_and_left_as_it_is(tmp_path):
    store = tmp_path / "mlflow.db"
    store.write_text("this is not a database\n" * 100)
    before = store.read_bytes()
    with pytest.raises(MlflowStoreCorruptError) as caught:
        check_store(f"sqlite:///{store}", wait_s=1)
    assert caught.value.path == store and f"mv {store}" in str(caught.value)
    assert store.read_bytes() == before


def test_a_truncated_store_is_named_and_nothing_logged_is_lost(real_store, tmp_path):
    store = tmp_path / "mlflow.db"
    data = real_store.read_bytes()
    store.write_bytes(data[: len(data) // 2])  # half of it, as a disk-full copy leaves it
    before = store.read_bytes()
    with pytest.raises(MlflowStoreCorruptError) as caught:
        MlflowStoreHook(lock_wait_s=1).after_context_created(
            SimpleNamespace(config_loader={"mlflow": {"server": {"mlflow_tracking_uri": f"sqlite:///{store}"}}})
        )
    assert caught.value.path == store and isinstance(caught.value, MlflowStoreError)
    assert store.read_bytes() == before


def test_a_healthy_store_passes(real_store, tmp_path):
    store = tmp_path / "mlflow.db"
    shutil.copy(real_store, store)
    check_store(f"sqlite:///{store}", wait_s=1)


def test_a_file_where_mlartifacts_should_be_is_found_before_the_run(tmp_path):
    blocker = tmp_path / "mlartifacts"
    blocker.write_text("not a folder")
    with pytest.raises(MlflowStoreError, match=str(blocker)):
        check_artifact_folder(str(blocker))
    with pytest.raises(MlflowStoreError, match=str(blocker)):
        MlflowStoreHook().after_context_created(SimpleNamespace(config_loader={"mlflow": {
            "tracking": {"experiment": {"create_experiment_kwargs": {"artifact_location": str(blocker)}}}}}))
    check_artifact_folder(str(tmp_path / "new" / "mlartifacts"))  # created by MLflow when needed
    check_artifact_folder("s3://bucket/mlartifacts")  # left to MLflow


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_mlartifacts_is_found_before_the_run(tmp_path):
    folder = tmp_path / "mlartifacts"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(MlflowStoreError, match=str(folder)):
            check_artifact_folder(str(folder))
    finally:
        folder.chmod(0o755)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_temporary_folder_of_a_killed_save_is_removed_by_the_next_save(tmp_path):
    arrays = {"images": np.zeros((2, 4, 4, 3), np.uint8), "labels": np.zeros(2, np.int64)}
    root = tmp_path / "images_train"
    killed = root / "2026-01-01T00.00.00.000Z"
    killed.mkdir(parents=True)
    leftover = temporary_path(str(killed / "images_train")).replace(f"-{os.getpid()}-", f"-{_dead_pid()}-")
    os.makedirs(leftover)
    (root.parent / "filler").write_bytes(b"x")
    with open(os.path.join(leftover, "images.npy"), "wb") as stream:
        stream.write(b"\0" * 1024)
    live = temporary_path(str(root / "2026-01-02T00.00.00.000Z" / "images_train"))  # this process: in use
    os.makedirs(live)
    MemmapArraysDataset(filepath=str(root), version=Version(None, "2026-02-01T00.00.00.000Z")).save(arrays)
    assert not os.path.exists(leftover) and not killed.exists()  # the version folder held only the leftover
    assert os.path.exists(live)
    loaded = MemmapArraysDataset(filepath=str(root), version=Version(None, None)).load()
    assert loaded["images"].shape == (2, 4, 4, 3)
