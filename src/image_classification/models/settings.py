"""The settings of one model under ``<strategy>.models.<name>``: typed objects, their defaults and key checks.

The nodes of the scratch, transfer and finetune pipelines, the run checks and the profile tests read a model's
block through these classes, so its keys and defaults live here only. What the values must name (a registered
architecture, a backbone, a layer) is checked against the registries by the run checks; each model's ``training``
block is read by ``image_classification.training.TrainingSettings``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from image_classification.config import StrictSettings, setting_keys
from image_classification.data.settings import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE


def _image_size_rule(image_size: int | None) -> tuple[str, bool, str]:
    valid = image_size is None or MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE
    return (
        "image_size",
        valid,
        f"from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} pixels, or null (the strategy's, else preprocess.image_size)",
    )


class ScratchModelSettings(StrictSettings):
    """``scratch.models.<name>``: a network trained from scratch.

    Attributes:
        architecture: A scratch registry name; null: the model's own name.
        image_size: Side of the preprocessed images it trains and is evaluated on; null: ``scratch.image_size``,
            else ``preprocess.image_size``.
        input_size: Pixels the net sees (it resizes its input itself); null: the preprocessed size.
        options: Keyword arguments of the architecture's builder (e.g. ``dense_units``, ``dropout``).
        training: Overrides of the strategy's ``training`` block (read by ``TrainingSettings``).
        enabled: False leaves the model out of the run.
    """

    architecture: str | None = None
    image_size: int | None = None
    input_size: int | None = None
    options: dict[str, Any] | None = None
    training: Any = None
    enabled: bool = True

    WHAT: ClassVar[str] = "scratch model setting"

    def architecture_of(self, model_name: str) -> str:
        """The architecture to build: ``architecture``, or the model's name when it names none."""
        return self.architecture or model_name

    def rules(self) -> list[tuple[str, bool, str]]:
        return [
            _image_size_rule(self.image_size),
            ("input_size", self.input_size is None or 1 <= self.input_size <= MAX_IMAGE_SIZE,
             f"from 1 to {MAX_IMAGE_SIZE} pixels, or null"),
        ]

#: How a transfer model's head is trained (its ``mode``): on embeddings cached once, or on images through the frozen
#: backbone.
MODES = ("feature_extraction", "end_to_end")


class TransferModelSettings(StrictSettings):
    """``transfer.models.<name>``: a pretrained backbone with a new head.

    Attributes:
        backbone: A backbone registry name (e.g. ``mobilenet_v2``); required.
        image_size: Side of the preprocessed images it trains and is evaluated on; null: ``transfer.image_size``,
            else ``preprocess.image_size``.
        weights: ``imagenet``, null (random initialisation) or the path of a no-top weights file.
        mode: ``feature_extraction`` (head trained on cached embeddings) or ``end_to_end``.
        pooling: ``avg`` or ``max``.
        head: The head's settings (``dense_units``, ``dropout``, ``batch_norm``); null: the defaults.
        seed: Seed of the head's initial weights; null: the training block's ``seed``.
        training: Overrides of the strategy's ``training`` block (read by ``TrainingSettings``).
        enabled: False leaves the model out of the run.
    """

    backbone: str | None = None
    image_size: int | None = None
    weights: str | None = "imagenet"
    mode: str = "feature_extraction"
    pooling: str = "avg"
    head: dict[str, Any] | None = None
    seed: int | None = None
    training: Any = None
    enabled: bool = True

    WHAT: ClassVar[str] = "transfer model setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        return [_image_size_rule(self.image_size)]


class FinetuneModelSettings(StrictSettings):
    """``finetune.models.<name>``: fine-tuning of the transfer model of the same name.

    Attributes:
        unfreeze_from: A layer name or a number of top layers to unfreeze; null: see ``unfreeze_blocks``.
        image_size: Must be the size of the transfer model it starts from (its input is fixed); null: that size.
        unfreeze_blocks: A number of top blocks to unfreeze; neither set: the backbone's default.
        layer_decay: Discriminative learning rates: the top block trains at ``layer_decay`` times the learning rate,
            each block below at another factor of it, the head at the full rate (``models.layer_decay``); null: one
            rate for every unfrozen layer.
        training: Overrides of the strategy's ``training`` block (read by ``TrainingSettings``).
        enabled: False leaves the model out of the run.
    """

    unfreeze_from: int | str | None = None
    unfreeze_blocks: int | None = None
    image_size: int | None = None
    layer_decay: float | None = None
    training: Any = None
    enabled: bool = True

    WHAT: ClassVar[str] = "finetune model setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        valid_decay = self.layer_decay is None or 0 < self.layer_decay <= 1
        return [_image_size_rule(self.image_size), ("layer_decay", valid_decay, "a number in (0, 1], or null")]


#: The settings class of each strategy's ``models`` entries.
MODEL_SETTINGS: dict[str, type] = {
    "scratch": ScratchModelSettings,
    "transfer": TransferModelSettings,
    "finetune": FinetuneModelSettings,
}


def model_setting_keys(strategy: str) -> tuple[str, ...]:
    """The keys a ``<strategy>.models.<name>`` block may have."""
    return setting_keys(MODEL_SETTINGS[strategy])
