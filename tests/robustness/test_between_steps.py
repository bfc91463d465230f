"""Issue 23 items 3 and 4: images changed between ingest and preprocess stop the run with the files named and "rerun
ingest" (never a model trained on a class it never saw, or on overwritten files under their old labels); and
``--runner ParallelRunner``, which hangs in training, is refused before any node."""

from __future__ import annotations

import os
import shutil

import pytest
from kedro.pipeline import Pipeline, node
from kedro.runner import ParallelRunner, SequentialRunner, ThreadRunner

from image_classification.data.verify import ImagesChangedError, changed_images
from image_classification.pipelines.ingest.nodes import build_manifest
from image_classification.pipelines.preprocess.nodes import build_image_arrays
from image_classification.pipelines.split.nodes import split_dataset
from image_classification.project.hooks import RunChecksHook
from image_classification.project.run_checks import (
    UnsupportedRunnerError,
    check_runner,
)
from tests.pipelines.ingest.conftest import write_image

CONFIG = {"image_size": 8, "resize_method": "stretch"}


@pytest.fixture
def ingested(tmp_path):
    """Three classes of five images, ingested and split as ``ingest,split`` would: (root, splits, class names)."""
    for number, label in enumerate(("cat", "dog", "fox")):
        for index in range(5):
            write_image(tmp_path / "images" / label / f"{index}.png", color=(50 * number, 20 * index, 7))
    manifest, _ = build_manifest(str(tmp_path / "images"), {"from": "folder"}, {})
    splits, class_names = split_dataset(manifest, {"test_fraction": 0.2, "val_fraction": 0.25, "seed": 1})
    return tmp_path / "images", splits, class_names


def test_unchanged_images_pass_and_are_not_hashed_again(ingested):
    root, splits, class_names = ingested
    assert changed_images(splits.to_dict("records")) == []
    assert len(build_image_arrays(splits, class_names, CONFIG)) == 3


def test_deleted_overwritten_and_truncated_images_stop_preprocess_naming_each(ingested):
    root, splits, class_names = ingested
    for path in (root / "cat").iterdir():  # every cat gone
        path.unlink()
    shutil.copy(root / "fox" / "0.png", root / "dog" / "0.png")  # a dog that is now a fox, same size
    shutil.copy(root / "fox" / "1.png", root / "dog" / "1.png")
    truncated = root / "fox" / "2.png"
    truncated.write_bytes(truncated.read_bytes()[:20])
    with pytest.raises(ImagesChangedError) as caught:
        build_image_arrays(splits, class_names, CONFIG)
    changed = {change.path: change.what for change in caught.value.changes}
    assert {str(root / "cat" / f"{index}.png") for index in range(5)} <= set(changed)
    assert "deleted" in changed[str(root / "cat" / "0.png")]
    assert "content changed" in changed[str(root / "dog" / "0.png")]
    assert "size" in changed[str(truncated)]
    assert len(changed) == 8 and caught.value.step == "preprocess"
    assert "--pipelines ingest" in str(caught.value)


def test_a_same_size_overwrite_with_the_old_timestamp_is_caught_by_a_manifest_without_mtimes(ingested):
    """Manifests written before ``mtime_ns`` existed are checked by hash."""
    root, splits, class_names = ingested
    target = root / "dog" / "3.png"
    stat = target.stat()
    shutil.copy(root / "fox" / "3.png", target)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even the timestamp is restored
    old = splits.drop(columns=["mtime_ns"])
    assert [change.path for change in changed_images(old.to_dict("records"))] == [str(target)]


def test_a_file_replaced_by_a_fifo_is_a_change_not_a_hang(ingested):
    root, splits, class_names = ingested
    target = root / "cat" / "1.png"
    target.unlink()
    os.mkfifo(target)
    assert [change.path for change in changed_images(splits.to_dict("records"))] == [str(target)]


def _training_pipeline() -> Pipeline:
    return Pipeline([
        node(lambda x: x, "a", "b", name="split_dataset", tags="split"),
        node(lambda x: x, "b", "c", name="scratch.basenet.train_model", tags=["scratch", "scratch.basenet"]),
    ])  # fmt: skip


@pytest.mark.parametrize("runner", [ParallelRunner, "ParallelRunner"], ids=["instance", "name"])
def test_parallel_runner_is_refused_for_training_naming_the_runner_to_use(runner):
    recorded = str(runner()) if not isinstance(runner, str) else runner  # Kedro records str(instance)
    with pytest.raises(UnsupportedRunnerError) as caught:
        check_runner(recorded, _training_pipeline())
    assert caught.value.runner == "ParallelRunner" and caught.value.nodes == ["scratch.basenet.train_model"]
    assert "ThreadRunner" in str(caught.value)


def test_other_runners_and_tensorflow_free_pipelines_are_let_through():
    check_runner(str(SequentialRunner()), _training_pipeline())
    check_runner(str(ThreadRunner()), _training_pipeline())
    check_runner(str(ParallelRunner()), Pipeline([node(lambda x: x, "a", "b", name="split_dataset", tags="split")]))


def test_the_run_checks_hook_refuses_parallel_runner_before_reading_any_parameter():
    hook = RunChecksHook()
    hook._parameters = {}
    with pytest.raises(UnsupportedRunnerError):
        hook.before_pipeline_run({"runner": str(ParallelRunner())}, _training_pipeline(), catalog=None)
