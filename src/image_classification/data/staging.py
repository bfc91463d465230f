"""Staging folders: a folder is built beside its target and renamed into place only when complete.

A process killed while filling a staging folder (Ctrl-C twice, the OOM killer, a closed laptop) cannot clean up, so
every new staging folder first removes the ones earlier runs left behind in the same parent folder. Only our own
leftovers go, and only when no live process can be using them:

* their names say whose they are: ``.<target>.staging-<host>-<pid>-<random>`` (and ``.old-`` for a replaced folder),
  with ``<host>`` a short hash of the machine's name;
* one from this machine is removed when its process is gone. A pid is checked rather than an age because an
  extraction can legitimately run for hours; should the pid have been reused by another process meanwhile, the
  folder is merely kept a while longer, never removed while in use;
* one from another machine (a shared disk) or without a pid (left by an earlier version) cannot be checked, so it is
  removed only once untouched for ``STALE_AFTER_S``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

#: Leftovers that cannot be tied to a process on this machine are removed after this many seconds untouched.
STALE_AFTER_S = 24 * 3600
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_LEFTOVER = re.compile(r"^\..+\.(?:staging|old)-(?:(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-)?[A-Za-z0-9_]+$")


def owner_tag() -> str:
    """``<host>-<pid>``: what a staging folder's name records about the process that made it."""
    return f"{_HOST}-{os.getpid()}"


@contextlib.contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yields an empty staging folder beside ``target`` that becomes ``target`` only if the block succeeds.

    Stale staging folders of earlier, killed runs are removed first (see the module docstring). An existing
    ``target`` is swapped out and deleted after the new one is in place; on any error the staging folder is removed
    and ``target`` is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-{owner_tag()}-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a data set should be readable like any folder
    try:
        yield staging
        old = target.with_name(f".{target.name}.old-{owner_tag()}-{uuid.uuid4().hex[:12]}")
        if target.exists():
            target.rename(old)
        try:
            staging.rename(target)
        except OSError:
            if old.exists():
                old.rename(target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def remove_stale_staging(folder: Path) -> list[Path]:
    """Removes the staging (and replaced ``.old-``) folders in ``folder`` that no live process is using.

    Returns:
        The folders removed.
    """
    removed = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        match = _LEFTOVER.match(entry.name)
        if not match or entry.is_symlink() or not entry.is_dir() or _maybe_in_use(entry, match):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        logger.warning("Removed %s, left behind by an interrupted run.", entry)
        removed.append(entry)
    return removed


def _maybe_in_use(entry: Path, match: re.Match) -> bool:
    if match["host"] == _HOST and os.name == "posix":  # on Windows os.kill(pid, 0) would terminate the process
        return _alive(int(match["pid"]))
    try:
        return time.time() - entry.stat().st_mtime < STALE_AFTER_S
    except OSError:
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists but belongs to someone else
        return True
    return True
