"""Get a data set of images onto disk and return the folder that holds it.

``ingest.source.type`` picks where the images come from:

* ``bundled`` (default): a data set that ships with the installed packages; needs no network and no credentials.
  ``name: impressionists`` (default): 300 public-domain paintings by 10 impressionists, 30 each, longest side 256 px
  (``image_classification/bundled/impressionists/``), copied and checked against their ``SHA256SUMS``, one folder per
  painter. ``name: digits``: scikit-learn's 1,797 real 8x8 handwritten digits, written as 32x32 RGB PNGs, one folder
  per class ``0`` .. ``9``.
* ``folder``: an existing folder, used in place (nothing is copied).
* ``zip``: a local ``.zip``/``.tar.gz`` archive, extracted safely.
* ``url``: an archive downloaded with resume and an optional sha256 check, then extracted.
* ``kaggle_dataset`` / ``kaggle_competition``: an archive from Kaggle via the official client, then extracted.

Everything acquired lands in ``<raw_dir>/<name>/``, written to a temporary folder and renamed when complete, with a
hidden marker recording its origin so reruns reuse it (also offline). Delete the folder to fetch it again.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from image_classification.data.archives import (
    ArchiveLimits,
    atomic_folder,
    extract_archive,
    is_archive,
    read_marker,
    write_marker,
)
from image_classification.data.downloads import download
from image_classification.data.files import require_regular_file
from image_classification.data.kaggle import KINDS as KAGGLE_KINDS
from image_classification.data.kaggle import download_kaggle_archive
from image_classification.data.staging import remove_stale_staging

logger = logging.getLogger(__name__)

SOURCE_TYPES = ("bundled", "folder", "zip", "url", *KAGGLE_KINDS)
SOURCE_SETTINGS = ("type", "name", "raw_dir", "path", "url", "sha256", "kaggle_slug")
BUNDLED_DATASETS = ("impressionists", "digits")
#: Folder of the files shipped with the package (paintings, ImageNet weights); see its README.md.
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "bundled"
_DIGIT_SCALE = 4  # 8x8 -> 32x32, large enough for small convnets and for eyes


def fetch_source(
    source: Mapping[str, Any],
    kaggle_api_factory: Callable[[], Any] | None = None,
    limits: ArchiveLimits | None = None,
) -> Path:
    """Acquires the images described by the ``ingest.source`` settings.

    Args:
        source: The ``ingest.source`` parameters (``type``, ``name``, ``raw_dir``, ``path``, ``url``, ``sha256``,
            ``kaggle_slug``).
        kaggle_api_factory: Returns an authenticated Kaggle client; ``None`` for the real one (tests pass a stand-in).
        limits: The ``ingest.archive_limits`` for archives (zip, url, kaggle); None for the defaults.

    Returns:
        The folder holding the images.

    Raises:
        ValueError: Unknown type or setting, or a required setting missing.
        FileNotFoundError: A ``folder`` or ``zip`` path that does not exist.
    """
    unknown = sorted(set(source) - set(SOURCE_SETTINGS))
    if unknown:
        raise ValueError(
            f"Unknown setting(s) ingest.source.{', ingest.source.'.join(unknown)}; allowed: {SOURCE_SETTINGS}"
        )
    kind = source.get("type") or "bundled"
    raw_dir = Path(source.get("raw_dir") or "data/01_raw")
    name = str(source.get("name") or "").strip()
    if kind == "folder":
        return use_folder(_required(source, "path", kind))
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(
            f"ingest.source.name {name!r} must be a plain folder name (e.g. 'impressionists'); it is created in "
            f"{raw_dir}."
        )
    target = raw_dir / name
    remove_stale_staging(raw_dir)  # also when the data set is reused: a killed run may have left a staging folder
    if kind == "bundled":
        return write_bundled(name, target)
    if kind == "zip":
        archive = Path(_required(source, "path", kind))
        require_regular_file(archive, "ingest.source.path", "Point it at a .zip, .tar or .tar.gz file.")
        return extract_archive(archive, target, origin=str(archive), limits=limits)
    if kind == "url":
        return fetch_url(_required(source, "url", kind), raw_dir, target, source.get("sha256"), limits)
    if kind in KAGGLE_KINDS:
        slug = _required(source, "kaggle_slug", kind)
        return fetch_kaggle(kind, slug, raw_dir, target, kaggle_api_factory, limits)
    raise ValueError(f"ingest.source.type is {kind!r}; use one of {SOURCE_TYPES}.")


def use_folder(path: str | Path) -> Path:
    """Checks that an existing image folder exists and returns it (``type: folder``)."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Image folder not found: '{folder}'. Set ingest.source.path to an existing folder "
            "(in your profile's parameters_ingest.yml or with --params)."
        )
    return folder


def write_bundled(name: str, target: Path) -> Path:
    """Writes a data set that ships with the installed packages (``type: bundled``) unless already complete.

    ``impressionists`` is copied from ``image_classification/bundled/impressionists/`` (one folder per painter), every
    file checked against its ``SHA256SUMS``. ``digits`` is scikit-learn's ``load_digits``: 8x8 images with 17 grey
    levels, scaled to 0..255, enlarged 4x with nearest neighbour (every pixel stays exact) and stored as 3-channel
    RGB PNG so no mode conversion is needed. Both are written to a staging folder renamed when complete, with a
    marker so reruns reuse them.

    Args:
        name: Bundled data set name, one of ``BUNDLED_DATASETS``.
        target: Folder to create.

    Returns:
        ``target``.

    Raises:
        ValueError: ``name`` is not a bundled data set, or a bundled file does not match its sha256.
        FileExistsError: ``target`` exists but was not written by ingest.
        FileNotFoundError: The bundled files are not installed.
    """
    if name not in BUNDLED_DATASETS:
        raise ValueError(
            f"ingest.source.name {name!r} is not a bundled data set; bundled: {BUNDLED_DATASETS}."
        )
    if name == "digits":
        return _write_digits(target)
    return _copy_bundled_images(name, target)


def _reusable(target: Path, origin: str, expected: str, **provenance: str) -> bool:
    """Whether ``target`` already holds this bundled data set; refuses to replace a folder ingest did not write."""
    marker = read_marker(target)
    wanted = {"origin": origin, "images": expected, **provenance}
    if all(marker.get(key) == value for key, value in wanted.items()):
        logger.info("Reusing %s (%s images from %s)", target, expected, origin)
        return True
    if target.exists() and not marker:
        raise FileExistsError(
            f"{target} exists but was not written by ingest; move it away or set ingest.source.name to another name."
        )
    return False


def _write_digits(target: Path) -> Path:
    from sklearn.datasets import load_digits  # noqa: PLC0415 - scikit-learn only for this source (about 1.5 s)

    digits = load_digits()
    origin = "sklearn.datasets.load_digits"
    expected = str(len(digits.target))
    if _reusable(target, origin, expected):
        return target
    pixels = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    with atomic_folder(target) as staging:
        for index, (image, label) in enumerate(zip(pixels, digits.target)):
            big = np.kron(image, np.ones((_DIGIT_SCALE, _DIGIT_SCALE), dtype=np.uint8))
            folder = staging / str(label)
            folder.mkdir(exist_ok=True)
            Image.fromarray(np.stack([big] * 3, axis=-1)).save(folder / f"{index:04d}.png")
        write_marker(staging, origin=origin, images=expected)
    logger.info("Wrote %s digit images into %s", expected, target)
    return target


def _bundled_listing(name: str) -> tuple[Path, list[tuple[str, str]], str]:
    """The bundled folder of ``name``, its ``(sha256, relative path)`` entries and the sha256 of ``SHA256SUMS``."""
    source = BUNDLED_DIR / name
    sums = source / "SHA256SUMS"
    if not sums.is_file():
        raise FileNotFoundError(
            f"The bundled data set '{name}' is not installed: {sums} is missing. Reinstall the package "
            "(`make install`; pyproject.toml's [tool.setuptools.package-data] ships it) or pick another "
            "ingest.source."
        )
    text = sums.read_text(encoding="utf-8")
    entries = []
    for line in filter(str.strip, text.splitlines()):
        digest, path = line.split(maxsplit=1)
        entries.append((digest.lower(), path.strip().lstrip("*")))  # "*path": sha256sum's binary mode
    return source, entries, hashlib.sha256(text.encode()).hexdigest()


def _copy_bundled_images(name: str, target: Path) -> Path:
    source, entries, listing_sha256 = _bundled_listing(name)
    origin = f"image_classification/bundled/{name}"
    expected = str(len(entries))
    if _reusable(target, origin, expected, sha256=listing_sha256):
        return target
    with atomic_folder(target) as staging:
        for digest, relative in entries:
            data = (source / relative).read_bytes()
            actual = hashlib.sha256(data).hexdigest()
            if actual != digest:
                raise ValueError(
                    f"Bundled file {source / relative} is damaged: sha256 {actual}, expected {digest} "
                    f"(from {source / 'SHA256SUMS'}). Reinstall the package (`make install`) or restore the file."
                )
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            (staging / relative).write_bytes(data)
        write_marker(staging, origin=origin, images=expected, sha256=listing_sha256)
    logger.info("Copied %s bundled %s images into %s", expected, name, target)
    return target


def fetch_url(
    url: str, raw_dir: Path, target: Path, sha256: str | None = None, limits: ArchiveLimits | None = None
) -> Path:
    """Downloads an archive (resumable, checked) into ``raw_dir`` and extracts it into ``target`` (``type: url``)."""
    marker = read_marker(target)
    if marker.get("origin") == url and (not sha256 or marker.get("sha256") == sha256.lower()):
        logger.info("Reusing %s (already downloaded from %s)", target, url)
        return target
    file_name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    if not is_archive(file_name):
        raise ValueError(
            f"ingest.source.url must point to an archive (.zip, .tar.gz, .tgz, .tar), got {url!r}. "
            "For a folder of images on disk use type: folder."
        )
    archive = download(url, raw_dir / "downloads" / file_name, sha256=sha256)
    return extract_archive(archive, target, origin=url, limits=limits)


def fetch_kaggle(
    kind: str,
    slug: str,
    raw_dir: Path,
    target: Path,
    api_factory: Callable[[], Any] | None = None,
    limits: ArchiveLimits | None = None,
) -> Path:
    """Downloads a Kaggle data set or competition zip and extracts it into ``target`` (``type: kaggle_*``).

    A folder already extracted from the same slug is reused without contacting Kaggle, so reruns work offline.
    """
    origin = f"{kind}:{slug}"
    if read_marker(target).get("origin") == origin:
        logger.info("Reusing %s (already downloaded from Kaggle '%s')", target, slug)
        return target
    archive = download_kaggle_archive(
        kind, slug, raw_dir / "downloads" / slug.replace("/", "__"), api_factory
    )
    return extract_archive(archive, target, origin=origin, limits=limits)


def _required(source: Mapping[str, Any], key: str, kind: str) -> str:
    value = source.get(key)
    if not value:
        raise ValueError(f"ingest.source.{key} must be set when ingest.source.type is '{kind}'.")
    return str(value)
