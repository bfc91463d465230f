"""Tests for acquiring data sets: bundled paintings and digits, folders and local archives."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from image_classification.data import sources
from image_classification.data.archives import MARKER_NAME, UnsafeArchiveError, extract_archive
from image_classification.data.sources import BUNDLED_DATASETS, fetch_source

from .conftest import class_zip, make_zip, png_bytes, relative_files


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory) -> Path:
    raw_dir = tmp_path_factory.mktemp("raw")
    return fetch_source({"type": "bundled", "name": "digits", "raw_dir": str(raw_dir)})


PAINTERS = ["Cezanne", "Degas", "Gauguin", "Hassam", "Matisse", "Monet", "Pissarro", "Renoir", "Sargent", "VanGogh"]


@pytest.fixture(scope="module")
def impressionists_dir(tmp_path_factory) -> Path:
    raw_dir = tmp_path_factory.mktemp("raw")
    return fetch_source({"type": "bundled", "name": "impressionists", "raw_dir": str(raw_dir)})


# ---- bundled ---------------------------------------------------------------------------------------------------


def test_bundled_impressionists_are_300_paintings_30_per_painter(impressionists_dir):
    assert BUNDLED_DATASETS == ("impressionists", "digits")
    assert impressionists_dir.name == "impressionists"
    assert sorted(p.name for p in impressionists_dir.iterdir() if p.is_dir()) == PAINTERS
    for painter in PAINTERS:
        assert len(list((impressionists_dir / painter).glob("*.jpg"))) == 30, painter
    files = sorted(p.relative_to(impressionists_dir).as_posix() for p in impressionists_dir.rglob("*") if p.is_file())
    assert len(files) == 301 and files[0] == MARKER_NAME  # 300 paintings and the marker, nothing else
    bundled = sources.BUNDLED_DIR / "impressionists"
    for path in files[1::37]:  # byte-for-byte copies of the shipped files
        assert (impressionists_dir / path).read_bytes() == (bundled / path).read_bytes()
    with Image.open(impressionists_dir / files[1]) as image:
        assert image.mode == "RGB" and max(image.size) == 256
    assert not [p for p in impressionists_dir.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_bundled_impressionists_are_reused_on_rerun(impressionists_dir):
    painting = next((impressionists_dir / "Monet").glob("*.jpg"))
    before = painting.stat().st_mtime_ns
    again = fetch_source({"type": "bundled", "name": "impressionists", "raw_dir": str(impressionists_dir.parent)})
    assert again == impressionists_dir
    assert painting.stat().st_mtime_ns == before


def test_bundled_is_the_default_source_type(tmp_path):
    folder = fetch_source({"name": "impressionists", "raw_dir": str(tmp_path)})
    assert folder == tmp_path / "impressionists" and len(list(folder.rglob("*.jpg"))) == 300


def test_damaged_bundled_painting_is_refused_naming_the_file(tmp_path, monkeypatch):
    bundled = tmp_path / "bundled"
    shutil.copytree(sources.BUNDLED_DIR / "impressionists", bundled / "impressionists")
    damaged = sorted((bundled / "impressionists" / "Degas").glob("*.jpg"))[3]
    damaged.write_bytes(damaged.read_bytes()[:-10])
    monkeypatch.setattr(sources, "BUNDLED_DIR", bundled)
    sums = bundled / "impressionists" / "SHA256SUMS"
    actual = hashlib.sha256(damaged.read_bytes()).hexdigest()
    # The file, its actual hash, the list it should match and the command that reinstalls it.
    with pytest.raises(ValueError, match=rf"{re.escape(str(damaged))}.*{actual}.*{re.escape(str(sums))}.*make install"):
        fetch_source({"type": "bundled", "name": "impressionists", "raw_dir": str(tmp_path / "raw")})
    assert not list((tmp_path / "raw").iterdir())  # staging folder removed, nothing half-written
    sums.unlink()
    with pytest.raises(FileNotFoundError, match=rf"'impressionists'.*{re.escape(str(sums))}.*make install"):
        fetch_source({"type": "bundled", "name": "impressionists", "raw_dir": str(tmp_path / "raw")})


def test_bundled_digits_are_exact_rgb_pngs_one_folder_per_class(digits_dir):
    digits = load_digits()
    pngs = sorted(digits_dir.rglob("*.png"))
    assert len(pngs) == 1797
    assert sorted(p.name for p in digits_dir.iterdir() if p.is_dir()) == [str(d) for d in range(10)]
    sample = digits_dir / str(digits.target[5]) / "0005.png"
    with Image.open(sample) as image:
        assert (image.mode, image.size) == ("RGB", (32, 32))
        pixels = np.asarray(image)
    expected = np.rint(digits.images[5] * 255 / 16).astype(np.uint8)
    assert (pixels[::4, ::4, 0] == expected).all() and (pixels[..., 0] == pixels[..., 2]).all()
    assert not [
        p for p in digits_dir.parent.iterdir() if p.name.startswith(".")
    ]  # no temp folders left behind


def test_bundled_digits_are_reused_when_complete(digits_dir):
    before = (digits_dir / "0" / "0000.png").stat().st_mtime_ns
    again = fetch_source({"type": "bundled", "name": "digits", "raw_dir": str(digits_dir.parent)})
    assert again == digits_dir
    assert (digits_dir / "0" / "0000.png").stat().st_mtime_ns == before


def test_bundled_refuses_to_overwrite_a_foreign_folder_and_unknown_names(tmp_path):
    (tmp_path / "digits").mkdir()
    (tmp_path / "digits" / "mine.txt").write_text("x", encoding="utf-8")
    with pytest.raises(FileExistsError, match=rf"{re.escape(str(tmp_path / 'digits'))}\b.*ingest\.source\.name"):
        fetch_source({"type": "bundled", "name": "digits", "raw_dir": str(tmp_path)})
    (tmp_path / "impressionists").mkdir()
    with pytest.raises(FileExistsError, match=rf"{re.escape(str(tmp_path / 'impressionists'))}\b.*ingest\.source\.name"):
        fetch_source({"type": "bundled", "name": "impressionists", "raw_dir": str(tmp_path)})
    with pytest.raises(ValueError, match=r"ingest\.source\.name 'mnist'.*\('impressionists', 'digits'\)"):
        fetch_source({"type": "bundled", "name": "mnist", "raw_dir": str(tmp_path)})


# ---- folder and settings ---------------------------------------------------------------------------------------


def test_folder_source_is_used_in_place_and_missing_folder_names_the_setting(tmp_path):
    assert fetch_source({"type": "folder", "path": str(tmp_path)}) == tmp_path
    with pytest.raises(FileNotFoundError, match="ingest.source.path") as caught:
        fetch_source({"type": "folder", "path": str(tmp_path / "nope")})
    assert "nope" in str(caught.value)
    with pytest.raises(ValueError, match=r"ingest\.source\.path\b.*ingest\.source\.type\b.*'folder'"):
        fetch_source({"type": "folder"})


def test_unknown_type_and_setting_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"ingest\.source\.type\b.*'ftp'"):
        fetch_source({"type": "ftp", "name": "x", "raw_dir": str(tmp_path)})
    with pytest.raises(ValueError, match="ingest.source.sha265"):
        fetch_source({"type": "url", "sha265": "abc"})


# ---- zip / tar -------------------------------------------------------------------------------------------------


def test_zip_is_extracted_once_and_replaced_when_the_archive_changes(tmp_path):
    archive = class_zip(tmp_path / "pets.zip")
    source = {"type": "zip", "name": "pets", "raw_dir": str(tmp_path / "raw"), "path": str(archive)}
    root = fetch_source(source)
    assert relative_files(root) == [
        ".ingest_source.json",
        "pets/cat/a.png",
        "pets/cat/b.png",
        "pets/dog/c.png",
        "pets/dog/d.png",
    ]
    (root / "pets" / "cat" / "a.png").write_bytes(b"edited")  # a re-extraction would restore it
    assert (
        fetch_source(source) == root and (root / "pets" / "cat" / "a.png").read_bytes() == b"edited"
    )
    make_zip(archive, {"other/cow/e.png": png_bytes()})
    assert relative_files(fetch_source(source)) == [".ingest_source.json", "other/cow/e.png"]
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["pets"]


def _symlink_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("ok/a.png", png_bytes())
        link = zipfile.ZipInfo("ok/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(link, "/etc/passwd")
    return path


@pytest.mark.parametrize(
    ("builder", "member"),
    [
        (lambda p: make_zip(p, {"ok/a.png": png_bytes(), "../evil.png": png_bytes()}), "../evil.png"),
        (lambda p: make_zip(p, {"/tmp/evil.png": png_bytes()}), "/tmp/evil.png"),
        (_symlink_zip, "ok/link.png"),
    ],
    ids=["zip-slip", "absolute", "symlink"],
)
def test_unsafe_zip_members_are_refused_naming_the_archive(tmp_path, builder, member):
    archive = builder(tmp_path / "bad.zip")
    target = tmp_path / "raw" / "bad"
    with pytest.raises(UnsafeArchiveError, match=rf"{re.escape(str(archive))}.*'{re.escape(member)}'"):
        fetch_source(
            {"type": "zip", "name": "bad", "raw_dir": str(tmp_path / "raw"), "path": str(archive)}
        )
    assert not target.exists() and not list((tmp_path / "raw").iterdir())  # staging folder removed
    assert not (tmp_path / "evil.png").exists()


def test_tar_gz_is_extracted_and_tar_links_refused(tmp_path):
    good = tmp_path / "pets.tar.gz"
    with tarfile.open(good, "w:gz") as bundle:
        data = png_bytes()
        member = tarfile.TarInfo("pets/cat/a.png")
        member.size = len(data)
        bundle.addfile(member, io.BytesIO(data))
    assert relative_files(extract_archive(good, tmp_path / "out")) == [
        ".ingest_source.json",
        "pets/cat/a.png",
    ]
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as bundle:
        link = tarfile.TarInfo("pets/link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        bundle.addfile(link)
    with pytest.raises(UnsafeArchiveError, match=rf"{re.escape(str(bad))}.*'pets/link\.png'"):
        extract_archive(bad, tmp_path / "out2")


def test_missing_archive_names_the_setting(tmp_path):
    with pytest.raises(FileNotFoundError, match="ingest.source.path"):
        fetch_source(
            {
                "type": "zip",
                "name": "x",
                "raw_dir": str(tmp_path),
                "path": str(tmp_path / "none.zip"),
            }
        )
