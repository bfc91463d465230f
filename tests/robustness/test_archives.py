"""Archives that are bombs, damaged, Windows-made, or whose extraction was killed: real archives, small limits."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from image_classification.data.archive_limits import (
    ArchiveLimitError,
    ArchiveLimits,
    CorruptArchiveError,
)
from image_classification.data.archives import UnsafeArchiveError, extract_archive
from image_classification.data.staging import STALE_AFTER_S, owner_tag
from image_classification.pipelines.ingest.nodes import acquire_images, build_manifest
from tests.pipelines.ingest.conftest import make_zip, png_bytes, relative_files

MIB = 1 << 20
ZEROS = bytes(32 * MIB)  # deflates to about 32 KB: a real, highly compressible member


def _zip_source(archive: Path, raw: Path) -> dict:
    return {"type": "zip", "name": "data", "raw_dir": str(raw), "path": str(archive)}


def _deflated_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return path


def _tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as bundle:
        for name, data in members.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            bundle.addfile(member, io.BytesIO(data))
    return path


def _nothing_left(raw: Path) -> bool:
    """No target and no staging folder: a refused archive leaves nothing behind."""
    return not raw.exists() or not list(raw.iterdir())


# ---- zip bombs ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_bomb_member_is_refused_by_the_default_ratio_limit_naming_archive_and_setting(tmp_path, kind):
    members = {"pets/cat/a.png": png_bytes(), "pets/cat/zeros.bmp": ZEROS}
    archive = (_deflated_zip if kind == "zip" else _tar_gz)(tmp_path / f"bomb.{kind}", members)
    assert archive.stat().st_size < MIB  # 32 MiB of zeros inside
    with pytest.raises(ArchiveLimitError) as caught:
        acquire_images(_zip_source(archive, tmp_path / "raw"), {})
    message = str(caught.value)
    assert str(archive) in message and "ingest.archive_limits.max_ratio" in message
    assert "'pets/cat/zeros.bmp'" in message  # the member that went past it
    assert _nothing_left(tmp_path / "raw")


def test_total_size_is_counted_from_bytes_written_and_memory_stays_flat(tmp_path):
    archive = _deflated_zip(tmp_path / "big.zip", {"zeros.bmp": ZEROS})
    limits = ArchiveLimits(max_total_gb=4 * MIB / (1 << 30), max_ratio=1e6)  # 4 MiB; the largest ratio allowed
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveLimitError, match=r"ingest\.archive_limits\.max_total_gb\b") as caught:
            extract_archive(archive, tmp_path / "raw" / "big", limits=limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(archive) in str(caught.value) and "'zeros.bmp'" in str(caught.value)
    assert peak < 8 * MIB  # streamed in chunks: the 32 MiB member is never held whole
    assert _nothing_left(tmp_path / "raw")


def test_too_many_members_are_refused_before_anything_is_written(tmp_path):
    archive = make_zip(tmp_path / "many.zip", {f"pets/cat/{i}.png": png_bytes() for i in range(5)})
    with pytest.raises(ArchiveLimitError, match=rf"{re.escape(str(archive))}.*ingest\.archive_limits\.max_members = 3\b"):
        acquire_images(_zip_source(archive, tmp_path / "raw"), {"max_members": 3})
    assert _nothing_left(tmp_path / "raw")
    assert relative_files(Path(acquire_images(_zip_source(archive, tmp_path / "raw"), {"max_members": 5}))) == [
        ".ingest_source.json", *(f"pets/cat/{i}.png" for i in range(5))
    ]


def test_bad_archive_limits_are_named_with_a_did_you_mean(tmp_path):
    archive = make_zip(tmp_path / "ok.zip", {"pets/cat/a.png": png_bytes()})
    with pytest.raises(ValueError, match=r"ingest\.archive_limits\.max_total = 1\b.*'max_total_gb'"):
        acquire_images(_zip_source(archive, tmp_path / "raw"), {"max_total": 1})
    with pytest.raises(ValueError, match=r"ingest\.archive_limits\.max_ratio = 0\.0\b"):
        acquire_images(_zip_source(archive, tmp_path / "raw"), {"max_ratio": 0})


# ---- corrupt archives --------------------------------------------------------------------------------------------


def _corrupt_deflate_zip(path: Path) -> Path:
    _deflated_zip(path, {"pets/cat/a.png": png_bytes(), "pets/dog/b.bmp": bytes(range(256)) * 400})
    with zipfile.ZipFile(path) as bundle:
        info = bundle.getinfo("pets/dog/b.bmp")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)  # the compressed data
    data[start : start + 8] = b"\xff" * 8  # a deflate block of the reserved type 3: zlib "Error -3"
    path.write_bytes(bytes(data))
    return path


def _truncated_tar_gz(path: Path) -> Path:
    _tar_gz(path, {"pets/cat/a.png": png_bytes(), "pets/dog/b.bmp": os.urandom(256 * 1024)})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # "Compressed file ended before ..."
    return path


@pytest.mark.parametrize(
    ("builder", "cause"), [(_corrupt_deflate_zip, zlib.error), (_truncated_tar_gz, EOFError)],
    ids=["corrupt-deflate-zip", "truncated-tar-gz"],
)
def test_a_damaged_archive_names_archive_member_and_cause(tmp_path, builder, cause):
    archive = builder(tmp_path / ("bad.zip" if builder is _corrupt_deflate_zip else "bad.tar.gz"))
    with pytest.raises(CorruptArchiveError) as caught:
        acquire_images(_zip_source(archive, tmp_path / "raw"), {})
    message = str(caught.value)
    assert str(archive) in message and "'pets/dog/b.bmp'" in message
    assert isinstance(caught.value.__cause__, cause)  # zlib "Error -3", gzip "Compressed file ended ..."
    assert _nothing_left(tmp_path / "raw")  # the staging folder is removed


def test_a_file_that_is_no_archive_at_all_is_named(tmp_path):
    archive = tmp_path / "page.tar.gz"
    archive.write_text("<html>Not found</html>", encoding="utf-8")  # what a wrong URL often downloads
    with pytest.raises(CorruptArchiveError, match=re.escape(str(archive))) as caught:
        extract_archive(archive, tmp_path / "raw" / "page")
    assert isinstance(caught.value.__cause__, tarfile.ReadError)  # the archive itself, not a member, is unreadable
    assert _nothing_left(tmp_path / "raw")


# ---- a killed extraction -----------------------------------------------------------------------------------------

_KILLED = """
import os, signal, sys
from pathlib import Path
from image_classification.data.staging import atomic_folder
with atomic_folder(Path(sys.argv[1])) as staging:
    (staging / "half.bmp").write_bytes(bytes(1000))
    os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer or a second Ctrl-C would
"""


def _kill_during_extraction(raw: Path, project_root: Path) -> Path:
    """Runs a real extraction into ``raw/data`` in another process, SIGKILLed half way; returns its staging folder."""
    before = set(raw.iterdir()) if raw.exists() else set()
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED, str(raw / "data")],
        env={"PYTHONPATH": str(project_root / "src"), "PATH": ""}, timeout=60, check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    [left] = set(raw.iterdir()) - before
    assert left.name.startswith(".data.staging-") and (left / "half.bmp").exists()
    return left


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and pid checks are POSIX")
def test_staging_left_by_a_killed_extraction_is_removed_by_the_next_run(tmp_path, project_root):
    raw = tmp_path / "raw"
    _kill_during_extraction(raw, project_root)
    in_use = raw / f".other.staging-{owner_tag()}-abc123"  # this very process: alive
    old_format_recent = raw / ".other.staging-k2j4h5g6"  # no pid, recent: could be in use elsewhere
    old_format_stale = raw / ".other.staging-a1b2c3d4"
    not_ours = raw / ".cache"
    for folder in (in_use, old_format_recent, old_format_stale, not_ours):
        folder.mkdir()
    long_ago = time.time() - STALE_AFTER_S - 60
    os.utime(old_format_stale, (long_ago, long_ago))
    archive = make_zip(tmp_path / "pets.zip", {"pets/cat/a.png": png_bytes()})
    kept = sorted(["data", in_use.name, old_format_recent.name, not_ours.name])

    root = acquire_images(_zip_source(archive, raw), {})  # extracts
    assert relative_files(Path(root)) == [".ingest_source.json", "pets/cat/a.png"]
    assert sorted(p.name for p in raw.iterdir()) == kept

    _kill_during_extraction(raw, project_root)  # e.g. re-extracting a changed archive, then put back
    assert acquire_images(_zip_source(archive, raw), {}) == root  # reuses the folder, and still cleans up
    assert sorted(p.name for p in raw.iterdir()) == kept


# ---- Windows paths -----------------------------------------------------------------------------------------------


def test_windows_backslash_paths_become_folders_and_labels(tmp_path):
    archive = make_zip(
        tmp_path / "win.zip",
        {"train\\cat\\0.png": png_bytes((250, 0, 0)), "train\\dog\\1.png": png_bytes((0, 0, 250))},
    )
    root = acquire_images(_zip_source(archive, tmp_path / "raw"), {})
    assert relative_files(Path(root)) == [".ingest_source.json", "train/cat/0.png", "train/dog/1.png"]
    manifest, report = build_manifest(root, {"from": "folder"}, {})
    assert sorted(manifest["label"]) == ["cat", "dog"] and report.empty


@pytest.mark.parametrize(
    "member", ["train\\..\\..\\evil.png", "C:\\Windows\\evil.png"], ids=["backslash-dotdot", "drive-letter"]
)
def test_windows_paths_that_escape_are_still_refused(tmp_path, member):
    archive = make_zip(tmp_path / "win.zip", {"ok\\a.png": png_bytes(), member: png_bytes()})
    with pytest.raises(UnsafeArchiveError, match=rf"{re.escape(str(archive))}.*{re.escape(repr(member))}"):
        extract_archive(archive, tmp_path / "raw" / "win")
    assert _nothing_left(tmp_path / "raw") and not (tmp_path / "evil.png").exists()
