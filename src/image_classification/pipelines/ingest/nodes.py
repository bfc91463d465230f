"""Nodes of the ``ingest`` pipeline: acquire images, validate them into a manifest, draw EDA figures."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from image_classification.config import load_settings
from image_classification.data.archive_limits import ArchiveLimits
from image_classification.data.duplicates import (
    DEFAULT_NEAR_DUPLICATE_DISTANCE,
    near_duplicate_pairs,
)
from image_classification.data.images import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_SIDE,
    SKIPPED,
    ImageInfo,
    inspect_image,
)
from image_classification.data.labels import (
    DEFAULT_PATTERN,
    Finding,
    assign_labels,
    find_image_files,
    special_file_findings,
)
from image_classification.data.layout import nested_archive_findings, unlabelled_class_findings
from image_classification.data.sources import fetch_source
from image_classification.pipelines.ingest.figures import (
    plot_class_counts,
    plot_image_sizes,
    plot_sample_grid,
)

__all__ = [
    "NoUsableImagesError",
    "acquire_images",
    "build_manifest",
    "plot_class_counts",
    "plot_image_sizes",
    "plot_sample_grid",
]

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["path", "label", "width", "height", "mode", "bytes", "sha256", "mtime_ns", "phash"]
REPORT_COLUMNS = ["file", "problem", "action"]
CHECK_SETTINGS = ("max_pixels", "min_side", "near_duplicate_distance")


class NoUsableImagesError(ValueError):
    """Ingest found no image it could use."""


def acquire_images(source: dict, archive_limits: dict | None = None) -> str:
    """Gets the data set onto disk (download, extract or generate) as configured in ``ingest.source``.

    Args:
        source: The ``ingest.source`` parameters.
        archive_limits: The ``ingest.archive_limits`` parameters (``max_total_gb``, ``max_members``, ``max_ratio``);
            None for the defaults.

    Returns:
        The folder that holds the images, as a string.
    """
    limits = load_settings(ArchiveLimits, archive_limits, "ingest.archive_limits")
    return str(fetch_source(source, limits=limits))


def build_manifest(
    images_root: str, labels: dict, checks: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labels and checks every image below ``images_root``; keeps the usable ones once.

    Each file is fully decoded (see :func:`image_classification.data.images.inspect_image`). Files that are broken, too
    large, too small or unlabelled are skipped; odd colour modes are kept and listed as converted. Exact duplicates
    (same sha256) are kept once, the first by sorted path, so the same picture cannot land in both train and test.

    Args:
        images_root: Folder from :func:`acquire_images`.
        labels: The ``ingest.labels`` parameters (``from``, ``pattern``, ``csv_path``, ...).
        checks: The ``ingest.checks`` parameters (``max_pixels``, ``min_side``).

    Returns:
        ``(manifest, validation_report)``: one row per usable image with columns ``path, label, width, height, mode,
        bytes, sha256, mtime_ns``; one row per finding with columns ``file, problem, action``.

    Raises:
        NoUsableImagesError: Not a single usable image was found.
    """
    unknown = sorted(set(checks) - set(CHECK_SETTINGS))
    if unknown:
        raise ValueError(
            f"Unknown setting(s) ingest.checks.{', ingest.checks.'.join(unknown)}; allowed: {CHECK_SETTINGS}"
        )
    root = Path(images_root)
    if not root.is_dir():
        raise NotADirectoryError(f"Images folder not found: '{root}' (from ingest.source).")
    found = find_image_files(root, labels.get("ignore_dirs") or ())
    labelled, findings = assign_labels(found.images, root, labels)
    findings = special_file_findings(found.special) + findings + nested_archive_findings(found.archives)
    if labels.get("from", "folder") == "folder":
        findings += [
            Finding(str(d), "empty class folder: no image files in it", SKIPPED)
            for d in found.empty_dirs
        ]
        findings += unlabelled_class_findings(labelled)
    rows, image_findings = _inspect_all(labelled, checks)
    findings += image_findings + _dropped_classes(labelled, rows, root)
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS).astype(
        {"width": "int64", "height": "int64", "bytes": "int64", "mtime_ns": "int64"}
    )
    report = pd.DataFrame(findings, columns=REPORT_COLUMNS)
    _log_summary(manifest, report, found.other_files)
    if manifest.empty:
        raise NoUsableImagesError(
            _no_images_message(root, labels, len(found.images), len(labelled), report, found.archives)
        )
    return manifest, report


def _inspect_all(
    labelled: dict[Path, str], checks: Mapping[str, Any]
) -> tuple[list[dict], list[Finding]]:
    """Inspects files in parallel threads (Pillow decodes without the GIL), keeping sorted order for duplicates."""
    files = sorted(labelled, key=lambda p: p.as_posix())
    options = {
        "max_pixels": int(_setting(checks, "max_pixels", DEFAULT_MAX_PIXELS)),
        "min_side": int(_setting(checks, "min_side", DEFAULT_MIN_SIDE)),
    }
    rows: list[dict] = []
    findings: list[Finding] = []
    first_by_hash: dict[str, Path] = {}
    first_by_pixels: dict[str, Path] = {}
    hashes: list[int | None] = []
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = pool.map(lambda f: inspect_image(f, **options), files)
        for file, (info, problems) in tqdm(
            zip(files, results), total=len(files), desc="Checking images", unit="img"
        ):
            if info is not None and info.sha256 in first_by_hash:
                findings.append(_duplicate(file, first_by_hash[info.sha256], labelled))
                continue
            if info is not None and info.pixel_sha256 and info.pixel_sha256 in first_by_pixels:
                findings.append(_duplicate(file, first_by_pixels[info.pixel_sha256], labelled, "same pixels as"))
                continue
            findings += [Finding(str(file), p.problem, p.action) for p in problems]
            if info is not None:
                first_by_hash[info.sha256] = file
                if info.pixel_sha256:
                    first_by_pixels[info.pixel_sha256] = file
                rows.append(_manifest_row(file, labelled[file], info))
                hashes.append(info.phash)  # None: a flat image, never a near duplicate
    distance = checks.get("near_duplicate_distance", DEFAULT_NEAR_DUPLICATE_DISTANCE)
    if distance is not None:  # null: not looked for
        findings += _near_duplicates(rows, hashes, int(distance))
    return rows, findings


def _near_duplicates(rows: list[dict], hashes: list[int | None], max_distance: int) -> list[Finding]:
    """A report row per near-duplicate pair (kept: both may be real photos), naming both files and labels."""
    findings = []
    known = [index for index, value in enumerate(hashes) if value is not None]
    for first, second, distance in near_duplicate_pairs([hashes[index] for index in known], max_distance):
        kept, other = rows[known[first]], rows[known[second]]
        labels = f" (labelled {kept['label']!r} there, {other['label']!r} here)" if kept["label"] != other["label"] else ""
        findings.append(
            Finding(
                other["path"],
                f"near duplicate of {kept['path']} (perceptual hash {distance} of 64 bits apart){labels}",
                "kept (preprocess warns if the split puts the two in train and test)",
            )
        )
    return findings


def _setting(settings: Mapping[str, Any], key: str, default: Any) -> Any:
    value = settings.get(key)
    return default if value is None else value


def _manifest_row(file: Path, label: str, info: ImageInfo) -> dict:
    return {
        "path": str(file),
        "label": label,
        "width": info.width,
        "height": info.height,
        "mode": info.mode,
        "bytes": info.bytes,
        "sha256": info.sha256,
        "mtime_ns": _mtime_ns(file),
        "phash": f"{info.phash:016x}" if info.phash is not None else "",  # later steps re-verify the file by size and this before reading it
    }


def _mtime_ns(file: Path) -> int:
    try:
        return os.stat(file).st_mtime_ns
    except OSError:
        return -1  # gone since: the next step hashes it, finds it missing and says to rerun ingest


def _duplicate(file: Path, original: Path, labelled: dict[Path, str], what: str = "exact duplicate of") -> Finding:
    problem = f"{what} {original}"
    if labelled[file] != labelled[original]:
        problem += f" (labelled {labelled[original]!r} there, {labelled[file]!r} here)"
    return Finding(str(file), problem, SKIPPED)


def _dropped_classes(labelled: dict[Path, str], rows: list[dict], root: Path) -> list[Finding]:
    """Reports classes that had files but lost every one of them to the checks."""
    kept = {row["label"] for row in rows}
    had = Counter(labelled.values())
    return [
        Finding(
            str(root),
            f"class {label!r} has no usable image (all {count} files skipped)",
            "class dropped",
        )
        for label, count in sorted(had.items())
        if label not in kept
    ]


def _log_summary(manifest: pd.DataFrame, report: pd.DataFrame, other_files: Counter) -> None:
    per_class = manifest["label"].value_counts().sort_index()
    actions = report["action"].value_counts()
    ignored = ", ".join(f"{ext} x{n}" for ext, n in sorted(other_files.items())) or "none"
    logger.info(
        "Ingest kept %d images in %d classes (%s); %d problems (%s); non-image files ignored: %s",
        len(manifest),
        len(per_class),
        ", ".join(f"{label}: {n}" for label, n in per_class.items()),
        len(report),
        ", ".join(f"{n} {action}" for action, n in actions.items()) or "none",
        ignored,
    )
    if len(per_class) == 1:
        logger.warning(
            "Only one class found (%s): a classifier needs at least two. Check ingest.labels.",
            per_class.index[0],
        )


def _no_images_message(
    root: Path, labels: Mapping, n_files: int, n_labelled: int, report: pd.DataFrame, archives: list[Path]
) -> str:
    strategy = labels.get("from", "folder")
    hints = {  # only the settings the strategy in use reads
        "folder": "one folder per class below the images folder; ingest.labels.ignore_dirs leaves folders out",
        "filename": f"ingest.labels.pattern {labels.get('pattern') or DEFAULT_PATTERN!r}",
        "csv": f"ingest.labels.csv_path {labels.get('csv_path')!r}, id_column {labels.get('id_column', 'id')!r}, "
        f"label_column {labels.get('label_column', 'label')!r}, id_extension {labels.get('id_extension') or ''!r}",
    }
    inside = ""
    if archives:
        names = ", ".join(str(archive) for archive in archives[:3]) + (" ..." if len(archives) > 3 else "")
        inside = (
            f" Found {len(archives)} archive(s) inside: {names}. Their images are not read: extract them there, "
            "or point ingest.source.path at the archive (ingest.source.type: zip)."
        )
    examples = "\n".join(f"  {r.file}: {r.problem}" for r in report.head(5).itertuples())
    return (
        f"No usable image found under '{root}': {n_files} image files by extension, {n_labelled} of them labelled "
        f"with ingest.labels.from={strategy!r}.{inside} Check ingest.source and ingest.labels"
        f" ({hints.get(strategy, 'from')})."
        + (f"\nFirst problems:\n{examples}" if examples else "")
    )
