"""Limits that keep an archive from filling the disk (zip bombs), and the streaming copy that enforces them.

Sizes written in archive headers can lie, so none is trusted: each member is copied to disk in chunks and the bytes
actually written are counted against ``ingest.archive_limits``, so a refused archive has written at most one chunk
past a limit (into a staging folder that is then removed). Errors raised while *reading* a member become a
:class:`CorruptArchiveError` naming the archive and the member; errors while *writing* (a full disk) stay as they are.
"""

from __future__ import annotations

import contextlib
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, ClassVar

from image_classification.config import StrictSettings

GIB = 1 << 30
CHUNK_BYTES = 1 << 20
#: Compression ratios are checked only past this many bytes: a few kilobytes of text can compress 100x harmlessly.
RATIO_FLOOR_BYTES = 1 << 20
#: Errors that reading a damaged or truncated archive raises (zlib "Error -3", gzip "Compressed file ended ...",
#: bad CRC, tar "unexpected end of data"); OSError covers bz2/gzip stream errors and unreadable disks.
READ_ERRORS = (zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError, EOFError, OSError)


class ArchiveLimits(StrictSettings):
    """``ingest.archive_limits``: how much an archive may unpack to before it is refused as a possible zip bomb.

    Attributes:
        max_total_gb: Most GiB written by one archive, all members together (counted while writing).
        max_members: Most entries (files and folders) one archive may hold.
        max_ratio: Most bytes written per byte of archive, for the whole archive and for each zip member. Photos barely
            compress (JPEG, PNG about 1x, BMP and TIFF rarely above 20x); zeros compress about 1000x with deflate.
    """

    max_total_gb: float = 50.0
    max_members: int = 2_000_000
    max_ratio: float = 200.0

    WHAT: ClassVar[str] = "archive limit"

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        return [
            ("max_total_gb", self.max_total_gb > 0, "a positive number of GiB"),
            ("max_members", self.max_members >= 1, "at least 1"),
            ("max_ratio", self.max_ratio >= 1, "at least 1"),
            ("max_total_gb", self.max_total_gb <= 100_000, "at most 100,000 GiB"),
            ("max_members", self.max_members <= 1_000_000_000, "at most 1,000,000,000"),
            ("max_ratio", self.max_ratio <= 1_000_000, "at most 1,000,000"),
        ]


class ArchiveLimitError(ValueError):
    """An archive would unpack to more than ``ingest.archive_limits`` allows."""


class CorruptArchiveError(ValueError):
    """An archive, or one of its members, cannot be read: damaged, truncated, or not an archive at all."""

    def __init__(self, archive: Path, where: str | None, error: BaseException) -> None:
        what = f"{where} cannot be read" if where else "it cannot be opened as an archive"
        module = type(error).__module__
        kind = type(error).__name__ if module == "builtins" else f"{module}.{type(error).__name__}"  # zlib.error
        super().__init__(
            f"Archive {archive} is damaged or incomplete: {what} ({kind}: {error}). Nothing was "
            f"extracted. Delete {archive} and download it again (a url or kaggle source downloads it again on the "
            "next run); if you made the archive yourself, create it again."
        )


@contextlib.contextmanager
def reading(archive: Path, where: str | None) -> Iterator[None]:
    """Turns an error raised while reading ``where`` (``"member 'x'"``; None: the archive itself) into a clear one."""
    try:
        yield
    except (RuntimeError, NotImplementedError) as error:  # zipfile: encrypted member, unsupported compression
        raise ValueError(
            f"Archive {archive}: {where or 'it'} cannot be extracted by Python's zipfile ({error}). Extract the "
            "archive with another tool and use ingest.source.type: folder with ingest.source.path set to the folder."
        ) from error
    except READ_ERRORS as error:
        raise CorruptArchiveError(archive, where, error) from error


class ExtractionBudget:
    """Counts what one archive has written so far and refuses it, naming the limit, when it goes past one."""

    def __init__(self, archive: Path, limits: ArchiveLimits) -> None:
        self.archive = archive
        self.limits = limits
        self.archive_bytes = max(archive.stat().st_size, 1)
        self.written = 0

    def count_members(self, count: int, member: str) -> None:
        """Refuses the archive once it has more than ``max_members`` entries (``member`` is the last one seen)."""
        if count > self.limits.max_members:
            self._refuse("max_members", f"it holds more than {self.limits.max_members:,} members (at {member!r})")

    def copy(self, source: BinaryIO, destination: BinaryIO, member: str, compressed_bytes: int | None = None) -> int:
        """Copies one member in chunks, checking every limit after each chunk.

        Args:
            source: The member's stream, opened from the archive.
            destination: The file to write.
            member: The member's name in the archive, for messages.
            compressed_bytes: The member's compressed size when the format has one (zip), for its own ratio.

        Returns:
            The bytes written.
        """
        written = 0
        while True:
            with reading(self.archive, f"member {member!r}"):
                chunk = source.read(CHUNK_BYTES)
            if not chunk:
                return written
            destination.write(chunk)
            written += len(chunk)
            self.written += len(chunk)
            self._check(member, written, compressed_bytes)

    def _check(self, member: str, member_bytes: int, compressed_bytes: int | None) -> None:
        limits = self.limits
        if self.written > limits.max_total_gb * GIB:
            self._refuse("max_total_gb", f"it unpacks to more than {limits.max_total_gb:g} GiB (at {member!r})")
        if self.written > RATIO_FLOOR_BYTES and self.written / self.archive_bytes > limits.max_ratio:
            ratio = self.written / self.archive_bytes
            self._refuse("max_ratio", f"it unpacks to over {ratio:.0f}x its size (at {member!r})")
        if compressed_bytes is not None and member_bytes > RATIO_FLOOR_BYTES:
            ratio = member_bytes / max(compressed_bytes, 1)
            if ratio > limits.max_ratio:
                self._refuse("max_ratio", f"member {member!r} unpacks to over {ratio:.0f}x its compressed size")

    def _refuse(self, key: str, what: str) -> None:
        limit = getattr(self.limits, key)
        raise ArchiveLimitError(
            f"Archive {self.archive} was refused: {what}, beyond ingest.archive_limits.{key} = {limit}. It may be "
            f"a zip bomb; nothing was extracted. If you trust it, raise ingest.archive_limits.{key}."
        )
