"""Are the images still those ingest checked? Re-verified cheaply before a step reads their pixels.

Ingest records each image's size, modification time (``mtime_ns``) and sha256 in the manifest; split and preprocess
run later, maybe days later, and anything may have happened to the files in between (deleted, overwritten with another
picture, truncated). :func:`changed_images` compares every file with its row by ``stat`` alone and hashes only the
files whose modification time moved (or every file, for a manifest written before ``mtime_ns`` was recorded), so
a check of an unchanged data set reads no image.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from image_classification.data.files import special_kind

#: Files named in the error message; the rest are counted.
SHOWN = 5


class Change(NamedTuple):
    """One image that is not what the manifest says."""

    path: str
    what: str


class ImagesChangedError(ValueError):
    """Images changed since ingest: training on them would use wrong labels or silently fewer images.

    Attributes:
        changes: Every changed file and what changed.
        step: The step that found them (``preprocess``).
    """

    def __init__(self, changes: list[Change], step: str) -> None:
        self.changes, self.step = changes, step
        shown = "\n".join(f"  {change.path}: {change.what}" for change in changes[:SHOWN])
        more = f"\n  ... and {len(changes) - SHOWN} more" if len(changes) > SHOWN else ""
        super().__init__(
            f"{len(changes)} image(s) changed since ingest checked them, so {step} stopped before reading any "
            f"(the manifest's labels and checks no longer hold):\n{shown}{more}\n"
            "Rerun ingest and the steps after it: kedro run --pipelines ingest,split,preprocess (then train again)."
        )


def changed_images(rows: Iterable[Mapping[str, Any]], workers: int | None = None) -> list[Change]:
    """The files of ``rows`` that are gone, no longer regular files, or hold other bytes than ingest hashed.

    Args:
        rows: Manifest rows with ``path``, ``bytes``, ``sha256`` and, when ingest recorded it, ``mtime_ns``.
        workers: Threads hashing the files whose modification time moved.

    Returns:
        One ``Change`` per changed file, in the order of ``rows``.
    """
    changes: dict[int, Change] = {}
    rows = list(rows)
    if rows and not {"bytes", "sha256"} <= set(rows[0]):
        return []  # a table built by hand, not from a manifest: nothing to compare with
    to_hash: list[tuple[int, str, str]] = []
    for position, row in enumerate(rows):
        path = str(row["path"])
        kind = special_kind(path)
        if kind == "missing":
            changes[position] = Change(path, "deleted")
            continue
        if kind is not None:
            changes[position] = Change(path, f"now {kind}")
            continue
        stat = os.stat(path)
        if stat.st_size != int(row["bytes"]):
            changes[position] = Change(path, f"size changed from {int(row['bytes']):,} to {stat.st_size:,} bytes")
            continue
        recorded = row.get("mtime_ns")
        if recorded is None or math.isnan(float(recorded)) or int(recorded) != stat.st_mtime_ns:  # None/NaN: hash
            to_hash.append((position, path, str(row["sha256"])))
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        for (position, path, expected), actual in zip(to_hash, pool.map(lambda item: _sha256(item[1]), to_hash)):
            if actual != expected:
                changes[position] = Change(path, "content changed (another sha256 than at ingest)")
    return [changes[position] for position in sorted(changes)]


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except OSError as error:
        return f"unreadable: {error}"
    return digest.hexdigest()
