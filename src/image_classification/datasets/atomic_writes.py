"""Atomic saves for fsspec file datasets: every file lands under a temporary name and is moved into place whole.

A save that fails half way (a full disk, a serialiser that raises, a killed run) must leave no truncated file that a
later run loads as the latest version, and no new version folder either. ``atomic_save`` gives that to any dataset
that writes through ``self._fs.open``: the kedro-datasets file datasets (``AtomicSaveMixin``) and the project's own
``AtomicFileDataset``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from kedro.io.core import get_filepath_str

logger = logging.getLogger(__name__)


#: Temporaries of another host, or of earlier versions (no pid in the name), are removed once untouched this long.
STALE_AFTER_S = 24 * 3600
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TEMPORARY = re.compile(r"^\..+\.(?:(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-)?[0-9a-f]{32}\.tmp$")


def temporary_path(path: str) -> str:
    """A hidden, unique name beside ``path``: same folder, so the final move stays on one filesystem.

    The name carries this host and process, so a later save can tell a temporary left by a killed process (removed by
    ``remove_stale_temporaries``) from one still being written.
    """
    parent, name = posixpath.split(path)
    return posixpath.join(parent, f".{name}.{_HOST}-{os.getpid()}-{uuid.uuid4().hex}.tmp")


def remove_stale_temporaries(root: str, versioned: bool = True) -> list[str]:
    """Removes the temporaries that killed saves left in ``root`` and, if ``versioned``, in its version folders.

    A temporary of this host is stale when its process is gone; others (another host, or a name without a pid)
    when untouched for ``STALE_AFTER_S``. A version folder left empty is removed too.

    Returns:
        The paths removed.
    """
    removed: list[str] = []
    folders = [root] + [os.path.join(root, entry) for entry in _listdir(root) if versioned and entry[:1] != "."]
    for folder in folders:
        if not os.path.isdir(folder) or os.path.islink(folder):
            continue
        for entry in _listdir(folder):
            match = _TEMPORARY.match(entry)
            path = os.path.join(folder, entry)
            if not match or os.path.islink(path) or _maybe_in_use(path, match):
                continue
            with suppress(OSError):
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
                removed.append(path)
                logger.warning("Removed %s, left behind by an interrupted save.", path)
        if folder != root and removed and not _listdir(folder):
            with suppress(OSError):
                os.rmdir(folder)  # a version folder that only held the temporary
    return removed


def _listdir(folder: str) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def _maybe_in_use(path: str, match: re.Match) -> bool:
    if match["host"] == _HOST and os.name == "posix":
        try:
            os.kill(int(match["pid"]), 0)  # signal 0 only asks whether the process exists
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True
    try:
        return time.time() - os.stat(path).st_mtime < STALE_AFTER_S
    except OSError:
        return True


class _ReplaceOnSuccess:
    """``with`` target for a file opened for writing: writes go to a temporary file, moved over ``path`` on success.

    On local disks the file is flushed and fsynced first (a full disk may only show at that point), then
    ``os.replace``d: atomic on POSIX and Windows. Other fsspec protocols get ``fs.mv``, which object stores run as a
    server-side copy, so readers still never see a partial object. On any error the temporary file is removed.
    """

    def __init__(self, fs: Any, path: str, mode: str, local: bool, open_args: dict[str, Any]) -> None:
        self._fs, self._path, self._local = fs, path, local
        self._temporary = temporary_path(path)
        self._file = fs.open(self._temporary, mode.replace("x", "w"), **open_args)

    def __enter__(self) -> Any:
        return self._file

    def __exit__(self, exc_type, exc, traceback) -> bool:
        try:
            if exc_type is None:
                self._commit()
                return False
        except BaseException:
            self._discard()
            raise
        self._discard()
        return False

    def _commit(self) -> None:
        if self._local and not self._file.closed:
            self._file.flush()
            with suppress(AttributeError, OSError, ValueError):  # some wrappers have no real file descriptor
                os.fsync(self._file.fileno())
        self._file.close()
        if self._local:
            os.replace(self._temporary, self._path)
        else:
            self._fs.mv(self._temporary, self._path)

    def _discard(self) -> None:
        with suppress(Exception):
            self._file.close()
        with suppress(Exception):
            if self._fs.exists(self._temporary):
                self._fs.rm(self._temporary)


class AtomicWriteFileSystem:
    """An fsspec filesystem whose ``open`` for writing (modes ``w``/``x``) writes atomically; all else is delegated.

    Appending (``a``) is passed through unchanged: it extends an existing file, which a move cannot do.
    """

    def __init__(self, fs: Any, local: bool) -> None:
        self.wrapped = fs
        self._local = local

    def __getattr__(self, name: str) -> Any:
        if name == "wrapped":  # not set yet (e.g. while unpickling): never recurse
            raise AttributeError(name)
        return getattr(self.wrapped, name)

    def open(self, path: str, mode: str = "rb", **open_args: Any) -> Any:
        if "w" not in mode and "x" not in mode:
            return self.wrapped.open(path, mode, **open_args)
        if "x" in mode and self.wrapped.exists(path):
            raise FileExistsError(path)
        return _ReplaceOnSuccess(self.wrapped, path, mode, self._local, open_args)


@contextmanager
def atomic_save(dataset: Any) -> Iterator[str]:
    """While active, ``dataset._fs`` writes files atomically; an error removes the new version folder again.

    For a versioned dataset the version folder (``<filepath>/<version>/``) is new to this save, so a failed save
    removes it whole: the previous version stays the latest. Yields the save path (``get_filepath_str`` form).

    Args:
        dataset: A file dataset with ``_fs``, ``_protocol``, ``_version`` and ``_get_save_path`` (kedro-datasets and
            ``AtomicFileDataset`` style).
    """
    fs = dataset._fs
    save_path = get_filepath_str(dataset._get_save_path(), dataset._protocol)
    if dataset._protocol == "file":  # a killed save's temporaries would stay for ever otherwise
        root = get_filepath_str(dataset._filepath, dataset._protocol)
        if dataset._version:
            remove_stale_temporaries(root)
        else:
            remove_stale_temporaries(posixpath.dirname(root), versioned=False)
    version_folder = posixpath.dirname(save_path) if dataset._version else None
    new_version_folder = version_folder is not None and not fs.exists(version_folder)
    dataset._fs = AtomicWriteFileSystem(fs, local=dataset._protocol == "file")
    try:
        yield save_path
    except BaseException:
        if new_version_folder:
            with suppress(Exception):
                if fs.exists(version_folder):
                    fs.rm(version_folder, recursive=True)
        raise
    finally:
        dataset._fs = fs


class AtomicSaveMixin:
    """Makes a kedro-datasets file dataset's ``save`` atomic; put it first: ``class X(AtomicSaveMixin, CSVDataset)``.

    Load and save arguments, versioning, credentials and metadata are the parent's; only where the bytes go
    changes. Works for every dataset whose ``save`` writes with ``with self._fs.open(path, mode) as file``.
    """

    def save(self, data: Any) -> None:
        parent_save = super().save  # type: ignore[misc]
        # Kedro wraps every save; the wrapper of a versioned dataset would start a new version, so call the inside.
        unwrapped = getattr(parent_save, "__wrapped__", None)
        with atomic_save(self):
            if unwrapped is None:
                parent_save(data)
            else:
                unwrapped(self, data)
