"""Reads a parameters block into a frozen, typed settings dataclass, collecting every problem at once.

A settings class is a frozen dataclass whose fields are the block's keys, whose defaults are the YAML's and whose
type hints say what each value may be (``int``, ``float``, ``str``, ``bool``, ``list``, ``dict``, ``Any``, unions of
them, ``| None`` for nullable ones). It may also define:

* ``rules(self) -> list[tuple[key, valid, expected]]``: checks on values and on how settings combine; each failed
  rule becomes "must be <expected>.";
* ``LOWERCASE: ClassVar[tuple[str, ...]]``: string fields read case-insensitively (stored lowercased);
* ``WHAT: ClassVar[str]``: how the settings are called in messages (``"training setting"``); ``"setting"`` by default.

A key that is a Python keyword (``ingest.labels.from``) is the field of that name with a trailing underscore
(``from_``); messages and ``setting_keys`` use the key as written in the YAML.
"""

from __future__ import annotations

import difflib
import keyword
import numbers
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any, NamedTuple, TypeVar

S = TypeVar("S")

_TYPE_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "a string",
               list: "a list", dict: "a mapping"}  # fmt: skip


class SettingProblem(NamedTuple):
    """One bad setting: its dotted name, the value found and what a valid one is."""

    parameter: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"Setting {self.parameter} = {self.value!r}: {self.message}"


def setting_keys(cls: type) -> tuple[str, ...]:
    """The keys a settings block of ``cls`` may have: its dataclass fields, in order (``from_`` read as ``from``)."""
    return tuple(_key(field.name) for field in fields(cls))


def unknown_keys(
    block: Mapping[str, Any], keys: Sequence[str], where: str, what: str = "setting"
) -> list[SettingProblem]:
    """A problem for each key of ``block`` not in ``keys``, with a "did you mean" when one is close.

    For blocks read without a settings class (an architecture's options, a head, the augmentation layers, the top
    level of the parameters, whose ``where`` is "").
    """
    problems = []
    for key, value in block.items():
        if key not in keys:
            close = difflib.get_close_matches(str(key), list(keys), n=1) or _prefixed(str(key), keys)
            hint = f"did you mean '{close[0]}'? " if close else ""
            message = f"unknown {what}; {hint}Allowed: {', '.join(keys) or 'none'}."
            problems.append(SettingProblem(f"{where}.{key}" if where else str(key), value, message))
    return problems


def read_settings(cls: type[S], block: Mapping[str, Any] | None, where: str) -> tuple[S | None, list[SettingProblem]]:
    """Reads one block; missing keys take the class's defaults.

    Args:
        cls: A frozen settings dataclass (see the module docstring).
        block: The block from the parameters; None reads as empty.
        where: The block's dotted name in messages (e.g. ``scratch.models.basenet``).

    Returns:
        The settings (None when there are problems) and every problem, each named ``<where>.<key>``.
    """
    return read_blocks(cls, [(block, where)])


def load_settings(cls: type[S], block: Mapping[str, Any] | None, where: str) -> S:
    """Reads one block, as ``read_settings`` does, for code that needs the settings (a node).

    Raises:
        ValueError: Every unknown key (with a "did you mean") and every value of the wrong type or range, each
            named ``<where>.<key>``.
    """
    settings, problems = settings_from(cls, [(block, where)])
    raise_for(problems)
    return settings


def read_blocks(
    cls: type[S], blocks: Sequence[tuple[Mapping[str, Any] | None, str]]
) -> tuple[S | None, list[SettingProblem]]:
    """Merges blocks (later ones override earlier ones key by key) and checks them all at once.

    Args:
        cls: A frozen settings dataclass (see the module docstring).
        blocks: ``(block, name)`` pairs, most general first.

    Returns:
        The settings (None when there are problems) and every problem, each naming the block that set the key. A
        failed rule on a key no block set is named after the last (most specific) block.
    """
    settings, problems = settings_from(cls, blocks)
    return (None if problems else settings), problems


def settings_from(
    cls: type[S], blocks: Sequence[tuple[Mapping[str, Any] | None, str]]
) -> tuple[S, list[SettingProblem]]:
    """Like ``read_blocks``, but always returns settings: the keys with problems keep their defaults."""
    if not (is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"{cls!r} is not a settings dataclass.")
    what = getattr(cls, "WHAT", "setting")
    keys, hints = setting_keys(cls), _hints(cls)
    problems: list[SettingProblem] = []
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for block, where in blocks:
        if block is not None and not isinstance(block, Mapping):
            problems.append(SettingProblem(where, block, f"must be a mapping of {what}s (or left out)."))
            continue
        problems += unknown_keys(block or {}, keys, where, what)
        for key, value in (block or {}).items():
            if key not in keys:
                continue
            try:
                values[_field(key)] = _converted(value, hints[_field(key)], key in getattr(cls, "LOWERCASE", ()))
                origin[key] = where
            except ValueError as error:
                problems.append(SettingProblem(f"{where}.{key}", value, str(error)))
    flagged = {problem.parameter.rsplit(".", 1)[-1] for problem in problems}
    settings = cls(**values)
    unset_where = blocks[-1][1] if blocks else what
    rules = settings.rules() if hasattr(settings, "rules") else []
    problems += [
        SettingProblem(f"{origin.get(key, unset_where)}.{key}", getattr(settings, _field(key)), f"must be {expected}.")
        for key, valid, expected in rules
        if not valid and key not in flagged
    ]
    return settings, problems


def raise_for(problems: Sequence[Any]) -> None:
    """One ValueError listing every problem, if there are any."""
    if problems:
        raise ValueError(" ".join(str(problem) for problem in problems))


def _key(field_name: str) -> str:
    """The YAML key of a field: ``from_`` -> ``from``."""
    stripped = field_name.removesuffix("_")
    return stripped if field_name.endswith("_") and keyword.iskeyword(stripped) else field_name


def _field(key: str) -> str:
    """The field of a YAML key: ``from`` -> ``from_``."""
    return f"{key}_" if keyword.iskeyword(key) else key


def _prefixed(key: str, keys: Sequence[str]) -> list[str]:
    """The one key that ``key`` is the start of (``top_n`` -> ``top_n_classes``), if exactly one is."""
    matches = [name for name in keys if len(key) >= 3 and name.startswith(key)]
    return matches if len(matches) == 1 else []


@cache
def _hints(cls: type) -> dict[str, tuple[type, ...]]:
    """Each field's allowed types, ``NoneType`` included for ``| None``; ``object`` stands for ``Any``."""
    allowed = {}
    for key, hint in typing.get_type_hints(cls).items():
        parts = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        allowed[key] = tuple(object if part is Any else typing.get_origin(part) or part for part in parts)
    return allowed


def _converted(value: Any, kinds: tuple[type, ...], lowercase: bool = False) -> Any:
    """``value`` as one of ``kinds``; a ValueError saying what is expected when it is none of them."""
    if value is None:
        if type(None) in kinds or object in kinds:
            return None
        raise ValueError("may not be null; remove it to use the default.")
    kinds = tuple(kind for kind in kinds if kind is not type(None))
    if object in kinds:
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):  # NumPy's too (a served model's params)
        value = int(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, float | bool):
        value = float(value)
    for kind in kinds:  # a value already of an allowed type is kept as it is (an int stays an int in int | str)
        if isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool):
            return value.lower() if lowercase and isinstance(value, str) else value
    for kind in kinds:
        if kind is str:
            return str(value).lower() if lowercase else str(value)
        if kind in (int, float) and isinstance(value, int | float) and not isinstance(value, bool):
            if kind is float or value == int(value):
                return kind(value)
    expected = " or ".join(_TYPE_NAMES.get(kind, kind.__name__) for kind in kinds)
    if len(kinds) == 1 and kinds[0] in (int, float):
        expected = _TYPE_NAMES[kinds[0]]
    raise ValueError(f"must be {expected}.")
