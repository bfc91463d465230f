"""Errors end with their message, not a 200-line traceback; log lines show user data as it is.

``kedro run`` lets an exception escape to Python, where Kedro's rich traceback handler prints every frame (100 to 250
lines) and the message, which names the file or setting and the fix, is lost among them. :func:`short_errors`
installs an ``excepthook`` that, for an error raised by this project's code (a bad setting, bad data, a missing
model), writes the whole traceback to ``logs/last_error.log`` and prints only the error's type and message, with
where the traceback went. ``IMAGE_CLASSIFICATION_TRACEBACK=1`` prints the full traceback as before; errors raised
elsewhere (Kedro, a library) keep it too, since those are likely bugs.

:class:`PlainTextFilter` keeps Kedro's rich log handler from reading the project's log messages as markup: class names
such as ``[bold red]boom[/]`` or lists like ``[a, b]`` are escaped, and control characters in values (a newline or an
escape sequence in a label) are shown as ``\\n``, ``\\x1b`` instead of splitting or restyling the log line.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from kedro.framework.hooks import hook_impl

PACKAGE = "image_classification"
VERBOSE_VARIABLE = "IMAGE_CLASSIFICATION_TRACEBACK"
ERROR_LOG = Path("logs") / "last_error.log"
_PACKAGE_PATH = os.sep + PACKAGE + os.sep
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def is_project_error(error: BaseException) -> bool:
    """Whether ``error`` (or an error it wraps) is one of the project's: its class or the line that raised it is in
    this package."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__module__.startswith(PACKAGE):
            return True
        frames = traceback.extract_tb(current.__traceback__) if current.__traceback__ else []
        if frames and _PACKAGE_PATH in frames[-1].filename:
            return True
        current = current.__cause__ or current.__context__
    return False


def short_message(error: BaseException, log_file: Path | None) -> str:
    """What the user reads: the error's type and message, then where the full traceback is."""
    where = f"The full traceback is in {log_file}" if log_file else "The traceback could not be written to a file"
    return (
        f"\n{type(error).__name__}: {error}\n\n"
        f"({where}; set {VERBOSE_VARIABLE}=1 to print it here.)\n"
    )


def write_traceback(error: BaseException, log_file: Path = ERROR_LOG) -> Path | None:
    """Writes the full traceback of ``error`` to ``log_file``; None when it cannot be written."""
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
    except OSError:
        return None
    return log_file.absolute()


def short_errors(verbose: bool | None = None) -> None:
    """Installs the ``excepthook`` that shortens the project's own errors (see the module docstring)."""
    previous = sys.excepthook
    if getattr(previous, "_image_classification", False):
        return

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        loud = verbose if verbose is not None else os.environ.get(VERBOSE_VARIABLE, "") not in ("", "0")
        if loud or not isinstance(error, Exception) or not is_project_error(error):
            previous(kind, error, trace)
            return
        sys.stderr.write(short_message(error, write_traceback(error)))

    hook._image_classification = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def plain(value: Any) -> Any:
    """``value`` with control characters escaped when it is text; numbers and other values unchanged."""
    if isinstance(value, str):
        return _CONTROL_ALL.sub(lambda found: found.group(0).encode("unicode_escape").decode("ascii"), value)
    return value


def escape_markup(text: str) -> str:
    """``text`` with everything rich would read as a markup tag escaped (``rich.markup.escape``)."""
    try:
        from rich.markup import escape  # noqa: PLC0415 - Kedro's dependency; plain text needs no escaping without it
    except ImportError:
        return text
    return escape(text)


class PlainTextFilter(logging.Filter):
    """Shows the project's log messages as plain text in Kedro's rich handler (see the module docstring).

    Values are cleaned of control characters, then the message is formatted and its markup escaped; the message
    template's own line breaks stay. Records of other loggers pass unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(PACKAGE) or getattr(record, "_plain_text", False):
            return True
        try:
            args = record.args
            if isinstance(args, tuple):
                args = tuple(plain(value) for value in args)
            message = str(record.msg) % args if args else str(record.msg)
        except (TypeError, ValueError):
            return True  # leave a malformed record to logging's own error report
        record.msg, record.args = escape_markup(_CONTROL.sub(lambda found: repr(found.group(0))[1:-1], message)), ()
        record._plain_text = True  # type: ignore[attr-defined]
        return True


def install_plain_text_filter(logger: logging.Logger | None = None) -> None:
    """Adds :class:`PlainTextFilter` to every rich handler of ``logger`` (the root logger by default) lacking one."""
    try:
        from rich.logging import RichHandler  # noqa: PLC0415 - Kedro's handler; plain handlers need no escaping
    except ImportError:
        return
    for handler in (logger or logging.getLogger()).handlers:
        if isinstance(handler, RichHandler) and not any(isinstance(existing, PlainTextFilter) for existing in handler.filters):
            handler.addFilter(PlainTextFilter())


class PlainErrorsHook:
    """Installs :func:`short_errors` and :class:`PlainTextFilter` when a session starts (``settings.HOOKS``)."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        short_errors()
        install_plain_text_filter()
