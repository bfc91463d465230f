"""Resumable file download over HTTP(S) or ``file://`` with a progress bar and an optional sha256 check.

Bytes go to ``<dest>.part``; an interrupted download resumes from the end of that file with an HTTP ``Range``
request (a server that ignores ranges simply sends everything again); ``<dest>.part.url`` records the URL, and a
``.part`` from any other (or unknown) URL is discarded rather than resumed. Only a complete file whose checksum matches is
renamed to ``dest``, so ``dest`` existing means "downloaded and checked".
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from image_classification.data.archives import file_sha256

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(RuntimeError):
    """A download failed for a reason worth telling the user (unreachable, HTTP error, incomplete)."""


class ChecksumMismatchError(DownloadError):
    """The downloaded bytes do not have the expected sha256."""

    def __init__(self, url: str, expected: str, actual: str, kept: Path) -> None:
        self.url, self.expected, self.actual, self.kept = url, expected, actual, kept
        super().__init__(
            f"sha256 mismatch for {url}: expected {expected}, got {actual}. The file was kept aside as {kept} "
            "for inspection. Check ingest.source.sha256 (or remove it to skip the check) and run again."
        )


def download(
    url: str, dest: str | Path, sha256: str | None = None, retries: int = 3, timeout: float = 60.0
) -> Path:
    """Downloads ``url`` to ``dest``, resuming a previous partial download, and checks its sha256.

    Args:
        url: ``http(s)://`` or ``file://`` address.
        dest: Final file path. If it already exists (and matches ``sha256`` when given) nothing is downloaded.
        sha256: Expected hex digest, or ``None``/empty to skip the check.
        retries: Extra attempts after a connection drops mid-download; each resumes where the last stopped.
        timeout: Seconds to wait for the server on each socket operation.

    Returns:
        ``dest`` as a ``Path``.

    Raises:
        DownloadError: Unreachable URL, HTTP error, or still incomplete after all retries.
        ChecksumMismatchError: The complete file has the wrong sha256 (kept aside, never renamed to ``dest``).
    """
    dest = Path(dest)
    expected = (sha256 or "").strip().lower() or None
    if dest.is_file():
        if expected is None or file_sha256(dest) == expected:
            logger.info("Reusing downloaded %s", dest)
            return dest
        logger.warning("%s does not match ingest.source.sha256; downloading it again", dest)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    origin = part.with_name(part.name + ".url")  # which URL the .part holds, so a resume never mixes two files
    if part.exists() and (not origin.is_file() or origin.read_text() != url):
        logger.warning("Discarding %s: it was not downloaded from %s; starting over", part, url)
        part.unlink()
    origin.write_text(url)
    for attempt in range(retries + 1):
        try:
            _fetch_into(url, part, timeout)
            break
        except (http.client.IncompleteRead, ConnectionError, TimeoutError) as error:
            have = part.stat().st_size if part.exists() else 0
            if attempt == retries:
                raise DownloadError(
                    f"Download of {url} interrupted after {have:,} bytes ({error!r}); run again to resume from {part}."
                ) from error
            logger.warning(
                "Download of %s interrupted at %s bytes (%r); resuming", url, f"{have:,}", error
            )
    if expected is not None:
        actual = file_sha256(part)
        if actual != expected:
            kept = part.with_name(dest.name + ".sha256-mismatch")
            os.replace(part, kept)
            origin.unlink()
            raise ChecksumMismatchError(url, expected, actual, kept)
    os.replace(part, dest)
    origin.unlink()
    logger.info("Downloaded %s (%s bytes) to %s", url, f"{dest.stat().st_size:,}", dest)
    return dest


def _fetch_into(url: str, part: Path, timeout: float) -> None:
    """Appends the missing bytes of ``url`` to ``part`` (or rewrites it when the server does not resume)."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme is the user's choice
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            # Range not satisfiable: the part file is complete or stale; start over to be sure.
            part.unlink()
            return _fetch_into(url, part, timeout)
        raise DownloadError(
            f"Cannot download {url}: HTTP {error.code} {error.reason}. Check ingest.source.url."
        ) from error
    except urllib.error.URLError as error:
        raise DownloadError(
            f"Cannot reach {url}: {error.reason}. Check ingest.source.url and your internet connection."
        ) from error
    with response:
        resumed = offset and getattr(response, "status", None) == 206
        total = _expected_total(response, offset if resumed else 0)
        if not resumed:
            offset = 0
        with (
            open(part, "ab" if resumed else "wb") as sink,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name[:-5],
                leave=False,
            ) as bar,
        ):
            while chunk := response.read(_CHUNK):
                sink.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size != total:
        raise http.client.IncompleteRead(b"", total - size)


def _expected_total(response, offset: int) -> int | None:
    """Full size of the remote file, from ``Content-Range`` (resumed) or ``Content-Length`` (full response)."""
    content_range = response.headers.get("Content-Range")
    match = _CONTENT_RANGE.match(content_range or "")
    if match and match.group(3) != "*":
        return int(match.group(3))
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None
