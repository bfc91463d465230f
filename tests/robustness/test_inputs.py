"""Bad input the ingest tests do not cover on their own: a real 30000x30000 image, a duplicate across train and
test folders, and downloads that stop half way."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from image_classification.data.downloads import DownloadError, download
from image_classification.data.sources import fetch_source
from image_classification.pipelines.ingest.nodes import build_manifest
from image_classification.pipelines.split.nodes import split_dataset
from tests.pipelines.ingest.conftest import class_zip, relative_files, write_image

BOMB_SIDE = 30_000


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_blank_bilevel_png(path: Path, side: int) -> Path:
    """A complete, valid black 1-bit PNG of side x side pixels, compressed row block by row block.

    Pillow would hold the whole image in memory (one byte per pixel: 900 MB at 30000 px) to write it; streaming
    zlib keeps this at a few MB and a 30000 px file at about 110 kB.
    """
    row = b"\0" * (1 + (side + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    blocks, rest = divmod(side, 1000)
    data = [compressor.compress(row * 1000) for _ in range(blocks)]
    data += [compressor.compress(row * rest), compressor.flush()]
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # bit depth 1, grayscale
    chunks = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(data)) + _png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    path = write_blank_bilevel_png(tmp_path_factory.mktemp("bomb") / "bomb.png", BOMB_SIDE)
    assert path.stat().st_size < 200_000  # cheap on disk
    return path


def test_the_bomb_writer_makes_real_pngs_pillow_decodes(tmp_path):
    path = write_blank_bilevel_png(tmp_path / "small.png", 2_500)  # same code path, small enough to decode
    with Image.open(path) as image:
        image.load()
        assert image.size == (2_500, 2_500) and image.mode == "1" and image.getextrema() == (0, 0)


_INSPECT = """
import json, resource, sys
from PIL import Image
from image_classification.data.images import UnreadableImageError, inspect_image, load_rgb
if sys.argv[2] == "pillow-limit-off":
    Image.MAX_IMAGE_PIXELS = None  # as some libraries do globally: the project's own max_pixels must still hold
info, problems = inspect_image(sys.argv[1])
try:
    load_rgb(sys.argv[1])
    loaded = "loaded"
except UnreadableImageError as error:
    loaded = error.reason
try:  # this process's own peak: ru_maxrss would include the parent's, carried over by fork + exec
    status = open("/proc/self/status").read()
    peak_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
except OSError:
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"info": info is None, "problems": [[p.problem, p.action] for p in problems],
                  "load": loaded, "peak_mb": peak_mb}))
"""


@pytest.mark.parametrize("pillow_limit", ["pillow-limit-on", "pillow-limit-off"])
def test_a_real_30000x30000_image_is_skipped_without_being_decoded(bomb, pillow_limit, project_root):
    # A fresh process, so its peak memory shows whether the 900-megapixel image was ever decoded.
    result = subprocess.run(
        [sys.executable, "-c", _INSPECT, str(bomb), pillow_limit],
        capture_output=True, text=True, timeout=60, check=True,
        env={"PYTHONPATH": str(project_root / "src"), "PATH": ""},
    )
    outcome = json.loads(result.stdout)
    [[problem, action]] = outcome["problems"]
    assert outcome["info"] and action == "skipped" and problem.startswith("decompression bomb")
    assert outcome["load"].startswith("decompression bomb")
    if pillow_limit == "pillow-limit-off":
        assert "30000x30000 = 900,000,000 pixels exceeds max_pixels=89,478,485" in problem
    assert outcome["peak_mb"] < 300  # decoding would need 900 MB


def test_build_manifest_reports_the_bomb_and_keeps_the_other_images(bomb, tmp_path):
    root = tmp_path / "images"
    for index in range(2):
        write_image(root / "cat" / f"{index}.png", color=(200, index, 0))
        write_image(root / "dog" / f"{index}.png", color=(0, index, 200))
    shutil.copy(bomb, root / "dog" / "huge.png")
    manifest, report = build_manifest(str(root), {"from": "folder"}, {})  # the default max_pixels
    assert len(manifest) == 4 and not manifest["path"].str.endswith("huge.png").any()
    [row] = report[report["file"].str.endswith("huge.png")].to_dict("records")
    assert row["problem"].startswith("decompression bomb") and row["action"] == "skipped"


def test_a_duplicate_across_train_and_test_folders_is_kept_on_one_side_only(tmp_path):
    # Kaggle-style layout: train/<class>/ and test/<class>/, with the same photo in both.
    root = tmp_path / "images"
    for label, red in (("cat", 250), ("dog", 10)):
        for index in range(5):
            write_image(root / "train" / label / f"{index}.png", color=(red, 20 * index, 90))
    for label in ("cat", "dog"):
        (root / "test" / label).mkdir(parents=True)
    shutil.copy(root / "train" / "cat" / "0.png", root / "test" / "cat" / "same_photo.png")
    shutil.copy(root / "train" / "dog" / "3.png", root / "test" / "dog" / "3.png")
    manifest, report = build_manifest(str(root), {"from": "folder"}, {})
    assert len(manifest) == 10 and manifest["sha256"].is_unique
    duplicates = report[report["problem"].str.startswith("exact duplicate of")]
    assert len(duplicates) == 2 and set(duplicates["action"]) == {"skipped"}
    for kept_path in manifest["path"]:
        assert not any(duplicates["file"] == kept_path)
    splits, _ = split_dataset(manifest, {"test_fraction": 0.2, "val_fraction": 0.25, "seed": 0})
    assert splits.groupby("sha256")["split"].nunique().max() == 1  # no image in two splits: no leakage


def test_an_interrupted_download_is_never_taken_as_complete_and_the_next_run_resumes(tmp_path, file_server):
    data = class_zip(tmp_path / "pets.zip").read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    half = len(data) // 2
    file_server.files["pets.zip"] = data
    file_server.cut_next_after["pets.zip"] = half
    raw = tmp_path / "raw"
    dest = raw / "downloads" / "pets.zip"
    part = dest.with_name("pets.zip.part")  # named in the error: the next run resumes from it
    with pytest.raises(DownloadError, match=rf"\b{half:,}\b.*{re.escape(str(part))}"):
        download(file_server.url("pets.zip"), dest, sha256=sha256, retries=0)
    assert not dest.exists() and part.stat().st_size == half  # only the .part, never the final name
    source = {"type": "url", "name": "pets", "raw_dir": str(raw), "url": file_server.url("pets.zip"), "sha256": sha256}
    root = fetch_source(source)  # the next run
    assert file_server.requests[-1] == ("pets.zip", f"bytes={half}-")
    assert dest.read_bytes() == data and not part.exists()
    assert "pets/cat/a.png" in relative_files(root)


def test_a_stale_part_file_is_restarted_cleanly(tmp_path, file_server):
    data = bytes(range(256)) * 100
    file_server.files["blob.zip"] = data
    dest = tmp_path / "blob.zip"
    # Left by a download of the same URL, but longer than the file now is (it changed on the server): not a prefix.
    dest.with_name("blob.zip.part").write_bytes(b"x" * (len(data) + 10))
    dest.with_name("blob.zip.part.url").write_text(file_server.url("blob.zip"))
    download(file_server.url("blob.zip"), dest, sha256=hashlib.sha256(data).hexdigest())
    assert dest.read_bytes() == data and not dest.with_name("blob.zip.part").exists()
    assert file_server.requests == [("blob.zip", f"bytes={len(data) + 10}-"), ("blob.zip", None)]


def test_a_huge_image_file_is_skipped_without_being_read(tmp_path):
    """A 1 GiB file named .png (sparse: no disk used) is refused from its size, before any byte is read."""
    from image_classification.data.images import MAX_FILE_BYTES, inspect_image

    huge = tmp_path / "huge.png"
    with huge.open("wb") as stream:
        stream.truncate(2 * MAX_FILE_BYTES)

    info, problems = inspect_image(huge)

    assert info is None
    assert problems[0].problem.startswith("file too large: 1,024 MiB, above 512 MiB")
