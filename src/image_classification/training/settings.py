"""The settings of the fit loop: one typed object, its defaults, and their validation.

``TrainingSettings`` is the only place the defaults live. The YAML's shared ``training:`` block, a strategy's
``<strategy>.training`` and a model's own ``training:`` are merged key by key (``merge_training_config``) and read
with ``TrainingSettings.from_config``, which the nodes, the run checks and the profile tests all use.

``LinearProbeSettings`` (``baseline.linear_probe``) and ``DistributionSettings`` (``distribution``) are here too, not
beside the scikit-learn fit (``linear_probe.py``) and the Keras distribution (``distribution.py``) that use them:
nodes are annotated with the first, the run checks read the second, and this module imports neither Keras nor
scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import Field, field_validator

from image_classification.config import (
    SettingProblem,
    StrictSettings,
    raise_for,
    read_blocks,
)

__all__ = ["DEFAULT_C_VALUES", "DISTRIBUTION_STRATEGIES", "DistributionSettings", "LinearProbeSettings", "TrainingProblem",
           "TrainingSettings", "check_training_blocks", "merge_training_config", "raise_for",
           "training_block_names"]  # fmt: skip

OPTIMIZER_NAMES = ("adam", "adamw", "sgd", "rmsprop")
LR_SCHEDULES = ("constant", "cosine")
#: Upper bounds, far above any real use, so that a typo is refused by name before the run.
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 65_536
MAX_LEARNING_RATE = 10.0
CLASS_WEIGHTS = (None, "balanced")
# Beta(alpha, alpha) above this is all but constant at 0.5: larger values are typos, not settings.
_MAX_MIXING_ALPHA = 10.0


class TrainingSettings(StrictSettings):
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
        restore_best_epoch: Keep the weights of the epoch with the lowest ``val_loss`` (true) or of the last epoch
            (false: the schedule's length, fixed beforehand, decides, not a small validation split).
        reduce_lr_patience: Epochs without improvement before multiplying a constant learning rate by
            ``reduce_lr_factor``; null disables it (required with ``cosine``, whose rate is set by the schedule).
        reduce_lr_factor: See ``reduce_lr_patience``.
        seed: Seeds Python, NumPy and the backend, and the batch order.
        verbose: Progress output: 0 none, 1 one line per model (``training.progress``), 2 Keras's line per epoch.
        checkpoint_root: Folder for each model's best checkpoint and resume state; null keeps none.
        mixed_precision: Build the model with 16-bit compute and float32 variables (``training.precision``):
            ``mixed_float16`` with loss scaling on a GPU, ``mixed_bfloat16`` on CPU; the output stays float32.
        mixup_alpha: Mixup of shuffled training batches: each batch blends its images and labels with a permutation
            of itself by lam ~ Beta(alpha, alpha); 0 turns it off. Validation batches are never mixed.
        cutmix_alpha: CutMix of training batches: a box of area 1 - lam, lam ~ Beta(alpha, alpha), is pasted from
            the permuted images and the labels are weighed by area; 0 turns it off.
        mixing_switch_prob: With both alphas above 0, the probability that a batch gets CutMix instead of mixup.
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
    restore_best_epoch: bool = True
    reduce_lr_patience: int | None = 3
    reduce_lr_factor: float = 0.5
    seed: int = 42
    verbose: int = 1
    checkpoint_root: str | None = None
    mixed_precision: bool = False
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mixing_switch_prob: float = 0.5

    WHAT: ClassVar[str] = "training setting"
    LOWERCASE: ClassVar[tuple[str, ...]] = ("optimizer", "lr_schedule", "class_weight")

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
            ("mixup_alpha", 0 <= self.mixup_alpha <= _MAX_MIXING_ALPHA, f"0 (off) to {_MAX_MIXING_ALPHA:g}"),
            ("cutmix_alpha", 0 <= self.cutmix_alpha <= _MAX_MIXING_ALPHA, f"0 (off) to {_MAX_MIXING_ALPHA:g}"),
            ("mixing_switch_prob", 0 <= self.mixing_switch_prob <= 1, "between 0 and 1"),
            ("epochs", self.epochs <= MAX_EPOCHS, f"at most {MAX_EPOCHS:,}"),
            ("batch_size", self.batch_size <= MAX_BATCH_SIZE, f"at most {MAX_BATCH_SIZE:,}"),
            ("learning_rate", self.learning_rate <= MAX_LEARNING_RATE, f"at most {MAX_LEARNING_RATE:g}"),
            ("warmup_epochs", self.warmup_epochs <= MAX_EPOCHS, f"at most {MAX_EPOCHS:,}"),
            ("early_stopping_patience", (self.early_stopping_patience or 0) <= MAX_EPOCHS, f"at most {MAX_EPOCHS:,}, or null"),
            ("reduce_lr_patience", (self.reduce_lr_patience or 0) <= MAX_EPOCHS, f"at most {MAX_EPOCHS:,}, or null"),
        ]

    @property
    def mixes_batches(self) -> bool:
        """Whether training batches are mixed (mixup or CutMix)."""
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


#: One bad training setting (the generic ``SettingProblem``): its dotted name, the value found and what a valid one is.
TrainingProblem = SettingProblem


def check_training_blocks(
    blocks: Sequence[tuple[Mapping[str, Any] | None, str]],
) -> tuple[TrainingSettings | None, list[SettingProblem]]:
    """Merges ``training`` blocks (later ones override earlier ones key by key) and checks them all at once.

    Args:
        blocks: ``(block, name)`` pairs, e.g. ``[(shared, "training"), (strategy, "finetune.training"),
            (model, "finetune.models.mobilenet_v2.training")]``.

    Returns:
        The settings (None when there are problems) and every problem, each naming the block that set the key.
    """
    return read_blocks(TrainingSettings, blocks)


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


#: 1e-4 to 1e2, one value per decade: the range the CLIP linear-probe protocol sweeps.
DEFAULT_C_VALUES = tuple(10.0**exponent for exponent in range(-4, 3))


class LinearProbeSettings(StrictSettings):
    """``baseline.linear_probe`` (parameters_baseline.yml): how the probe and the L-BFGS transfer heads choose ``C``.

    Attributes:
        c_values: Inverse regularisation strengths to try (scikit-learn's ``C``), each > 0.
        inner_folds: Stratified folds of the inner cross-validation (fewer when a class has fewer images).
        max_iter: Most L-BFGS iterations per fit.
        seed: Seed of the inner folds.
    """

    c_values: tuple[float, ...] = Field(default=DEFAULT_C_VALUES, min_length=1, max_length=50)
    inner_folds: int = Field(default=5, ge=2, le=20)
    max_iter: int = Field(default=2000, ge=10, le=100_000)
    seed: int = 0

    @field_validator("c_values")
    @classmethod
    def _positive(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if any(value <= 0 for value in values):
            raise ValueError("every C must be > 0 (for example [0.001, 0.01, 0.1, 1, 10]).")
        return tuple(sorted(set(values)))


#: ``distribution.strategy``: one device (null), or the batch split over every accelerator (``distribution.py``).
DISTRIBUTION_STRATEGIES = (None, "data_parallel")


class DistributionSettings(StrictSettings):
    """``distribution`` (conf/base/parameters_distribution.yml), read by the run checks before any node runs.

    Attributes:
        strategy: Null (one device) or ``data_parallel``.
        devices: JAX only: the devices to use (e.g. ``["gpu:0", "gpu:1"]``); null: every accelerator.
    """

    strategy: str | None = None
    devices: list[Any] | None = None

    WHAT: ClassVar[str] = "distribution setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        return [("strategy", self.strategy in DISTRIBUTION_STRATEGIES, "null (one device) or data_parallel")]
