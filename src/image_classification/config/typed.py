"""The base of every settings block: a frozen pydantic model that Kedro's parameter validator checks, with a "did
you mean" for unknown keys and the project's domain rules.

A node parameter annotated with a subclass (``def split_dataset(..., split: SplitSettings)``) is instantiated by
``kedro.validation`` before the run, scoped to the pipelines being run; a bad value stops the run naming the
parameter. The run checks (``project/run_checks.py``) read blocks a node does not take whole (the ``training`` blocks
merged shared -> strategy -> model, each model's block with its backbone) through ``settings_from``, which turns the
same validation into one ``SettingProblem`` per bad key, named ``<block>.<key>``.

A settings class may define:

* ``rules(self) -> list[tuple[key, valid, expected]]``: domain rules on values and on how settings combine; each
  failed rule is "must be <expected>." (checked after the types, by a model validator);
* ``LOWERCASE``: string fields read case-insensitively (stored lowercased);
* ``WHAT``: how the settings are called in messages (``"training setting"``).

A key that is a Python keyword (``ingest.labels.from``) is a field with a trailing underscore and the key as alias.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

S = TypeVar("S", bound="StrictSettings")

#: pydantic's error types -> what a valid value is, in the words of the project's other messages.
_EXPECTED = {
    "int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
    "float_parsing": "a number", "float_type": "a number", "bool_parsing": "true or false", "bool_type": "true or false",
    "string_type": "a string", "list_type": "a list", "tuple_type": "a list", "dict_type": "a mapping",
}  # fmt: skip


class SettingProblem(NamedTuple):
    """One bad setting: its dotted name, the value found and what a valid one is."""

    parameter: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"Setting {self.parameter} = {self.value!r}: {self.message}"


class RuleError(ValueError):
    """The failed domain rules of one settings block, as ``(key, value, message)``; pydantic carries it in the
    error's context, so ``settings_from`` can name each key."""

    def __init__(self, failures: list[tuple[str, Any, str]]) -> None:
        self.failures = failures
        super().__init__("; ".join(f"{key} = {value!r}: {message}" for key, value, message in failures))


class StrictSettings(BaseModel):
    """Frozen, no unknown keys (the closest known one named), lax types, and the domain ``rules``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, coerce_numbers_to_str=True)

    WHAT: ClassVar[str] = "setting"
    LOWERCASE: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def read(cls: type[S], value: Any) -> S:
        """``value`` as these settings: kept when Kedro's validator already made it one, else validated.

        Raises:
            pydantic.ValidationError: (a ValueError) naming each bad key.
        """
        return value if isinstance(value, cls) else cls.model_validate({} if value is None else value)

    @model_validator(mode="before")
    @classmethod
    def _lowercase(cls, values: Any) -> Any:
        if not isinstance(values, Mapping):
            return values
        return {key: value.lower() if key in cls.LOWERCASE and isinstance(value, str) else value
                for key, value in values.items()}  # fmt: skip

    @model_validator(mode="wrap")
    @classmethod
    def _did_you_mean(cls, values: Any, handler: ModelWrapValidatorHandler) -> Any:
        # pydantic's "Extra inputs are not permitted", with the closest known key; the other errors as they were.
        try:
            return handler(values)
        except ValidationError as error:
            own_extra = [detail["type"] == "extra_forbidden" and len(detail["loc"]) == 1 for detail in error.errors()]
            if not any(own_extra):  # a nested block's unknown keys were named by that block's own validator
                raise
            details = []
            for detail, extra in zip(error.errors(), own_extra, strict=True):
                message = detail["msg"]
                if extra:
                    message = unknown_keys({detail["loc"][0]: None}, setting_keys(cls), "", cls.WHAT)[0].message
                escaped = message.replace("{", "{{").replace("}", "}}")  # the message is a format string
                details.append(InitErrorDetails(type=PydanticCustomError(detail["type"], escaped), loc=detail["loc"],
                                                input=detail["input"]))  # fmt: skip
            raise ValidationError.from_exception_data(cls.__name__, details) from None

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads true as 1; ``epochs: yes`` is a typo, not one epoch.
        kinds = _kinds(cls.model_fields[info.field_name].annotation)
        if isinstance(value, bool) and bool not in kinds and Any not in kinds and kinds & {int, float}:
            raise ValueError(f"must be {'a whole number' if int in kinds else 'a number'}.")
        return value

    @model_validator(mode="after")
    def _domain_rules(self) -> StrictSettings:
        failures = [(key, getattr(self, _field(type(self), key)), f"must be {expected}.")
                    for key, valid, expected in self.rules() if not valid]  # fmt: skip
        if failures:
            raise RuleError(failures)
        return self

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every domain rule; none by default."""
        return []


def setting_keys(cls: type[StrictSettings]) -> tuple[str, ...]:
    """The keys a settings block of ``cls`` may have, as written in the YAML, in order (``from_`` read as ``from``).

    A function, not a method: a model with a ``keys`` method would look like a mapping to ``dict(settings)``.
    """
    return tuple(field.alias or name for name, field in cls.model_fields.items())


def unknown_keys(
    block: Mapping[str, Any], keys: Sequence[str], where: str, what: str = "setting"
) -> list[SettingProblem]:
    """A problem for each key of ``block`` not in ``keys``, with a "did you mean" when one is close.

    Also for blocks read without a settings class (an architecture's options, a head, the augmentation layers, the
    top level of the parameters, whose ``where`` is "").
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

    Returns:
        The settings (None when there are problems) and every problem, each named ``<where>.<key>``.
    """
    return read_blocks(cls, [(block, where)])


def load_settings(cls: type[S], block: Any, where: str) -> S:
    """One block (or settings Kedro's validator already made) as ``cls``, for code that needs the settings.

    Raises:
        ValueError: Every unknown key (with a "did you mean") and every value of the wrong type or range, each
            named ``<where>.<key>``.
    """
    if isinstance(block, cls):
        return block
    settings, problems = settings_from(cls, [(block, where)])
    raise_for(problems)
    return settings


def read_blocks(
    cls: type[S], blocks: Sequence[tuple[Mapping[str, Any] | None, str]]
) -> tuple[S | None, list[SettingProblem]]:
    """Merges blocks (later ones override earlier ones key by key) and checks them all at once.

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
    problems: list[SettingProblem] = []
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for given, where in blocks:
        block = given.model_dump(by_alias=True) if isinstance(given, StrictSettings) else given
        if block is not None and not isinstance(block, Mapping):
            problems.append(SettingProblem(where, block, f"must be a mapping of {cls.WHAT}s (or left out)."))
            continue
        problems += unknown_keys(block or {}, setting_keys(cls), where, cls.WHAT)
        own = {key: value.lower() if key in cls.LOWERCASE and isinstance(value, str) else value
               for key, value in (block or {}).items() if key in setting_keys(cls)}  # fmt: skip
        # Each block's types on their own: a shared block's bad value is named even where a later block overrides it.
        wrong = _type_problems(cls, own, where)
        problems += wrong
        flagged = {problem.parameter for problem in wrong}
        for key, value in own.items():
            if not any(name == f"{where}.{key}" or name.startswith(f"{where}.{key}.") for name in flagged):
                values[key], origin[key] = value, where
    unset_where = blocks[-1][1] if blocks else cls.WHAT
    try:
        return cls.model_validate(values), problems
    except ValidationError as error:  # the types are right by now: the domain rules failed
        failures = [SettingProblem(f"{origin.get(key, unset_where)}.{key}", value, message)
                    for detail in error.errors() if _is_rule_error(detail) and not detail["loc"]
                    for key, value, message in detail["ctx"]["error"].failures]  # fmt: skip
        return cls.model_construct(**_by_field(cls, values)), problems + failures


def raise_for(problems: Sequence[Any]) -> None:
    """One ValueError listing every problem, if there are any."""
    if problems:
        raise ValueError(" ".join(str(problem) for problem in problems))


def _type_problems(cls: type[StrictSettings], values: Mapping[str, Any], where: str) -> list[SettingProblem]:
    """One problem per key of ``values`` whose value is of the wrong type (or null where that is not allowed), and
    per failed rule of a nested block (``split.selection.top_n_classes``), each named by its dotted path."""
    try:
        cls.model_validate(values)
    except ValidationError as error:
        problems: list[SettingProblem] = []
        for detail in error.errors():
            path = [str(part) for part in detail["loc"]]
            if not path or path[0] not in values:
                continue  # the block's own rules are checked on the merged blocks
            named = f"{where}.{'.'.join(path)}"
            if _is_rule_error(detail):
                problems += [SettingProblem(f"{named}.{key}", value, message)
                             for key, value, message in detail["ctx"]["error"].failures]  # fmt: skip
                continue
            if named in {problem.parameter for problem in problems}:
                continue  # a union's members fail alike
            value = _nested(values, path)
            if value is None:
                message = "may not be null; remove it to use the default."
            else:
                message = f"must be {_EXPECTED[detail['type']]}." if detail["type"] in _EXPECTED else detail["msg"]
            problems.append(SettingProblem(named, value, message.removeprefix("Value error, ")))
        return problems
    return []


def _nested(values: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at ``path`` in nested mappings; None where the path leaves them."""
    value: Any = values
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _is_rule_error(detail: Mapping[str, Any]) -> bool:
    return isinstance((detail.get("ctx") or {}).get("error"), RuleError)


def _by_field(cls: type[StrictSettings], values: Mapping[str, Any]) -> dict[str, Any]:
    """YAML keys -> field names (``from`` -> ``from_``), as ``model_construct`` takes them."""
    return {_field(cls, key): value for key, value in values.items()}


def _kinds(annotation: Any) -> set[Any]:
    """The types a field's annotation allows (the members of a union)."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return set(typing.get_args(annotation)) if union else {annotation}


def _field(cls: type[StrictSettings], key: str) -> str:
    """The field of a YAML key: ``from`` -> ``from_``."""
    return next((name for name, field in cls.model_fields.items() if field.alias == key), key)


def _prefixed(key: str, keys: Sequence[str]) -> list[str]:
    """The one key that ``key`` is the start of (``top_n`` -> ``top_n_classes``), if exactly one is."""
    matches = [name for name in keys if len(key) >= 3 and name.startswith(key)]
    return matches if len(matches) == 1 else []
