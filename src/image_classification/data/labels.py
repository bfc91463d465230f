"""Find image files under a folder and give each one a class label.

Strategies (``ingest.labels.from``):

* ``folder``: the image's immediate parent folder is its class, at any depth, so ``training/Monet/1.jpg`` and
  ``validation/Monet/7.jpg`` are both ``Monet``. Images lying directly in the root folder have no label.
* ``filename``: a regular expression with a named group ``label`` applied to the file name
  (``^(?P<label>[^.]+)\\.`` gives ``cat`` for ``cat.12.jpg``).
* ``csv``: a table with an id column and a label column; an id names a file by its stem (``0a1b`` for ``0a1b.jpg``),
  by its full name, or by ``id + id_extension``; separator and encoding as in :mod:`image_classification.data.label_csv`.

Every file that cannot be labelled, and every CSV id without a file, becomes a :class:`Finding` for the validation
report instead of an exception.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from image_classification.data.archives import is_archive
from image_classification.data.class_names import normalise_labels
from image_classification.data.files import NotARegularFileError, special_kind
from image_classification.data.findings import Finding
from image_classification.data.label_csv import read_label_table

IMAGE_EXTENSIONS = frozenset(
    ".jpg .jpeg .jpe .jfif .png .bmp .gif .tif .tiff .webp .ppm .pgm .pbm".split()
)
DEFAULT_PATTERN = r"^(?P<label>[^.]+)\."
STRATEGIES = ("folder", "filename", "csv")
LABEL_SETTINGS = tuple(
    "from pattern csv_path id_column label_column id_extension csv_separator csv_encoding ignore_dirs merge_case"
    .split()
)
# macOS zips carry "__MACOSX/._x.jpg" resource forks that are not images.
_ALWAYS_IGNORED_DIRS = frozenset({"__MACOSX"})
SKIPPED = "skipped"


class ImageFiles(NamedTuple):
    """Result of :func:`find_image_files`."""

    images: list[Path]
    #: extension -> number of files ignored because their extension is not an image one
    other_files: Counter
    #: top-most folders without any image file beneath them
    empty_dirs: list[Path]
    #: archives (.zip, .tar.gz, ...) found among the files: their images are not read
    archives: list[Path]
    #: entries that are not regular files (FIFOs, sockets, devices, broken links) -> what they are; never opened
    special: dict[Path, str] = {}


def find_image_files(root: Path, ignore_dirs: Iterable[str] = ()) -> ImageFiles:
    """Lists image files (by extension, case-insensitive) below ``root``, sorted by path.

    Hidden files and folders (name starting with ``.``), ``__MACOSX`` and folders named in ``ignore_dirs`` are skipped.

    Args:
        root: Folder to search recursively.
        ignore_dirs: Folder names to leave out wherever they occur (e.g. an unlabelled ``test`` folder).

    Returns:
        The image files, a count of other files by extension, the empty folders and the archives found.
    """
    ignored = _ALWAYS_IGNORED_DIRS | (
        {ignore_dirs} if isinstance(ignore_dirs, str) else set(ignore_dirs)
    )
    images: list[Path] = []
    others: Counter = Counter()
    folders: list[Path] = []
    with_images: set[Path] = set()
    archives: list[Path] = []
    special: dict[Path, str] = {}
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ignored)
        folder = Path(current)
        folders.append(folder)
        for name in files:
            suffix = Path(name).suffix.lower()
            if name.startswith("."):
                continue
            kind = special_kind(folder / name)  # from stat alone: a FIFO would block the first read for ever
            if kind is not None:
                special[folder / name] = kind
                continue
            if suffix not in IMAGE_EXTENSIONS:
                others[suffix or name] += 1
                archives += [folder / name] if is_archive(name) else []
                continue
            images.append(folder / name)
            ancestor = folder
            while ancestor not in with_images:
                with_images.add(ancestor)
                if ancestor == root:
                    break
                ancestor = ancestor.parent
    empty = {folder for folder in folders if folder not in with_images}
    top_empty = sorted(folder for folder in empty if folder != root and folder.parent not in empty)
    return ImageFiles(
        sorted(images, key=lambda p: p.as_posix()), others, top_empty, sorted(archives), dict(sorted(special.items()))
    )


def special_file_findings(special: Mapping[Path, str]) -> list[Finding]:
    """A report row for each entry that is not a regular file (:attr:`ImageFiles.special`)."""
    return [_skip(path, f"not a regular file: {kind}, not opened") for path, kind in special.items()]


def assign_labels(
    files: list[Path], root: Path, settings: Mapping
) -> tuple[dict[Path, str], list[Finding]]:
    """Gives each file its class label using the strategy in ``settings["from"]``.

    Args:
        files: Image files below ``root`` (see :func:`find_image_files`).
        root: The images' root folder.
        settings: The ``ingest.labels`` parameters.

    Returns:
        ``(labels, findings)``: a label for every file that has one, and a report row for every file (or CSV id)
        that could not be matched.

    Raises:
        ValueError: Unknown strategy or setting, a bad pattern, or an unusable CSV.
    """
    unknown = sorted(set(settings) - set(LABEL_SETTINGS))
    if unknown:
        raise ValueError(
            f"Unknown setting(s) ingest.labels.{', ingest.labels.'.join(unknown)}; allowed: {LABEL_SETTINGS}"
        )
    strategy = settings.get("from", "folder")
    labels, findings = _raw_labels(files, root, settings, strategy)
    return normalise_labels(labels, bool(settings.get("merge_case")), by_folder=strategy == "folder", found=findings)


def _raw_labels(
    files: list[Path], root: Path, settings: Mapping, strategy: str
) -> tuple[dict[Path, str], list[Finding]]:
    if strategy == "folder":
        return labels_from_folders(files, root)
    if strategy == "filename":
        return labels_from_filenames(files, settings.get("pattern") or DEFAULT_PATTERN)
    if strategy == "csv":
        return labels_from_csv(
            files,
            csv_file=resolve_csv_path(root, settings.get("csv_path")),
            id_column=settings.get("id_column", "id"),
            label_column=settings.get("label_column", "label"),
            id_extension=settings.get("id_extension") or "",
            separator=settings.get("csv_separator") or None,
            encoding=settings.get("csv_encoding") or "utf-8",
        )
    raise ValueError(f"ingest.labels.from is {strategy!r}; use one of {STRATEGIES}.")


def labels_from_folders(files: list[Path], root: Path) -> tuple[dict[Path, str], list[Finding]]:
    """Labels each file with its parent folder's name; files directly in ``root`` are reported."""
    labels, findings = {}, []
    for file in files:
        if file.parent == root:
            findings.append(_skip(file, "no label folder: image lies directly in the images root"))
        else:
            labels[file] = file.parent.name
    return labels, findings


def labels_from_filenames(files: list[Path], pattern: str) -> tuple[dict[Path, str], list[Finding]]:
    """Labels each file with the ``label`` group of ``pattern`` matched at the start of its name."""
    try:
        regex = re.compile(pattern)
    except re.error as error:
        message = f"ingest.labels.pattern {pattern!r} is not a valid regular expression: {error}"
        raise ValueError(message) from error
    if "label" not in regex.groupindex:
        raise ValueError(
            f"ingest.labels.pattern {pattern!r} needs a named group 'label', "
            f"e.g. {DEFAULT_PATTERN!r} for 'cat.12.jpg'."
        )
    labels, findings = {}, []
    for file in files:
        match = regex.match(file.name)
        if match and match.group("label"):
            labels[file] = match.group("label")
        else:
            findings.append(
                _skip(file, f"file name does not match ingest.labels.pattern {pattern!r}")
            )
    return labels, findings


def resolve_csv_path(root: Path, csv_path: str | None) -> Path:
    """Finds the labels CSV: absolute, else relative to the images root, else to the working folder."""
    if not csv_path:
        raise ValueError("ingest.labels.from is 'csv' but ingest.labels.csv_path is not set.")
    given = Path(csv_path)
    candidates = [given] if given.is_absolute() else [root / given, given]
    for candidate in candidates:
        kind = special_kind(candidate)
        if kind is None:
            return candidate
        if kind not in ("missing", "a folder"):  # a FIFO here would block the CSV reader for ever
            raise NotARegularFileError(candidate, kind, "ingest.labels.csv_path", "Point it at a CSV file.")
    tried = " or ".join(f"'{c}'" for c in candidates)
    raise FileNotFoundError(
        f"Labels CSV not found: looked for {tried}. Check ingest.labels.csv_path."
    )


def labels_from_csv(
    files: list[Path],
    csv_file: Path,
    id_column: str,
    label_column: str,
    id_extension: str = "",
    separator: str | None = None,
    encoding: str = "utf-8",
) -> tuple[dict[Path, str], list[Finding]]:
    """Labels files from a CSV of ``id -> label``; reports ids without a file and files without an id.

    Args:
        files: Image files.
        csv_file: The CSV file.
        id_column: Column holding the id (a file stem, a file name, or a name without ``id_extension``).
        label_column: Column holding the class label.
        id_extension: Appended to each id to form the file name (e.g. ``.jpg``); empty to match stems
            or names.
        separator: The column separator (``ingest.labels.csv_separator``); None sniffs it.
        encoding: The file's encoding (``ingest.labels.csv_encoding``).

    Returns:
        ``(labels, findings)``. A file given two different labels is skipped rather than guessed.
    """
    table = read_label_table(csv_file, id_column, label_column, separator, encoding)
    index, findings = _index_files(files, by_name=bool(id_extension))
    if table.empty:
        findings.insert(0, _skip(csv_file, "labels CSV has a header but no rows: no image gets a label"))
    labels: dict[Path, str] = {}
    first_label: dict[Path, str] = {}
    mentioned: set[Path] = set()
    conflicting: set[Path] = set()
    for row_id, label in zip(table[id_column], table[label_column]):
        file = _lookup(index, row_id, id_extension)
        if file is None:
            problem = f"no image file for this id (label {label!r}) under the images root"
            findings.append(Finding(f"{csv_file} (id {row_id!r})", problem, "ignored"))
            continue
        mentioned.add(file)
        if not label:
            findings.append(_skip(file, f"empty {label_column!r} for id {row_id!r} in {csv_file}"))
            continue
        first = first_label.setdefault(file, label)
        if first != label:
            problem = f"{csv_file} gives id {row_id!r} two labels: {first!r} and {label!r}"
            findings.append(_skip(file, problem))
            conflicting.add(file)
            labels.pop(file, None)
        elif file not in conflicting:
            labels[file] = label
    for file in index.values():
        if file not in mentioned:
            findings.append(_skip(file, f"no id for this file in {csv_file}"))
    return labels, findings


def _index_files(files: list[Path], by_name: bool) -> tuple[dict[str, Path], list[Finding]]:
    """Maps file stem (or name) to file; files that share a stem are ambiguous and reported."""
    index: dict[str, Path] = {}
    findings = []
    for file in files:
        key = file.name if by_name else file.stem
        if key in index:
            what = "name" if by_name else "stem"
            findings.append(
                _skip(file, f"same file {what} as {index[key]}: the CSV id is ambiguous")
            )
        else:
            index[key] = file
    return index, findings


def _lookup(index: dict[str, Path], row_id: str, id_extension: str) -> Path | None:
    """Finds the file an id names: ``id + id_extension``, else the file stem, else a full file name."""
    if id_extension:
        return index.get(row_id + id_extension)
    if row_id in index:
        return index[row_id]
    stem, suffix = os.path.splitext(row_id)
    file = index.get(stem) if suffix.lower() in IMAGE_EXTENSIONS else None
    return file if file is not None and file.name == row_id else None


def _skip(file: Path, problem: str) -> Finding:
    return Finding(str(file), problem, SKIPPED)
