"""Safe, atomic, idempotent extraction of ``.zip`` and ``.tar(.gz)`` archives.

Every member is checked before it is written: a member whose path is absolute, climbs out with ``..`` ("zip slip")
or is a link is refused, naming the archive and the member. Windows paths (``train\\cat\\0.bmp``) are read with ``\\``
as a separator, checked after that. Members are streamed to disk in chunks, counting the bytes actually written
against ``ingest.archive_limits`` (see :mod:`image_classification.data.archive_limits`), and a damaged or truncated
archive fails naming the archive and the member. Extraction goes to a staging folder next to the target that is
renamed into place only when complete (see :mod:`image_classification.data.staging`), and a marker file records the
archive's sha256 so a second run with the same archive does nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from image_classification.data.archive_limits import (
    ArchiveLimits,
    CorruptArchiveError,
    ExtractionBudget,
    reading,
)
from image_classification.data.files import require_regular_file, special_kind
from image_classification.data.staging import atomic_folder

__all__ = [
    "ARCHIVE_SUFFIXES",
    "MARKER_NAME",
    "ArchiveLimits",
    "CorruptArchiveError",
    "UnsafeArchiveError",
    "atomic_folder",
    "extract_archive",
    "file_sha256",
    "is_archive",
    "read_marker",
    "write_marker",
]

logger = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
#: Hidden, so image listing skips it; records where the folder's content came from.
MARKER_NAME = ".ingest_source.json"


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder, or is a link."""


def is_archive(path: str | Path) -> bool:
    """Whether ``path`` has a supported archive suffix (``.zip``, ``.tar.gz``, ``.tgz``, ``.tar``)."""
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_marker(folder: Path) -> dict:
    """The provenance marker of a folder written by :func:`write_marker`, or ``{}``."""
    try:
        return json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_marker(folder: Path, **provenance: str) -> None:
    """Records where ``folder``'s content came from (origin, sha256, ...)."""
    (folder / MARKER_NAME).write_text(json.dumps(provenance, indent=2), encoding="utf-8")


def extract_archive(
    archive: str | Path, target: str | Path, origin: str | None = None, limits: ArchiveLimits | None = None
) -> Path:
    """Extracts ``archive`` into ``target`` unless ``target`` already holds this very archive's content.

    Args:
        archive: A ``.zip``, ``.tar``, ``.tar.gz`` or ``.tgz`` file.
        target: Folder to create (replaced atomically when it holds another archive's content).
        origin: Where the archive came from (path, URL, Kaggle slug); stored in the marker for humans.
        limits: The ``ingest.archive_limits``; None for the defaults.

    Returns:
        ``target`` as a ``Path``.

    Raises:
        FileNotFoundError: ``archive`` does not exist.
        UnsafeArchiveError: A member is absolute, escapes with ``..``, or is a link.
        ArchiveLimitError: The archive unpacks to more than ``limits`` allow.
        CorruptArchiveError: The archive or a member cannot be read (damaged, truncated, not an archive).
        ValueError: The file is not of a supported kind.
    """
    archive, target = Path(archive), Path(target)
    if special_kind(archive) == "missing":
        raise FileNotFoundError(f"Archive not found: {archive}")
    require_regular_file(archive)  # a FIFO would block the checksum read for ever
    checksum = file_sha256(archive)
    if read_marker(target).get("sha256") == checksum:
        logger.info("Reusing %s (already extracted from %s)", target, archive.name)
        return target
    budget = ExtractionBudget(archive, limits or ArchiveLimits())
    with atomic_folder(target) as staging:
        name = archive.name.lower()
        if name.endswith(".zip"):
            _extract_zip(archive, staging, budget)
        elif name.endswith(_TAR_SUFFIXES):
            _extract_tar(archive, staging, budget)
        else:
            raise ValueError(f"{archive}: unsupported archive type; use one of {ARCHIVE_SUFFIXES}.")
        write_marker(staging, origin=origin or str(archive), archive=archive.name, sha256=checksum)
    logger.info("Extracted %s into %s (%.1f MB)", archive.name, target, budget.written / 1e6)
    return target


def _extract_zip(archive: Path, destination: Path, budget: ExtractionBudget) -> None:
    with reading(archive, None):
        bundle = zipfile.ZipFile(archive)
    with bundle:
        members = bundle.infolist()
        if members:
            budget.count_members(len(members), members[-1].filename)
        planned = [(info, _member_path(archive, info.filename, _zip_member_is_link(info))) for info in members]
        for info, relative in planned:  # every member checked above, before anything is written
            if relative is None:
                continue
            path = destination / relative
            if info.filename.replace("\\", "/").endswith("/"):
                path.mkdir(parents=True, exist_ok=True)
                continue
            kind = _zip_special_kind(info)
            if kind:
                _skip_special(archive, info.filename, kind)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with reading(archive, f"member {info.filename!r}"):
                source = bundle.open(info)
            with source, open(path, "wb") as written:
                budget.copy(source, written, info.filename, compressed_bytes=info.compress_size)


def _extract_tar(archive: Path, destination: Path, budget: ExtractionBudget) -> None:
    """Streams a tar member by member: a ``.tar.gz`` is read once, never decompressed whole to list it first."""
    with reading(archive, None):
        bundle = tarfile.open(archive)
    with bundle:
        members, count, last = iter(bundle), 0, None
        while True:
            with reading(archive, f"the member after {last!r}" if last else "its first member"):
                member = next(members, None)
            if member is None:
                return
            count, last = count + 1, member.name
            budget.count_members(count, member.name)
            relative = _member_path(archive, member.name, is_link=member.issym() or member.islnk())
            if not (member.isfile() or member.isdir()):  # FIFO, device: never created, so never opened later
                _skip_special(archive, member.name, _TAR_KINDS.get(member.type, "a special file"))
                continue
            if relative is None:
                continue
            path = destination / relative
            if member.isdir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with reading(archive, f"member {member.name!r}"):
                source = bundle.extractfile(member)
            with source, open(path, "wb") as written:
                budget.copy(source, written, member.name)


def _member_path(archive: Path, member: str, is_link: bool) -> PurePosixPath | None:
    """The member's path relative to the extraction folder (``\\`` read as ``/``); None for the folder itself."""
    _check_member(archive, member, is_link)
    relative = PurePosixPath(member.replace("\\", "/"))
    return relative if relative.parts else None


def _check_member(archive: Path, member: str, is_link: bool) -> None:
    """Refuses members that would land outside the extraction folder, or links that could point anywhere."""
    normalised = member.replace("\\", "/")
    path = PurePosixPath(normalised)
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise UnsafeArchiveError(
            f"Archive {archive} has a member with an absolute path: {member!r}; refused."
        )
    if ".." in path.parts:
        raise UnsafeArchiveError(
            f"Archive {archive} has a member that escapes the target folder: {member!r}; refused."
        )
    if is_link:
        raise UnsafeArchiveError(
            f"Archive {archive} has a symbolic or hard link member: {member!r}; refused."
        )


_TAR_KINDS = {tarfile.FIFOTYPE: "a FIFO (named pipe)", tarfile.CHRTYPE: "a character device",
              tarfile.BLKTYPE: "a block device"}  # fmt: skip
_ZIP_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
              (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))  # fmt: skip


def _zip_special_kind(member: zipfile.ZipInfo) -> str | None:
    mode = member.external_attr >> 16
    return next((kind for test, kind in _ZIP_KINDS if mode and test(mode)), None)


def _skip_special(archive: Path, member: str, kind: str) -> None:
    logger.warning("Archive %s: member %r is %s, not a regular file: skipped.", archive, member, kind)


def _zip_member_is_link(member: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(member.external_attr >> 16)
