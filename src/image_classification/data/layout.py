"""Warnings about how a data set is laid out that labelling alone would not notice.

* **An unlabelled folder used as a class.** Kaggle ships ``train/<class>/`` beside an unlabelled ``test/`` (or
  ``seg_pred/``); with ``ingest.labels.from: folder`` that folder becomes a class, often the largest. A folder whose
  name says test, prediction or unlabelled and that would become a class is **warned about, not refused**: a name
  cannot prove that a folder is unlabelled (a class may be called ``test``), and a wrong refusal would leave renaming
  folders on disk as the only way out, whereas the warning, in the validation report and the log, names the setting
  that leaves the folder out (``ingest.labels.ignore_dirs``).
* **An archive inside the data set** (a zip in the zip): its images are not read; the report names it and says what
  to do.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from image_classification.data.labels import Finding

logger = logging.getLogger(__name__)

#: Words in a folder name that mark images without labels (``test``, ``seg_pred``, ``unlabelled_images``, ...).
UNLABELLED_WORDS = frozenset(
    "test tests testing testset pred preds predict prediction predictions unlabeled unlabelled nolabel "
    "nolabels submission inference holdout".split()
)
KEPT_AS_CLASS = "kept as a class"
ARCHIVE_IGNORED = "ignored"


def looks_unlabelled(folder_name: str) -> bool:
    """Whether a folder's name says its images have no label (``test``, ``seg_pred``, ``Unlabelled-2``, ...)."""
    return any(word in UNLABELLED_WORDS for word in re.split(r"[^a-z0-9]+", folder_name.lower()))


def unlabelled_class_findings(labels: Mapping[Path, str]) -> list[Finding]:
    """One warning per folder that looks unlabelled yet gives its images their class (``from: folder`` labels).

    Args:
        labels: Each labelled file and its label, the label being the file's parent folder's name.

    Returns:
        A report row per such folder, also logged as a warning.
    """
    per_folder = Counter(file.parent for file, label in labels.items() if label == file.parent.name)
    findings = []
    for folder, count in sorted(per_folder.items()):
        if not looks_unlabelled(folder.name):
            continue
        problem = (
            f"folder {folder.name!r} looks unlabelled (test or prediction images), yet its {count} images are used "
            f"as class {folder.name!r}; if they have no label, add {folder.name!r} to ingest.labels.ignore_dirs"
        )
        logger.warning("%s: %s.", folder, problem)
        findings.append(Finding(str(folder), problem, KEPT_AS_CLASS))
    return findings


def nested_archive_findings(archives: Iterable[Path]) -> list[Finding]:
    """One report row per archive found inside the data set, also logged as a warning."""
    findings = []
    for archive in archives:
        problem = (
            "archive inside the data set: its images are not read. Extract it there, or point ingest.source.path "
            "at it (ingest.source.type: zip)"
        )
        logger.warning("%s: %s.", archive, problem)
        findings.append(Finding(str(archive), problem, ARCHIVE_IGNORED))
    return findings
