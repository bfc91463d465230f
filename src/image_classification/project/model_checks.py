"""The checks of each model's parameters (scratch, transfer, finetune and their training blocks), for ``run_checks``.

Each check returns the problems it finds as ``ParameterProblem``s naming the parameter, the value and the fix. A
model's block is read by its settings class (``image_classification.models.settings``): unknown keys (with a "did
you mean") and badly typed values are reported by that one mechanism, the rest is checked against the registries.
The registries import Keras: each check imports them when it runs, so a run that trains no model never loads Keras.
"""

from __future__ import annotations

import difflib
import inspect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from image_classification.config import StrictSettings, settings_from, unknown_keys
from image_classification.data.settings import DEFAULT_IMAGE_SIZE, MIN_IMAGE_SIZE
from image_classification.models.settings import MODEL_SETTINGS, MODES
from image_classification.project.model_plan import model_image_size, valid_image_size
from image_classification.training import check_training_blocks, training_block_names

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParameterProblem:
    """One bad parameter: its full dotted name, the value found and what to do about it."""

    parameter: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{self.parameter} = {self.value!r}: {self.message}"



class StrategySettings(StrictSettings):
    """``scratch``, ``transfer`` or ``finetune``: the strategy's shared ``training`` overrides and its ``models``."""

    training: Any = None
    models: Any = None
    image_size: int | None = None

    WHAT: ClassVar[str] = "strategy setting"

    def rules(self) -> list[tuple[str, bool, str]]:
        valid = self.image_size is None or self.image_size >= MIN_IMAGE_SIZE
        return [("image_size", valid, f"at least {MIN_IMAGE_SIZE} pixels, or null (preprocess.image_size)")]


def check_strategy_block(parameters: dict[str, Any], strategy: str) -> list[ParameterProblem]:
    """Unknown keys of ``<strategy>`` (``scratch.trainng`` would leave the strategy's training block unread)."""
    _, problems = settings_from(StrategySettings, [(parameters.get(strategy), strategy)])
    return [ParameterProblem(*problem) for problem in problems]


def _choices(values: Iterable[Any]) -> str:
    return ", ".join(str(value) for value in values)


def unknown(parameter: str, value: Any, allowed: Iterable[Any], what: str) -> ParameterProblem:
    allowed = list(allowed)
    close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return ParameterProblem(parameter, value, f"unknown {what}. Allowed: {_choices(allowed)}.{hint}")


def check_training(parameters: dict[str, Any], strategy: str, name: str) -> list[ParameterProblem]:
    """Problems with the ``training`` settings one model trains with, each named by the block that set it."""
    blocks = [
        parameters.get("training"),
        (parameters.get(strategy) or {}).get("training"),
        _model_settings(parameters, strategy, name)[0].get("training"),
    ]
    names = training_block_names(f"{strategy}.{name}")
    _, problems = check_training_blocks(list(zip(blocks, names, strict=True)))
    # Named by the block that set the key, so a shared block's problem is the same for every model: reported once.
    return [ParameterProblem(*problem) for problem in problems]


def _model_settings(parameters: dict[str, Any], strategy: str, name: str) -> tuple[dict[str, Any], list]:
    settings = ((parameters.get(strategy) or {}).get("models") or {}).get(name)
    if settings is None or isinstance(settings, dict):
        return settings or {}, []
    where = f"{strategy}.models.{name}"
    return {}, [ParameterProblem(where, settings, "must be a mapping of settings (see parameters_*.yml).")]


def _read_model(parameters: dict[str, Any], strategy: str, name: str) -> tuple[Any, list[ParameterProblem]]:
    """``<strategy>.models.<name>`` as its settings class (keys with problems keep their defaults) and the problems."""
    block, problems = _model_settings(parameters, strategy, name)
    settings, read = settings_from(MODEL_SETTINGS[strategy], [(block, f"{strategy}.models.{name}")])
    return settings, problems + [ParameterProblem(*problem) for problem in read]


def size_parameter(parameters: dict[str, Any], strategy: str, name: str) -> str:
    """The parameter that sets the image size of ``<strategy>.models.<name>`` (as ``model_plan.model_image_size``
    reads it), for messages."""
    for where in (f"{strategy}.models.{name}", strategy):
        if valid_image_size(_block(parameters, where).get("image_size")):
            return f"{where}.image_size"
    return size_parameter(parameters, "transfer", name) if strategy == "finetune" else "preprocess.image_size"


def _block(parameters: dict[str, Any], dotted: str) -> dict[str, Any]:
    block: Any = parameters
    for key in dotted.split("."):
        block = block.get(key) if isinstance(block, dict) else None
    return block if isinstance(block, dict) else {}


def too_small(
    image_size: int, needed: int, model: str, parameter: str, size_parameter: str = "preprocess.image_size"
) -> ParameterProblem | None:
    if image_size >= needed:
        return None
    return ParameterProblem(
        size_parameter,
        image_size,
        f"{model} ({parameter}) needs images of at least {needed}x{needed} px. Raise {size_parameter} to "
        f"{needed} or more, or pick another model.",
    )


def _check_scratch(parameters: dict[str, Any], name: str, image_size: int | None) -> list[ParameterProblem]:
    from image_classification.models import scratch  # noqa: PLC0415 - imports Keras: see the module docstring

    settings, problems = _read_model(parameters, "scratch", name)
    where = f"scratch.models.{name}"
    architecture = settings.architecture_of(name)
    if architecture not in scratch.SCRATCH_MODELS:
        allowed = sorted(scratch.SCRATCH_MODELS)
        return [*problems, unknown(f"{where}.architecture", architecture, allowed, "scratch architecture")]
    options = settings.options or {}
    body = scratch.SCRATCH_MODELS[architecture]
    allowed_options = [p for p in inspect.signature(body).parameters if p not in ("x", "num_classes")]
    unknown_options = unknown_keys(options, allowed_options, f"{where}.options", f"option of '{architecture}'")
    if unknown_options:
        return [*problems, *(ParameterProblem(*problem) for problem in unknown_options)]
    input_size = settings.input_size  # its type and range: checked by ScratchModelSettings
    if image_size is not None:
        needed = scratch.model_min_size(architecture, **options)
        if input_size and 1 <= input_size < min(image_size, needed):
            problems.append(ParameterProblem(
                f"{where}.input_size", input_size,
                f"scratch model '{architecture}' needs at least {needed}x{needed} px: raise input_size to {needed}.",
            ))
        sized_by = size_parameter(parameters, "scratch", name)
        problems.append(too_small(image_size, needed, f"scratch model '{architecture}'", f"{where}.architecture", sized_by))
    return problems


def _imagenet_file_note(backbone: str, where: str) -> None:
    from image_classification.models import backbones  # noqa: PLC0415 - imports Keras: see the module docstring
    from image_classification.models.weights import local_imagenet_weights_file  # noqa: PLC0415

    spec = backbones.BACKBONES[backbone]
    if local_imagenet_weights_file(spec) is None:  # neither bundled nor in Keras's cache
        searched = ", ".join(str(folder) for folder in backbones.keras_cache_dirs())
        logger.warning(
            "%s.weights = imagenet: '%s' is not in %s; it will be downloaded from %s when the model is built "
            "(needs internet).", where, spec.keras_weights_file, searched, spec.weights_url,
        )


def _check_transfer(parameters: dict[str, Any], name: str, image_size: int | None) -> list[ParameterProblem]:
    from image_classification.models import backbones, heads  # noqa: PLC0415 - imports Keras: see the module docstring
    from image_classification.models.transfer import POOLING_LAYERS  # noqa: PLC0415

    settings, problems = _read_model(parameters, "transfer", name)
    where = f"transfer.models.{name}"
    backbone = settings.backbone
    known = backbone in backbones.BACKBONES
    if not known:
        problems.append(unknown(f"{where}.backbone", backbone, backbones.BACKBONES, "backbone"))
    elif image_size is not None:
        needed = backbones.BACKBONES[backbone].min_size
        sized_by = size_parameter(parameters, "transfer", name)
        problems.append(too_small(image_size, needed, f"backbone '{backbone}'", f"{where}.backbone", sized_by))
    weights = settings.weights
    keyword = weights.lower() if isinstance(weights, str) else weights
    if keyword == "imagenet" and known:
        _imagenet_file_note(backbone, where)
    elif keyword not in (*backbones.RANDOM_WEIGHTS, "imagenet") and not Path(str(weights)).expanduser().is_file():
        problems.append(ParameterProblem(
            f"{where}.weights", weights,
            "this weights file does not exist. Allowed: imagenet (Keras's cached file), null (random "
            f"initialisation) or the path of an existing no-top weights file for backbone '{backbone}'.",
        ))
    mode = settings.mode
    if mode not in MODES:
        problems.append(unknown(f"{where}.mode", mode, MODES, "transfer mode"))
    pooling = settings.pooling
    if pooling not in POOLING_LAYERS:
        problems.append(unknown(f"{where}.pooling", pooling, POOLING_LAYERS, "pooling"))
    unknown_head = unknown_keys(settings.head or {}, heads.DEFAULT_HEAD_CONFIG, f"{where}.head", "head setting")
    problems += [ParameterProblem(*problem) for problem in unknown_head]
    try:
        if not unknown_head:
            heads._checked_config(settings.head)  # noqa: SLF001 - the head's own validation, nothing built
    except ValueError as error:
        problems.append(ParameterProblem(f"{where}.head", settings.head, str(error)))
    return problems


def _check_finetune(parameters: dict[str, Any], name: str, image_size: int | None) -> list[ParameterProblem]:
    from image_classification.models import backbones  # noqa: PLC0415 - imports Keras: see the module docstring
    from image_classification.models.transfer import unfreeze_point  # noqa: PLC0415

    block = _model_settings(parameters, "finetune", name)[0]
    settings, problems = _read_model(parameters, "finetune", name)
    transfer_models = (parameters.get("transfer") or {}).get("models") or {}
    if name not in transfer_models:
        return [*problems, ParameterProblem(
            f"finetune.models.{name}", block,
            "fine-tuning starts from the transfer model of the same name, and transfer.models has none. "
            f"Allowed names (transfer models): {_choices(transfer_models) or 'none configured'}.",
        )]
    backbone = (transfer_models[name] or {}).get("backbone")
    if backbone not in backbones.BACKBONES:
        allowed = backbones.BACKBONES
        return [*problems, unknown(f"transfer.models.{name}.backbone", backbone, allowed, "backbone")]
    problems.append(_same_size_as_transfer(parameters, name))
    if image_size is not None:
        needed = backbones.BACKBONES[backbone].min_size
        sized_by = size_parameter(parameters, "finetune", name)
        where = f"transfer.models.{name}.backbone"
        problems.append(too_small(image_size, needed, f"backbone '{backbone}'", where, sized_by))
    unfreeze_from, unfreeze_blocks = settings.unfreeze_from, settings.unfreeze_blocks
    try:  # checked at the backbone's own minimum size: only the layer matters here
        start = unfreeze_point(backbone, unfreeze_from, unfreeze_blocks)
        backbones.validate_backbone_config(backbone, backbones.BACKBONES[backbone].min_size, start)
    except ValueError as error:
        key = "unfreeze_blocks" if unfreeze_blocks is not None and unfreeze_from is None else "unfreeze_from"
        problems.append(ParameterProblem(f"finetune.models.{name}.{key}", getattr(settings, key), str(error)))
    return problems


def _same_size_as_transfer(parameters: dict[str, Any], name: str) -> ParameterProblem | None:
    """A fine-tuned model keeps its transfer model's input: an ``image_size`` of its own must be that one."""
    own = model_image_size(parameters, "finetune", name, inherit=False)
    preprocess = parameters.get("preprocess")
    default = (preprocess if isinstance(preprocess, dict) else {}).get("image_size", DEFAULT_IMAGE_SIZE)
    transfer = model_image_size(parameters, "transfer", name) or default
    if own is None or own == transfer:
        return None
    return ParameterProblem(
        size_parameter(parameters, "finetune", name), own,
        f"finetune.models.{name} starts from transfer.models.{name}, which takes {transfer}x{transfer} px images "
        f"({size_parameter(parameters, 'transfer', name)}); a fine-tuned model keeps its transfer model's input "
        f"size. Remove this image_size (it then follows the transfer model's) or set it to {transfer}.",
    )


MODEL_CHECKS = {"scratch": _check_scratch, "transfer": _check_transfer, "finetune": _check_finetune}
