"""What kind of file a path is, told from ``stat`` alone, so that nothing but a regular file is ever opened.

Opening a FIFO blocks until a writer appears (for ever, in a data set), a character device such as ``/dev/zero``
reads without end, and a socket cannot be read at all. Every place that reads a file the user named or that lies in a
data set (the image scan, archives, the labels CSV, ``predict.images_dir``, ``similar.query``) asks
:func:`special_kind` first and skips or refuses the file by name, without opening it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


class NotARegularFileError(ValueError):
    """A path that must be a regular file is something else (a FIFO, socket, device, folder or broken link).

    Attributes:
        path: The path, as a string.
        kind: What it is instead, e.g. ``"a FIFO (named pipe)"``.
        setting: The setting that named it (``similar.query``), or ``""``.
    """

    def __init__(self, path: str | Path, kind: str, setting: str = "", advice: str = "") -> None:
        self.path, self.kind, self.setting = str(path), kind, setting
        named = f"{setting} '{path}'" if setting else f"'{path}'"
        super().__init__(
            f"{named} is {kind}, not a regular file: it was not opened (reading it could block for ever)."
            + (f" {advice}" if advice else "")
        )


def special_kind(path: str | Path) -> str | None:
    """None for a regular file (or a link to one); otherwise what the path is, in words, without opening it.

    A path that does not exist reads as ``"missing"``; a link whose target is gone as ``"a broken link"``.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a broken link" if os.path.islink(path) else "missing"
    except OSError as error:
        return f"unreadable ({error.strerror or error})"
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def require_regular_file(path: str | Path, setting: str = "", advice: str = "") -> Path:
    """``path`` as a ``Path`` when it is a regular file.

    Raises:
        FileNotFoundError: Nothing is there (the setting and ``advice`` in the message).
        NotARegularFileError: It is a FIFO, socket, device, folder or broken link.
    """
    kind = special_kind(path)
    if kind == "missing":
        named = f"{setting} '{path}'" if setting else f"'{path}'"
        raise FileNotFoundError(f"{named} does not exist." + (f" {advice}" if advice else ""))
    if kind is not None:
        raise NotARegularFileError(path, kind, setting, advice)
    return Path(path)
