"""Arrays larger than memory: written chunk by chunk into a versioned folder of .npy files, loaded memory-mapped."""

from __future__ import annotations

import errno
import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest
from fsspec.implementations.local import LocalFileOpener
from kedro.io.core import DatasetError, Version

from image_classification.datasets import ArrayChunks, MemmapArraysDataset, NumpyArraysDataset
from image_classification.training.batches import ArrayBatches, release_mapped_pages
from image_classification.training.checkpoints import data_fingerprint

FIRST, SECOND = "2024-01-01T00.00.00.000Z", "2024-01-02T00.00.00.000Z"
ROW = (4, 4, 3)


def _chunks(sizes: list[int], declared: int | None = None, fail_after: int | None = None, row=ROW) -> ArrayChunks:
    """Chunks of ``sizes`` rows; image rows hold their row number, labels too."""

    def chunks():
        start = 0
        for index, size in enumerate(sizes):
            if fail_after is not None and index == fail_after:
                raise RuntimeError("decoding failed half way")
            rows = np.arange(start, start + size)
            yield {"images": np.broadcast_to(rows[:, None, None, None] % 256, (size, *row)).astype(np.uint8),
                   "labels": rows.astype(np.int64)}  # fmt: skip
            start += size

    total = sum(sizes) if declared is None else declared
    return ArrayChunks(total, {"images": (row, np.dtype(np.uint8)), "labels": ((), np.dtype(np.int64))}, chunks)


def _dataset(path: Path, save: str | None = None, **kwargs) -> MemmapArraysDataset:
    return MemmapArraysDataset(filepath=str(path / "images_train"), version=Version(None, save), **kwargs)


def _tree(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))


def test_chunks_are_written_as_they_come_and_load_memory_mapped(tmp_path):
    row = (64, 64, 3)  # 12 KiB: more than a file's write buffer, so each chunk reaches the disk as it is written
    plain, on_disk = _chunks([3, 3, 2], row=row), []

    def watch():  # before each chunk, how many bytes of images are in the (temporary) file already
        for chunk in plain.chunks():
            on_disk.append(sum(path.stat().st_size for path in tmp_path.rglob(".images.npy.*.tmp")))
            yield chunk

    _dataset(tmp_path, FIRST).save(ArrayChunks(plain.rows, plain.row_shapes, watch))

    row_bytes = int(np.prod(row))
    assert on_disk[0] < row_bytes <= 3 * row_bytes <= on_disk[1] < 4 * row_bytes <= 6 * row_bytes <= on_disk[2]
    loaded = _dataset(tmp_path).load()
    assert isinstance(loaded["images"], np.memmap) and isinstance(loaded["labels"], np.memmap)
    assert loaded["images"].mode == "r" and not loaded["images"].flags.writeable
    assert loaded["images"].shape == (8, *row) and loaded["images"].dtype == np.uint8
    np.testing.assert_array_equal(loaded["labels"], np.arange(8))
    np.testing.assert_array_equal(loaded["images"][[7, 2], 0, 0, 0], [7, 2])
    assert _tree(tmp_path / "images_train" / FIRST) == [
        "images_train", "images_train/arrays.json", "images_train/images.npy", "images_train/labels.npy",
    ]  # fmt: skip


def test_in_memory_arrays_are_saved_in_slices_and_load_back_equal(tmp_path, monkeypatch):
    monkeypatch.setattr("image_classification.datasets.memmap_arrays.CHUNK_BYTES", 100)  # a few rows per slice
    arrays = {"images": np.random.default_rng(0).integers(0, 256, (9, *ROW), dtype=np.uint8), "labels": np.arange(9)}
    _dataset(tmp_path, FIRST).save(arrays)
    loaded = _dataset(tmp_path).load()
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded[name], array)


def test_rows_that_never_came_are_left_out_of_the_header(tmp_path):
    _dataset(tmp_path, FIRST).save(_chunks([3, 2], declared=7))  # two images could not be decoded
    loaded = _dataset(tmp_path).load()
    assert loaded["images"].shape == (5, *ROW) and loaded["labels"].tolist() == [0, 1, 2, 3, 4]
    path = tmp_path / "images_train" / FIRST / "images_train" / "images.npy"
    assert np.load(path).shape == (5, *ROW)  # a plain .npy file, readable without the dataset


@pytest.mark.parametrize(
    ("data", "cause", "named"),
    [
        (_chunks([3, 3], fail_after=1), RuntimeError, "decoding failed half way"),  # the chunks' own error
        (_chunks([3, 3], declared=4), ValueError, r"\b4\b"),  # the rows declared
    ],
    ids=["chunk-fails", "too-many-rows"],
)
def test_a_failed_save_leaves_no_new_version(tmp_path, data, cause, named):
    _dataset(tmp_path, FIRST).save(_chunks([2]))
    before = _tree(tmp_path)

    with pytest.raises(DatasetError, match=rf"{re.escape(str(tmp_path / 'images_train'))}.*{named}") as caught:
        _dataset(tmp_path, SECOND).save(data)
    assert isinstance(caught.value.__cause__, cause)

    assert _tree(tmp_path) == before  # no new version folder, no temporary folder or file
    assert _dataset(tmp_path).load()["labels"].tolist() == [0, 1]


def test_a_full_disk_leaves_no_new_version(tmp_path, monkeypatch):
    _dataset(tmp_path, FIRST).save(_chunks([2]))
    before = _tree(tmp_path)
    write = LocalFileOpener.write

    def full(self, data, *args, **kwargs):
        if len(data) > 100:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(self, data, *args, **kwargs)

    monkeypatch.setattr(LocalFileOpener, "write", full)
    with pytest.raises(DatasetError, match="No space left on device"):
        _dataset(tmp_path, SECOND).save(_chunks([30, 30]))
    monkeypatch.undo()
    assert _tree(tmp_path) == before


def test_an_older_npz_version_is_still_read_until_a_folder_version_exists(tmp_path, caplog):
    legacy = str(tmp_path / "images_train.npz")
    NumpyArraysDataset(filepath=legacy, version=Version(None, FIRST)).save({"images": np.zeros((2, *ROW), np.uint8),
                                                                           "labels": np.arange(2)})  # fmt: skip
    with caplog.at_level(logging.WARNING):
        loaded = _dataset(tmp_path, legacy_npz=legacy).load()
    assert loaded["labels"].tolist() == [0, 1] and not isinstance(loaded["images"], np.memmap)
    assert "Re-run the pipeline that writes it (preprocess)" in caplog.text
    assert _dataset(tmp_path, legacy_npz=legacy).exists()

    _dataset(tmp_path, SECOND, legacy_npz=legacy).save(_chunks([3]))
    assert _dataset(tmp_path, legacy_npz=legacy).load()["labels"].tolist() == [0, 1, 2]


def test_nothing_saved_yet_is_a_dataset_error_naming_the_path(tmp_path):
    assert not _dataset(tmp_path).exists()
    with pytest.raises(DatasetError, match=rf"'{re.escape(str(tmp_path / 'images_train'))}'"):
        _dataset(tmp_path).load()


def test_a_file_cut_short_is_named(tmp_path):
    _dataset(tmp_path, FIRST).save(_chunks([3]))
    path = tmp_path / "images_train" / FIRST / "images_train" / "images.npy"
    os.truncate(path, path.stat().st_size - 5)
    with pytest.raises(DatasetError, match=rf"'{re.escape(str(path))}'"):
        _dataset(tmp_path).load()


def test_an_unversioned_folder_is_replaced_whole(tmp_path):
    dataset = MemmapArraysDataset(filepath=str(tmp_path / "arrays"))
    dataset.save(_chunks([3]))
    dataset.save(_chunks([2]))
    assert dataset.load()["labels"].tolist() == [0, 1]
    assert _tree(tmp_path) == ["arrays", "arrays/arrays.json", "arrays/images.npy", "arrays/labels.npy"]


def _peak_rss_reset() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size (Linux)
    except OSError:
        pytest.skip("no /proc/self/clear_refs to reset the peak resident memory")


def _peak_rss() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) * 1024


def test_saving_and_a_training_epoch_stay_far_below_the_size_of_the_data(tmp_path):
    """168 MiB of images through save and one pass of batches: peak memory grows by a fraction of that."""
    side, rows_per_chunk, chunks = 128, 256, 14  # 48 KiB per image, 12 MiB per chunk

    def generate():
        for index in range(chunks):
            images = np.full((rows_per_chunk, side, side, 3), index, np.uint8)
            yield {"images": images, "labels": np.full(rows_per_chunk, index % 2, np.int64)}

    data = ArrayChunks(rows_per_chunk * chunks, {"images": ((side, side, 3), np.dtype(np.uint8)),
                                                 "labels": ((), np.dtype(np.int64))}, generate)  # fmt: skip
    _peak_rss_reset()
    start = _peak_rss()
    _dataset(tmp_path, FIRST).save(data)
    saving = _peak_rss() - start
    loaded = _dataset(tmp_path).load()

    _peak_rss_reset()
    start = _peak_rss()
    batches_ = ArrayBatches(loaded["images"], loaded["labels"], 2, batch_size=16, shuffle=True, seed=0)
    for index in range(len(batches_)):  # 16 rows a batch: the kernel may map MBs around each, released after it
        batches_[index]
    reading = _peak_rss() - start

    total = loaded["images"].nbytes
    assert total >= 160 * 2**20
    assert saving < 48 * 2**20, f"saving {total >> 20} MiB raised the peak by {saving >> 20} MiB"
    assert reading < 64 * 2**20, f"one pass over {total >> 20} MiB raised the peak by {reading >> 20} MiB"


def test_only_read_only_mapped_arrays_have_pages_released(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.arange(10))
    assert release_mapped_pages(np.load(path, mmap_mode="r"))
    assert release_mapped_pages(np.asarray(np.load(path, mmap_mode="r"))[2:5])  # views reach the mapping too
    assert not release_mapped_pages(np.load(path, mmap_mode="c"))  # private changes would be lost
    assert not release_mapped_pages(np.arange(10))


def test_the_data_fingerprint_of_a_large_memory_mapped_split_reads_a_sample_of_its_rows(tmp_path):
    images = np.zeros((1400, 128, 128, 3), np.uint8)  # 66 MiB: over the size hashed whole
    images[::7] = 1
    labels = np.arange(1400) % 2
    _dataset(tmp_path, FIRST).save({"images": images, "labels": labels})
    mapped = _dataset(tmp_path).load()

    fingerprint = data_fingerprint(mapped, class_names=["a", "b"])

    assert fingerprint == data_fingerprint({"images": images, "labels": labels}, class_names=["a", "b"])
    changed = images.copy()
    changed[1] = 3  # rows 0, 5, 11, ... are read: row 1 is not (the price of not reading 66 MiB)
    assert data_fingerprint({"images": changed, "labels": labels}, class_names=["a", "b"]) == fingerprint
    changed[-1] = 2  # the last row always is
    assert data_fingerprint({"images": changed, "labels": labels}, class_names=["a", "b"]) != fingerprint
    assert data_fingerprint({"images": images, "labels": labels[::-1]}, class_names=["a", "b"]) != fingerprint
