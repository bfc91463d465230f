"""Safe, atomic, idempotent extraction of ``.zip`` and ``.tar(.gz)`` archives.

Every member is checked before anything is written: a member whose path is absolute, climbs out with ``..``
("zip slip") or is a link is refused, naming the archive and the member. Extraction goes to a temporary folder next
to the target that is renamed into place only when complete, and a marker file records the archive's sha256 so a
second run with the same archive does nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import stat
import tarfile
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

logger = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
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


def extract_archive(archive: str | Path, target: str | Path, origin: str | None = None) -> Path:
    """Extracts ``archive`` into ``target`` unless ``target`` already holds this very archive's content.

    Args:
        archive: A ``.zip``, ``.tar``, ``.tar.gz`` or ``.tgz`` file.
        target: Folder to create (replaced atomically when it holds another archive's content).
        origin: Where the archive came from (path, URL, Kaggle slug); stored in the marker for humans.

    Returns:
        ``target`` as a ``Path``.

    Raises:
        FileNotFoundError: ``archive`` does not exist.
        UnsafeArchiveError: A member is absolute, escapes with ``..``, or is a link.
        ValueError: The file is not a readable archive of a supported kind.
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise FileNotFoundError(f"Archive not found: {archive}")
    checksum = file_sha256(archive)
    if read_marker(target).get("sha256") == checksum:
        logger.info("Reusing %s (already extracted from %s)", target, archive.name)
        return target
    with atomic_folder(target) as staging:
        _extract_checked(archive, staging)
        write_marker(staging, origin=origin or str(archive), archive=archive.name, sha256=checksum)
    logger.info("Extracted %s into %s", archive.name, target)
    return target


@contextlib.contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yields an empty staging folder beside ``target`` that becomes ``target`` only if the block succeeds.

    An existing ``target`` is swapped out and deleted after the new one is in place; on any error the staging
    folder is removed and ``target`` is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a data set should be readable like any folder
    try:
        yield staging
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:12]}")
        if target.exists():
            target.rename(old)
        try:
            staging.rename(target)
        except OSError:
            if old.exists():
                old.rename(target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _extract_checked(archive: Path, destination: Path) -> None:
    name = archive.name.lower()
    if name.endswith(".zip"):
        try:
            with zipfile.ZipFile(archive) as bundle:
                for member in bundle.infolist():
                    _check_member(archive, member.filename, is_link=_zip_member_is_link(member))
                bundle.extractall(destination)
        except zipfile.BadZipFile as error:
            raise ValueError(
                f"{archive} is not a valid zip file ({error}); delete it and download it again."
            ) from error
        return
    if name.endswith((".tar", ".tar.gz", ".tgz")):
        try:
            with tarfile.open(archive) as bundle:
                for member in bundle.getmembers():
                    _check_member(archive, member.name, is_link=member.issym() or member.islnk())
                    if not (member.isfile() or member.isdir()):
                        raise UnsafeArchiveError(
                            f"Archive {archive} member {member.name!r} is a special file; refused."
                        )
                bundle.extractall(destination, filter="data")
        except tarfile.TarError as error:
            raise ValueError(
                f"{archive} is not a valid tar archive ({error}); delete it and download again."
            ) from error
        return
    raise ValueError(f"{archive}: unsupported archive type; use one of {ARCHIVE_SUFFIXES}.")


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


def _zip_member_is_link(member: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(member.external_attr >> 16)
