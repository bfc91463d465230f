"""The settings of the fit loop: one typed object, its defaults, and their validation.

``TrainingSettings`` is the only place the defaults live. The YAML's shared ``training:`` block, a strategy's
``<strategy>.training`` and a model's own ``training:`` are merged key by key (``merge_training_config``) and read
with ``TrainingSettings.from_config``, which the nodes, the run checks and the profile tests all use.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

OPTIMIZER_NAMES = ("adam", "adamw", "sgd", "rmsprop")
LR_SCHEDULES = ("constant", "cosine")
CLASS_WEIGHTS = (None, "balanced")


@dataclass(frozen=True)
class TrainingSettings:
    """What one ``fit`` needs. Every field is a key of the YAML ``training:`` blocks.

    Attributes:
        epochs: Most epochs to train.
        batch_size: Images per batch.
        learning_rate: Peak learning rate (after warmup) of the optimizer.
        optimizer: ``adam``, ``adamw``, ``sgd`` or ``rmsprop`` (Keras's defaults otherwise).
        momentum: Momentum of ``sgd`` and ``rmsprop`` (ignored by the Adam family).
        lr_schedule: ``constant``, or ``cosine``: linear warmup over ``warmup_epochs`` then cosine decay to
            ``min_lr_ratio * learning_rate`` at the last epoch (``keras.optimizers.schedules.CosineDecay``).
        warmup_epochs: Epochs of linear warmup from 0 (``cosine`` only; fractions allowed). A run shorter than
            that warms up over all but its last step.
        min_lr_ratio: Final learning rate as a fraction of ``learning_rate`` (``cosine`` only).
        label_smoothing: Label smoothing of the categorical cross-entropy (0 disables it).
        class_weight: ``balanced`` weighs each class by N / (classes * count); null weighs all alike.
        early_stopping_patience: Epochs without ``val_loss`` improvement before stopping; null never stops early.
            The best epoch's weights are restored either way.
        reduce_lr_patience: Epochs without improvement before multiplying a constant learning rate by
            ``reduce_lr_factor``; null disables it (required with ``cosine``, whose rate is set by the schedule).
        reduce_lr_factor: See ``reduce_lr_patience``.
        seed: Seeds Python, NumPy and the backend, and the batch order.
        verbose: Keras progress output (0 silent, 1 bar, 2 one line per epoch).
        checkpoint_root: Folder for each model's best checkpoint and resume state; null keeps none.
    """

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.0
    lr_schedule: str = "constant"
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.0
    label_smoothing: float = 0.0
    class_weight: str | None = None
    early_stopping_patience: int | None = 5
    reduce_lr_patience: int | None = 3
    reduce_lr_factor: float = 0.5
    seed: int = 42
    verbose: int = 1
    checkpoint_root: str | None = None

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(field.name for field in fields(cls))

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, where: str = "training") -> TrainingSettings:
        """Reads and checks one merged ``training`` block; missing keys take the defaults above.

        Args:
            config: The merged settings.
            where: How the block is named in error messages (e.g. ``finetune.training``).

        Raises:
            ValueError: Every unknown key (with a "did you mean") and every value of the wrong type or range, each
                named ``<where>.<key>``.
        """
        settings, problems = check_training_blocks([(config, where)])
        raise_for(problems)
        return settings

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on values and on how settings combine."""
        return [
            ("epochs", self.epochs >= 1, "at least 1"),
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("learning_rate", self.learning_rate > 0, "a positive number"),
            ("momentum", 0 <= self.momentum < 1, "between 0 and 1"),
            ("optimizer", self.optimizer in OPTIMIZER_NAMES, f"one of {', '.join(OPTIMIZER_NAMES)}"),
            ("lr_schedule", self.lr_schedule in LR_SCHEDULES, f"one of {', '.join(LR_SCHEDULES)}"),
            ("warmup_epochs", self.warmup_epochs >= 0, "0 or more"),
            ("min_lr_ratio", 0 <= self.min_lr_ratio <= 1, "between 0 and 1"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "between 0 and 1"),
            ("class_weight", self.class_weight in CLASS_WEIGHTS, "'balanced' or null"),
            ("early_stopping_patience", (self.early_stopping_patience or 0) >= 0, "0 or more, or null"),
            ("reduce_lr_patience", (self.reduce_lr_patience or 0) >= 0, "0 or more, or null"),
            (
                "reduce_lr_patience",
                self.reduce_lr_patience is None or self.lr_schedule == "constant",
                f"null with lr_schedule '{self.lr_schedule}' (the schedule sets the rate)",
            ),
            ("reduce_lr_factor", 0 < self.reduce_lr_factor < 1, "between 0 and 1"),
        ]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_TYPES: dict[str, type] = {"epochs": int, "batch_size": int, "seed": int, "verbose": int,
                           "early_stopping_patience": int, "reduce_lr_patience": int,
                           "learning_rate": float, "momentum": float, "warmup_epochs": float, "min_lr_ratio": float,
                           "label_smoothing": float, "reduce_lr_factor": float,
                           "optimizer": str, "lr_schedule": str, "class_weight": str, "checkpoint_root": str}  # fmt: skip
_NULLABLE = {"class_weight", "early_stopping_patience", "reduce_lr_patience", "checkpoint_root"}


class TrainingProblem(NamedTuple):
    """One bad training setting: its dotted name, the value found and what a valid one is."""

    parameter: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"Setting {self.parameter} = {self.value!r}: {self.message}"


def check_training_blocks(
    blocks: Sequence[tuple[Mapping[str, Any] | None, str]],
) -> tuple[TrainingSettings | None, list[TrainingProblem]]:
    """Merges ``training`` blocks (later ones override earlier ones key by key) and checks them all at once.

    Args:
        blocks: ``(block, name)`` pairs, e.g. ``[(shared, "training"), (strategy, "finetune.training"),
            (model, "finetune.models.mobilenet_v2.training")]``.

    Returns:
        The settings (None when there are problems) and every problem, each naming the block that set the key.
    """
    problems, values, origin = [], {}, {}
    keys = TrainingSettings.keys()
    for block, where in blocks:
        if block is not None and not isinstance(block, Mapping):
            problems.append(TrainingProblem(where, block, "must be a mapping of training settings (or left out)."))
            continue
        for key, value in (block or {}).items():
            if key not in keys:
                close = difflib.get_close_matches(str(key), keys, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                problems.append(
                    TrainingProblem(f"{where}.{key}", value, f"unknown training setting; {hint}Allowed: {', '.join(keys)}.")
                )
                continue
            try:
                values[key], origin[key] = _converted(key, value), where
            except ValueError as error:
                problems.append(TrainingProblem(f"{where}.{key}", value, str(error)))
    flagged = {problem.parameter.rsplit(".", 1)[-1] for problem in problems}
    settings = TrainingSettings(**values)  # the keys that failed above keep their defaults here
    # A key nobody set is named where a user would set it: the most specific block.
    unset_where = blocks[-1][1] if blocks else "training"
    problems += [
        TrainingProblem(f"{origin.get(key, unset_where)}.{key}", getattr(settings, key), f"must be {expected}.")
        for key, valid, expected in settings.rules()
        if not valid and key not in flagged
    ]
    return (None if problems else settings), problems


def raise_for(problems: Sequence[TrainingProblem]) -> None:
    """One ValueError listing every problem, if there are any."""
    if problems:
        raise ValueError(" ".join(str(problem) for problem in problems))


def _converted(key: str, value: Any) -> Any:
    """``value`` as the field's type; a ValueError saying what is expected when it is not one."""
    if value is None:
        if key in _NULLABLE:
            return None
        raise ValueError("may not be null; remove it to use the default.")
    kind = _TYPES[key]
    if kind is str:
        return str(value).lower() if key in ("optimizer", "lr_schedule", "class_weight") else str(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and value != int(value)):
        raise ValueError(f"must be {'a whole number' if kind is int else 'a number'}.")
    return kind(value)


def merge_training_config(*blocks: Mapping[str, Any] | None) -> dict[str, Any]:
    """Later ``training`` blocks override earlier ones key by key (shared, then strategy, then model)."""
    merged: dict[str, Any] = {}
    for block in blocks:
        merged.update(block or {})
    return merged


def training_block_names(namespace: str) -> list[str]:
    """How the shared, strategy and model ``training`` blocks of ``<strategy>.<model>`` are named in parameters."""
    strategy, model = namespace.split(".", 1)
    return ["training", f"{strategy}.training", f"{strategy}.models.{model}.training"]
