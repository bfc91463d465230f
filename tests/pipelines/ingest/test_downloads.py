"""Tests for downloading a data set archive over real local HTTP (with resume and checksum) and file:// URLs."""

from __future__ import annotations

import hashlib
import re

import pytest

from image_classification.data.downloads import ChecksumMismatchError, DownloadError, download
from image_classification.data.sources import fetch_source

from .conftest import class_zip, relative_files


def test_url_source_downloads_and_extracts_over_real_http(tmp_path, file_server):
    data = class_zip(tmp_path / "pets.zip").read_bytes()
    file_server.files["pets.zip"] = data
    source = {
        "type": "url",
        "name": "pets",
        "raw_dir": str(tmp_path / "raw"),
        "url": file_server.url("pets.zip"),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    root = fetch_source(source)
    assert "pets/dog/d.png" in relative_files(root)
    assert (tmp_path / "raw" / "downloads" / "pets.zip").read_bytes() == data
    assert (
        fetch_source(source) == root and len(file_server.requests) == 1
    )  # second run: no download


def test_url_download_resumes_a_part_file_left_by_an_earlier_run(tmp_path, file_server):
    data = bytes(range(256)) * 400
    file_server.files["blob.zip"] = data
    file_server.cut_next_after["blob.zip"] = 30_000
    dest = tmp_path / "blob.zip"
    part = tmp_path / "blob.zip.part"  # named in the error: a rerun resumes from it
    with pytest.raises(DownloadError, match=rf"{re.escape(file_server.url('blob.zip'))}.*\b30,000\b.*{re.escape(str(part))}"):
        download(file_server.url("blob.zip"), dest, retries=0)
    assert (tmp_path / "blob.zip.part").stat().st_size == 30_000
    download(file_server.url("blob.zip"), dest, sha256=hashlib.sha256(data).hexdigest())
    assert dest.read_bytes() == data
    assert not (tmp_path / "blob.zip.part").exists() and not (tmp_path / "blob.zip.part.url").exists()
    assert file_server.requests == [("blob.zip", None), ("blob.zip", "bytes=30000-")]


@pytest.mark.parametrize("left_by", ["another url", "an unknown download"])
def test_a_part_file_from_elsewhere_is_discarded_not_resumed(tmp_path, file_server, left_by: str):
    old, new = b"old archive " * 5_000, b"new archive " * 4_000
    file_server.files.update({"old.zip": old, "new.zip": new})
    dest = tmp_path / "data.zip"
    if left_by == "another url":
        file_server.cut_next_after["old.zip"] = 20_000
        with pytest.raises(DownloadError):
            download(file_server.url("old.zip"), dest, retries=0)
    else:  # e.g. copied in by hand, or left by a version that did not record its URL
        (tmp_path / "data.zip.part").write_bytes(old[:20_000])
    download(file_server.url("new.zip"), dest)
    assert dest.read_bytes() == new
    assert file_server.requests[-1] == ("new.zip", None)  # fetched whole, no Range


def test_url_download_resumes_after_the_connection_drops(tmp_path, file_server):
    data = bytes(range(256)) * 400
    file_server.files["blob.zip"] = data
    file_server.cut_next_after["blob.zip"] = 40_000
    download(file_server.url("blob.zip"), tmp_path / "blob.zip")
    assert (tmp_path / "blob.zip").read_bytes() == data
    assert file_server.requests == [("blob.zip", None), ("blob.zip", "bytes=40000-")]


def test_url_checksum_mismatch_keeps_the_file_aside_and_names_url_and_hashes(tmp_path, file_server):
    data = class_zip(tmp_path / "pets.zip").read_bytes()
    file_server.files["pets.zip"] = data
    url, wrong = file_server.url("pets.zip"), "0" * 64
    with pytest.raises(ChecksumMismatchError) as caught:
        download(url, tmp_path / "dl" / "pets.zip", sha256=wrong)
    message = str(caught.value)
    assert url in message and wrong in message and hashlib.sha256(data).hexdigest() in message
    assert (
        not (tmp_path / "dl" / "pets.zip").exists()
        and not (tmp_path / "dl" / "pets.zip.part").exists()
    )
    assert (tmp_path / "dl" / "pets.zip.sha256-mismatch").read_bytes() == data


def test_url_errors_name_the_url_and_setting(tmp_path, file_server):
    url = file_server.url("missing.zip")
    with pytest.raises(DownloadError, match=rf"{re.escape(url)}.*\b404\b.*ingest\.source\.url"):
        download(url, tmp_path / "m.zip")
    with pytest.raises(ValueError, match=rf"ingest\.source\.url\b.*'{re.escape(file_server.url('cat.jpg'))}'"):
        fetch_source(
            {
                "type": "url",
                "name": "x",
                "raw_dir": str(tmp_path),
                "url": file_server.url("cat.jpg"),
            }
        )


def test_file_url_works(tmp_path):
    archive = class_zip(tmp_path / "pets.zip")
    root = fetch_source(
        {"type": "url", "name": "pets", "raw_dir": str(tmp_path / "raw"), "url": archive.as_uri()}
    )
    assert "pets/cat/a.png" in relative_files(root)
