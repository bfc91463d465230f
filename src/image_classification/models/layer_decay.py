"""Layer-wise learning-rate decay over a transfer model's backbone blocks (discriminative fine-tuning rates).

The head learns at the full rate and each backbone block below it at ``decay`` times the rate of the block above:
the top block (nearest the head) gets ``decay``, the next ``decay ** 2``, and so on down to the stem. Early layers
hold generic features that small data should barely move; the top ones are the most task-specific. The multipliers
are keyed by ``variable.path`` for ``training.compile_model(learning_rate_multipliers=...)``. Backend-neutral Keras 3.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import keras

from image_classification.models.transfer import BLOCK_STARTS, head_model

_MODEL_PREFIX = "transfer_"
# Backbones whose block pattern names a block's last layer rather than its first (see transfer.BLOCK_STARTS).
_PATTERN_ENDS_BLOCK = ("inception_v3",)


def backbone_block_indices(backbone_name: str, layer_names: Sequence[str]) -> list[int]:
    """The block of each backbone layer, counted from the bottom: 0 for the stem before the first block, then 1..S.

    Args:
        backbone_name: A key of ``transfer.BLOCK_STARTS``.
        layer_names: The backbone's layer names in order (``[layer.name for layer in backbone.layers]``).

    Returns:
        One block index per layer. Layers after the last block start (MobileNetV2's ``Conv_1`` ... ``out_relu``)
        belong to the top block, S.
    """
    pattern = BLOCK_STARTS[backbone_name]
    ends_block = backbone_name in _PATTERN_ENDS_BLOCK
    blocks, block = [], 0
    for position, name in enumerate(layer_names):
        matches = re.fullmatch(pattern, name) is not None
        if matches and not ends_block:
            block += 1
        blocks.append(block)
        # A block's last layer: the next layer starts a block (unless nothing follows it).
        if matches and ends_block and position < len(layer_names) - 1:
            block += 1
    return blocks


def _backbone_name(model: keras.Model, backbone_name: str | None) -> str:
    name = backbone_name if backbone_name is not None else model.name.removeprefix(_MODEL_PREFIX)
    if name not in BLOCK_STARTS:
        raise ValueError(
            f"Cannot tell the blocks of model '{model.name}': backbone '{name}' is not one of "
            f"{', '.join(BLOCK_STARTS)}; pass backbone_name, or build the model with build_transfer_model."
        )
    return name


def block_learning_rate_multipliers(
    model: keras.Model, decay: float, backbone_name: str | None = None
) -> dict[str, float]:
    """Learning-rate multipliers of a transfer model's variables: 1 for the head, ``decay ** (k + 1)`` for block k.

    Blocks are counted from the top of the backbone (k = 0 for the block nearest the head) and start at the layers
    matching ``transfer.BLOCK_STARTS``; the stem below the first block counts as one block more. Every variable of
    the backbone is listed, trainable or not, so the multipliers stay right whichever blocks are unfrozen later.

    Args:
        model: A model from ``transfer.build_transfer_model`` (or one loaded from its saved file).
        decay: Factor between one block's rate and the next lower one's: 0 < decay <= 1 (1 gives every variable
            the full rate).
        backbone_name: The backbone's registry name; None reads it from the model name ``transfer_<backbone>``.

    Returns:
        ``{variable.path: multiplier}`` for every backbone and head variable.

    Raises:
        ValueError: ``decay`` out of range (named ``layer_decay``), a model without the transfer layout, an
            unknown backbone, or two variables sharing a path.
    """
    if isinstance(decay, bool) or not isinstance(decay, int | float) or not 0 < decay <= 1:
        raise ValueError(f"layer_decay must be a number with 0 < layer_decay <= 1, got {decay!r}.")
    head = head_model(model)  # checks the transfer layout
    backbone = model.get_layer("backbone")
    name = _backbone_name(model, backbone_name)
    blocks = backbone_block_indices(name, [layer.name for layer in backbone.layers])
    top = max(blocks, default=0)
    multipliers: dict[str, float] = {}

    def add(variables: Sequence[keras.Variable], multiplier: float) -> None:
        for variable in variables:
            if multipliers.setdefault(variable.path, multiplier) != multiplier:
                raise ValueError(
                    f"Two variables of model '{model.name}' share the path '{variable.path}' with different "
                    "multipliers; rename one of their layers."
                )

    for layer, block in zip(backbone.layers, blocks, strict=True):
        # The stem (block 0) sits one below the lowest block: depth ``top`` from the top.
        depth_from_top = top - block if block > 0 else top
        add(layer.weights, float(decay ** (depth_from_top + 1)))
    add(head.weights, 1.0)
    return multipliers
