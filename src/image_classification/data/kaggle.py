"""Download a Kaggle data set or competition archive with the official ``kaggle`` client.

The client is imported lazily, inside :func:`default_kaggle_api`, because ``import kaggle`` tries to authenticate
straight away and ``KaggleApi.authenticate()`` calls ``exit(1)`` when no credentials exist. Both are turned into a
:class:`KaggleCredentialsError` that says how to provide credentials. Credentials themselves are read by the client
from ``KAGGLE_USERNAME``/``KAGGLE_KEY`` (exported from ``conf/local/credentials.yml`` by the project hook) or
``~/.kaggle/kaggle.json``; this module never reads, logs or prints them.

Tests pass ``api_factory``: a callable returning any object with the client's ``dataset_download_files`` and
``competition_download_files`` methods, which stands in for the network client.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

KINDS = ("kaggle_dataset", "kaggle_competition")
_DATASET_SLUG = re.compile(r"^[\w.-]+/[\w.-]+$")
_COMPETITION_SLUG = re.compile(r"^[\w.-]+$")
_CREDENTIALS_HELP = (
    "Put your Kaggle API credentials in conf/local/credentials.yml as\n"
    "  kaggle:\n    username: <your user name>\n    key: <your API key>\n"
    "or set the environment variables KAGGLE_USERNAME and KAGGLE_KEY (or save kaggle.json in ~/.kaggle). "
    "Create a key at https://www.kaggle.com/settings/api."
)


class KaggleCredentialsError(RuntimeError):
    """The Kaggle client found no usable credentials."""


class KaggleDownloadError(RuntimeError):
    """Kaggle refused or failed the download (unknown slug, rules not accepted, network)."""


def default_kaggle_api() -> Any:
    """Imports the official client and authenticates it, turning every auth failure into a clear error.

    Returns:
        An authenticated ``kaggle.api.kaggle_api_extended.KaggleApi``.

    Raises:
        KaggleCredentialsError: No or unusable credentials.
    """
    # The client prints its own help text on failure and at import; keep it out of our logs, our error says more.
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet):
            from kaggle.api.kaggle_api_extended import KaggleApi  # noqa: PLC0415 - authenticates on import

            api = KaggleApi()
            # The class reads KAGGLE_CONFIG_DIR at import time; honour a value set later (tests, hooks).
            config_dir = os.environ.get("KAGGLE_CONFIG_DIR")
            if config_dir:
                api.config_dir = config_dir
                api.config = os.path.join(config_dir, api.config_file)
            api.authenticate()
    except ImportError as error:
        raise ImportError(
            f"The kaggle client is needed for Kaggle sources: pip install kaggle==2.2.4 ({error})"
        ) from None
    except (SystemExit, Exception) as error:
        # exit(1) without credentials, HTTP errors for rejected keys. The client's own message is not repeated:
        # it may quote configuration values.
        raise KaggleCredentialsError(
            f"Kaggle authentication failed ({type(error).__name__}).\n{_CREDENTIALS_HELP}"
        ) from None
    return api


def download_kaggle_archive(
    kind: str, slug: str, download_dir: str | Path, api_factory: Callable[[], Any] | None = None
) -> Path:
    """Downloads the zip of a Kaggle data set (``owner/name``) or competition (``name``) into ``download_dir``.

    Args:
        kind: ``"kaggle_dataset"`` or ``"kaggle_competition"``.
        slug: ``owner/name`` for a data set, e.g. ``ikarus777/best-artworks-of-all-time``; the competition name for a
            competition, e.g. ``dog-breed-identification``.
        download_dir: Folder for the zip.
        api_factory: Returns an authenticated client; ``None`` uses :func:`default_kaggle_api`.

    Returns:
        Path of the downloaded zip file.

    Raises:
        ValueError: Unknown ``kind`` or malformed ``slug``.
        KaggleCredentialsError: No usable credentials.
        KaggleDownloadError: Kaggle refused the download (e.g. unknown slug, competition rules not accepted).
    """
    _check_slug(kind, slug)
    download_dir = Path(download_dir)
    download_dir.mkdir(parents=True, exist_ok=True)
    before = {p: p.stat().st_mtime for p in download_dir.glob("*.zip")}
    api = (api_factory or default_kaggle_api)()
    logger.info(
        "Downloading %s '%s' from Kaggle into %s", kind.replace("kaggle_", ""), slug, download_dir
    )
    try:
        if kind == "kaggle_dataset":
            api.dataset_download_files(slug, path=str(download_dir), quiet=False, unzip=False)
        else:
            api.competition_download_files(slug, path=str(download_dir), quiet=False)
    except (
        SystemExit,
        Exception,
    ) as error:  # the client may exit() too; never let it end the run silently
        raise _explain(kind, slug, error) from None
    archives = sorted(download_dir.glob("*.zip"), key=lambda p: p.stat().st_mtime, reverse=True)
    fresh = [p for p in archives if before.get(p) != p.stat().st_mtime] or archives
    if not fresh:
        raise KaggleDownloadError(
            f"Kaggle reported success for '{slug}' but no .zip appeared in {download_dir}."
        )
    return fresh[0]


def _check_slug(kind: str, slug: str | None) -> None:
    if kind not in KINDS:
        raise ValueError(f"Unknown Kaggle source type {kind!r}; use one of {KINDS}.")
    pattern, example = (
        (_DATASET_SLUG, "ikarus777/best-artworks-of-all-time")
        if kind == "kaggle_dataset"
        else (_COMPETITION_SLUG, "dog-breed-identification")
    )
    if not slug or not pattern.match(slug):
        raise ValueError(
            f"ingest.source.kaggle_slug {slug!r} is not a valid {kind} slug; expected e.g. '{example}'."
        )


def _explain(kind: str, slug: str, error: Exception) -> Exception:
    """Turns the client's HTTP error into a message naming the slug and the likely fix."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status is None:
        found = re.search(r"\b(401|403|404)\b", str(error))
        status = int(found.group(1)) if found else None
    what = "data set" if kind == "kaggle_dataset" else "competition"
    if status == 404:
        return KaggleDownloadError(
            f"Kaggle has no {what} '{slug}' (HTTP 404). Check ingest.source.kaggle_slug "
            f"(copy it from the {what}'s address on kaggle.com) and ingest.source.type ({kind})."
        )
    if status == 401:
        return KaggleCredentialsError(
            f"Kaggle rejected the credentials (HTTP 401).\n{_CREDENTIALS_HELP}"
        )
    if status == 403 and kind == "kaggle_competition":
        return KaggleDownloadError(
            f"Kaggle refused the competition '{slug}' (HTTP 403): accept its rules first at "
            f"https://www.kaggle.com/competitions/{slug}/rules with the account whose key you use."
        )
    return KaggleDownloadError(
        f"Downloading {what} '{slug}' from Kaggle failed: {type(error).__name__}: {error}. "
        "Check your internet connection and ingest.source.kaggle_slug."
    )
