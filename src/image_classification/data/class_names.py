"""Class names that print alike are one class; names that differ only in case are reported (or merged).

Folder names come from whatever made the data set: macOS writes ``café`` decomposed (NFD), Windows composed (NFC);
a trailing space slips into ``golden retriever ``; ``Cat`` and ``cat`` are two folders on Linux but one on macOS.
:func:`normalise_labels` makes the first two one class each and reports the third, so no two classes print alike.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from image_classification.data.findings import SKIPPED, Finding


def normalise_labels(
    labels: Mapping[Path, str], merge_case: bool = False, by_folder: bool = True, found: list[Finding] | None = None
) -> tuple[dict[Path, str], list[Finding]]:
    """Class names that print alike become one class; names that differ only in case are reported.

    Every label is Unicode NFC-normalised and stripped of surrounding white space, so ``café`` typed on macOS (NFD)
    and on Windows (NFC), or ``golden retriever`` and ``golden retriever `` (trailing space), are one class: a report
    row names each spelling that was merged and where it came from. Labels that differ only in case (``Cat`` and
    ``cat``) stay apart, with a report row naming both, unless ``merge_case`` (``ingest.labels.merge_case``) merges
    them into the spelling with most images (the first in sorted order on a tie).

    Args:
        labels: File -> raw label.
        merge_case: Merge labels that differ only in case.
        by_folder: Labels are folder names: the rows name the folders (else the label texts).
        found: Findings so far, returned with the new rows after them.

    Returns:
        ``(labels, findings)``: file -> label, and the findings with a row per collision.
    """
    findings = list(found or [])
    where: dict[str, Path] = {}
    for file, raw in sorted(labels.items(), key=lambda item: item[0].as_posix()):
        where.setdefault(raw, file.parent if by_folder else file)
    normal: dict[str, str] = {raw: unicodedata.normalize("NFC", raw).strip() for raw in where}
    result: dict[Path, str] = {}
    for file, raw in labels.items():
        if normal[raw]:
            result[file] = normal[raw]
        else:
            findings.append(Finding(str(file), f"the class name {raw!r} is empty once white space is stripped", SKIPPED))
    findings += _collisions(where, normal, by_folder)
    counts = Counter(result.values())
    by_case: dict[str, list[str]] = {}
    for name in sorted(counts):
        by_case.setdefault(name.casefold(), []).append(name)
    renamed: dict[str, str] = {}
    for names in (group for group in by_case.values() if len(group) > 1):
        kept = max(names, key=lambda name: (counts[name], [-ord(c) for c in name]))
        first = {name: next(where[raw] for raw in sorted(where) if normal[raw] == name) for name in names}
        for name in (name for name in names if name != kept):
            origin = f" ({first[name]})" if by_folder else ""
            problem = (
                f"class name collision: {name!r}{origin} and {kept!r} ({first[kept]}) differ only in case"
                if by_folder else f"class name collision: {name!r} and {kept!r} differ only in case"
            )
            if merge_case:
                renamed[name] = kept
                findings.append(Finding(str(first[name]), f"{problem}: merged into {kept!r}", "merged"))
            else:
                findings.append(Finding(
                    str(first[name]),
                    f"{problem}: kept as two classes; set ingest.labels.merge_case: true to merge them",
                    "kept apart",
                ))
    return {file: renamed.get(label, label) for file, label in result.items()}, findings


def _collisions(where: Mapping[str, Path], normal: Mapping[str, str], by_folder: bool) -> list[Finding]:
    """A row per raw spelling merged with another that prints alike (NFC/NFD, surrounding white space)."""
    groups: dict[str, list[str]] = {}
    for raw in sorted(where):
        groups.setdefault(normal[raw], []).append(raw)
    rows = []
    for name, raws in groups.items():
        if len(raws) < 2 or not name:
            continue
        first, *others = sorted(raws, key=lambda raw: (raw != name, raw))
        for raw in others:
            how = "Unicode normalisation (NFC)" if raw.strip() == raw else "surrounding white space"
            origin = f"{where[raw]} and {where[first]}" if by_folder else f"{raw!r} and {first!r}"
            rows.append(Finding(
                str(where[raw]) if by_folder else raw,
                f"class name collision: {origin} differ only by {how} ({ascii(raw)} vs {ascii(first)}): "
                f"merged into one class {name!r}",
                "merged",
            ))
    return rows
