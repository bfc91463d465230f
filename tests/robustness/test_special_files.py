"""Issue 23 item 1: anything that is not a regular file (FIFO, socket, device, broken link) is skipped and reported, or
refused by name, without being opened: opening a FIFO blocks until a writer comes, for ever.

Every test runs under a deadline (``SIGALRM``); when it fires, each FIFO is opened for writing once, which releases a
reader stuck on it, so a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from image_classification.data.archives import extract_archive
from image_classification.data.files import NotARegularFileError
from image_classification.data.labels import assign_labels
from image_classification.data.sources import fetch_source
from image_classification.pipelines.ingest.nodes import build_manifest
from image_classification.pipelines.predict.nodes import image_table_from_folder
from image_classification.pipelines.similar.nodes import load_query_image
from tests.pipelines.ingest.conftest import png_bytes, write_image

DEADLINE_S = 10

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs need a POSIX system")


class Hung(Exception):
    """The code under test was still blocked when the deadline fired."""


@contextlib.contextmanager
def deadline(*fifos: Path, seconds: int = DEADLINE_S):
    """Fails with ``Hung`` after ``seconds``; then unblocks any reader of ``fifos`` so no thread stays stuck."""

    def expire(signum, frame):
        raise Hung(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        for fifo in fifos:
            with contextlib.suppress(OSError):  # no reader waiting: nothing to release
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def _classes(root: Path) -> None:
    for label in ("cat", "dog"):
        for index in range(2):
            write_image(root / label / f"{index}.png", color=(40 * index, 90 if label == "cat" else 10, 0))


def test_a_fifo_in_the_images_folder_is_reported_and_skipped_without_being_opened(tmp_path):
    _classes(tmp_path)
    fifo = _fifo(tmp_path / "cat" / "stream.png")
    with deadline(fifo):
        manifest, report = build_manifest(str(tmp_path), {"from": "folder"}, {})
    assert len(manifest) == 4 and str(fifo) not in manifest["path"].tolist()
    row = report[report["file"] == str(fifo)]
    assert len(row) == 1 and "FIFO" in row["problem"].iloc[0] and row["action"].iloc[0] == "skipped"


def test_a_socket_a_device_and_a_broken_link_in_the_images_folder_are_reported(tmp_path):
    _classes(tmp_path)
    server = socket.socket(socket.AF_UNIX)
    sock = tmp_path / "dog" / "s.png"
    server.bind(str(sock))
    device = tmp_path / "dog" / "zero.png"
    device.symlink_to("/dev/zero")  # read to the end, it never ends
    broken = tmp_path / "cat" / "gone.png"
    broken.symlink_to(tmp_path / "nowhere.png")
    try:
        with deadline():
            manifest, report = build_manifest(str(tmp_path), {"from": "folder"}, {})
    finally:
        server.close()
    assert len(manifest) == 4
    problems = dict(zip(report["file"], report["problem"]))
    assert "socket" in problems[str(sock)] and "character device" in problems[str(device)]
    assert "broken link" in problems[str(broken)]


def test_a_fifo_as_the_labels_csv_is_refused_by_name(tmp_path):
    _classes(tmp_path)
    fifo = _fifo(tmp_path / "labels.csv")
    files = sorted(tmp_path.rglob("*.png"))
    with deadline(fifo), pytest.raises(NotARegularFileError) as caught:
        assign_labels(files, tmp_path, {"from": "csv", "csv_path": "labels.csv"})
    assert caught.value.path == str(fifo) and caught.value.setting == "ingest.labels.csv_path"


def test_a_fifo_as_the_archive_is_refused_by_name(tmp_path):
    fifo = _fifo(tmp_path / "images.zip")
    source = {"type": "zip", "name": "pets", "path": str(fifo), "raw_dir": str(tmp_path / "raw")}
    with deadline(fifo), pytest.raises(NotARegularFileError) as caught:
        fetch_source(source)
    assert caught.value.path == str(fifo) and caught.value.setting == "ingest.source.path"
    with deadline(fifo), pytest.raises(NotARegularFileError):
        extract_archive(fifo, tmp_path / "out")


def test_a_fifo_member_of_a_tar_is_skipped_and_the_images_extracted(tmp_path):
    archive = tmp_path / "pets.tar"
    with tarfile.open(archive, "w") as bundle:
        data = png_bytes()
        info = tarfile.TarInfo("pets/cat/0.png")
        info.size = len(data)
        bundle.addfile(info, io.BytesIO(data))
        fifo = tarfile.TarInfo("pets/cat/stream.png")
        fifo.type = tarfile.FIFOTYPE
        bundle.addfile(fifo)
    with deadline():
        target = extract_archive(archive, tmp_path / "out")
    assert (target / "pets" / "cat" / "0.png").is_file()
    assert not os.path.lexists(target / "pets" / "cat" / "stream.png")


def test_a_fifo_in_predict_images_dir_is_skipped(tmp_path):
    write_image(tmp_path / "a.png")
    fifo = _fifo(tmp_path / "b.png")
    with deadline(fifo):
        table = image_table_from_folder(str(tmp_path))
    assert table["file"].tolist() == [str(tmp_path / "a.png")]


def test_a_predict_images_dir_with_only_a_fifo_is_an_error_like_an_empty_one(tmp_path):
    fifo = _fifo(tmp_path / "b.png")
    with deadline(fifo), pytest.raises(ValueError, match="predict.images_dir"):
        image_table_from_folder(str(tmp_path))


def test_a_fifo_as_similar_query_is_refused_by_name(tmp_path):
    fifo = _fifo(tmp_path / "query.png")
    with deadline(fifo), pytest.raises(NotARegularFileError) as caught:
        load_query_image(fifo, 16, "stretch")
    assert caught.value.path == str(fifo) and caught.value.setting == "similar.query"


def test_manifest_rows_never_name_a_special_file(tmp_path):
    """The report rows of special files come first and name the kind; nothing else changes for the real images."""
    _classes(tmp_path)
    reference, _ = build_manifest(str(tmp_path), {"from": "folder"}, {})
    fifo = _fifo(tmp_path / "dog" / "x.jpg")
    with deadline(fifo):
        manifest, _ = build_manifest(str(tmp_path), {"from": "folder"}, {})
    columns = ["path", "label", "sha256"]
    pd.testing.assert_frame_equal(manifest[columns], reference[columns])
