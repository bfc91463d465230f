"""Checks the parameters of a whole run before any node runs, so a typo fails in seconds, not after an hour.

``RunChecksHook`` looks at the pipeline being run (the parameter blocks its nodes read, which model namespaces it
trains, whether it preprocesses) and checks only those parameters: a misspelt block name at the top level, every key
and value of ``ingest``, ``split``, ``predict``, ``report`` and ``distribution`` (``block_checks``), scratch
architectures, transfer backbones and their weights, fine-tuning layers, image size against every model's minimum,
training settings (``model_checks``). Every problem is collected and reported in one
``RunParametersError`` naming the parameter, the bad value and the allowed values. The checks are cheap: nothing is
downloaded or trained; a backbone is only built (random weights, once per process) to check an ``unfreeze_from``
layer name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.pipeline import Pipeline

from image_classification.config import settings_from, unknown_keys
from image_classification.data.resize import RESIZE_METHODS
from image_classification.data.settings import (
    DEFAULT_IMAGE_SIZE,
    MAX_IMAGE_SIZE,
    MIN_IMAGE_SIZE,
    PreprocessSettings,
)
from image_classification.project.block_checks import BLOCK_CHECKS, base_blocks, check_top_level
from image_classification.project.model_checks import (
    MODEL_CHECKS,
    ParameterProblem,
    check_strategy_block,
    check_training,
    unknown,
)
from image_classification.project.model_plan import STRATEGIES, configured_models, model_image_size

logger = logging.getLogger(__name__)


class RunParametersError(ValueError):
    """The run's parameters have problems; raised before any node runs, listing all of them."""

    def __init__(self, problems: Iterable[ParameterProblem]) -> None:
        self.problems = list(problems)
        listed = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(
            f"{len(self.problems)} parameter problem(s), found before any node ran (nothing was trained or saved):"
            f"\n{listed}\nFix them in conf/base/parameters_*.yml (or your --params / --env) and run again."
        )


class UnsupportedRunnerError(ValueError):
    """The run asks for a runner this pipeline cannot use; raised before any node runs.

    Attributes:
        runner: The runner asked for (``ParallelRunner``).
        nodes: Some of the nodes that cannot run under it.
    """

    def __init__(self, runner: str, nodes: list[str]) -> None:
        self.runner, self.nodes = runner, nodes
        shown = ", ".join(nodes[:3]) + (f" and {len(nodes) - 3} more" if len(nodes) > 3 else "")
        super().__init__(
            f"--runner {runner} is not supported for this pipeline (nodes {shown}): its nodes run TensorFlow, which "
            "hangs in the forked worker processes of ParallelRunner, and one training process should hold the "
            "CPU or GPU anyway (the fit loop already uses every core). Run without --runner (SequentialRunner), or "
            "with --runner ThreadRunner. Nothing was run."
        )


#: Pipelines whose nodes never run TensorFlow, so that ParallelRunner's worker processes can run them.
PROCESS_SAFE_TAGS = frozenset({"ingest", "split", "preprocess"})


def check_runner(runner: str | None, pipeline: Pipeline) -> None:
    """Refuses ``ParallelRunner`` (and subclasses named so) for pipelines with nodes that run TensorFlow.

    Raises:
        UnsupportedRunnerError: Naming the runner, the nodes and the runner to use instead.
    """
    found = re.search(r"\w*ParallelRunner", str(runner or ""))  # Kedro records str(instance)
    if found is None:
        return
    name = found.group(0)
    unsafe = [node.name for node in pipeline.nodes if not node.tags & PROCESS_SAFE_TAGS]
    if unsafe:
        raise UnsupportedRunnerError(name, unsafe)


#: Blocks every run reads: ``DistributionHook`` enters the configured distribution before the first node.
ALWAYS_READ = frozenset({"distribution"})
#: Every block checked here; a run reading the whole ``parameters`` reads them all.
CHECKED_BLOCKS = frozenset({*BLOCK_CHECKS, "preprocess", "training", *STRATEGIES})


@dataclass(frozen=True)
class RunScope:
    """What a run does that has parameters to check: the models it trains, whether it preprocesses, and the
    top-level parameter blocks its nodes read (``params:split.selection`` reads ``split``)."""

    models: dict[str, list[str]]
    preprocess: bool
    blocks: frozenset[str] = CHECKED_BLOCKS


def run_scope(pipeline: Pipeline) -> RunScope:
    """The models trained by ``pipeline`` (from its ``<strategy>.<name>`` node tags), whether it preprocesses, and
    the parameter blocks its nodes read.

    Report nodes share a model's namespace but not its tags, so ``--pipelines report`` checks no training setting.
    """
    models: dict[str, list[str]] = {strategy: [] for strategy in STRATEGIES}
    preprocess = False
    blocks = set(ALWAYS_READ)
    for node in pipeline.nodes:
        preprocess = preprocess or "preprocess" in node.tags
        for tag in node.tags:
            strategy, _, name = tag.partition(".")
            if strategy in models and name and name not in models[strategy]:
                models[strategy].append(name)
        for name in node.inputs:
            if name == "parameters":
                blocks.update(CHECKED_BLOCKS)
            elif name.startswith("params:"):
                blocks.add(name.removeprefix("params:").split(".", 1)[0])
    return RunScope(models, preprocess, frozenset(blocks))


def _image_size(parameters: dict[str, Any]) -> tuple[int | None, list[ParameterProblem]]:
    size = (parameters.get("preprocess") or {}).get("image_size", DEFAULT_IMAGE_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_IMAGE_SIZE:
        message = f"must be a whole number of pixels, at least {MIN_IMAGE_SIZE} (e.g. 32, 96, 224)."
        return None, [ParameterProblem("preprocess.image_size", size, message)]
    if size > MAX_IMAGE_SIZE:  # 100000 would need 28 GiB per decoded image
        message = f"must be at most {MAX_IMAGE_SIZE} pixels (e.g. 32, 96, 224): each image is resized to it."
        return None, [ParameterProblem("preprocess.image_size", size, message)]
    return size, []


def _reads_preprocess(scope: RunScope) -> bool:
    return scope.preprocess or "preprocess" in scope.blocks or any(scope.models.values())


def _check_preprocess(parameters: dict[str, Any], scope: RunScope) -> list[ParameterProblem]:
    preprocess = parameters.get("preprocess") or {}
    if not _reads_preprocess(scope):
        return []
    if not isinstance(preprocess, dict):
        return [ParameterProblem("preprocess", preprocess, "must be a mapping of preprocess settings.")]
    # Unknown keys and workers; image_size and resize_method have their own messages
    _, read = settings_from(PreprocessSettings, [(preprocess, "preprocess")])
    own = ("preprocess.image_size", "preprocess.resize_method")
    problems = [ParameterProblem(*problem) for problem in read if problem.parameter not in own]
    if preprocess.get("resize_method", "stretch") not in RESIZE_METHODS:
        method = preprocess.get("resize_method")
        problems.append(unknown("preprocess.resize_method", method, RESIZE_METHODS, "resize method"))
    # Imported here: the augmentation layers need Keras, which a run that preprocesses nothing never loads.
    from image_classification.models.augmentation import AUGMENTATION_KEYS, build_augmentation  # noqa: PLC0415

    augmentation = preprocess.get("augmentation")
    where = "preprocess.augmentation"
    misspelt = []
    if isinstance(augmentation, dict):
        found = unknown_keys(augmentation, AUGMENTATION_KEYS, where, "augmentation setting")
        misspelt = [ParameterProblem(*problem) for problem in found]
    try:
        if not misspelt:
            build_augmentation(augmentation)
    except ValueError as error:
        misspelt.append(ParameterProblem(where, augmentation, str(error)))
    return problems + misspelt


def check_run_parameters(
    parameters: dict[str, Any], scope: RunScope, blocks: tuple[str, ...] | None = None
) -> list[ParameterProblem]:
    """Every problem with the parameters the run described by ``scope`` will read, in a stable order.

    Args:
        parameters: All the session's parameters (``--params`` and ``--env`` applied).
        scope: The models the run trains, whether it preprocesses and the blocks it reads (see ``run_scope``).
        blocks: The top-level blocks the project defines (``block_checks.base_blocks``); None: not checked.

    Returns:
        The problems found, without duplicates; empty when the run may start.
    """
    image_size, problems = None, check_top_level(parameters, blocks)
    if _reads_preprocess(scope) and isinstance(parameters.get("preprocess") or {}, dict):
        image_size, size_problems = _image_size(parameters)
        problems += size_problems
    problems += _check_preprocess(parameters, scope)
    for block, check in BLOCK_CHECKS.items():
        if block in scope.blocks:
            problems += check(parameters)
    for strategy, names in scope.models.items():
        if strategy in scope.blocks or names:
            problems += check_strategy_block(parameters, strategy)
        for name in names:
            problems += check_training(parameters, strategy, name)
            own_size = model_image_size(parameters, strategy, name)  # None: preprocess.image_size
            problems += MODEL_CHECKS[strategy](parameters, name, own_size or image_size)
    unique = {str(problem): problem for problem in problems if problem is not None}  # values may be unhashable
    return list(unique.values())


def validate_run_parameters(
    parameters: dict[str, Any], pipeline: Pipeline | None = None, conf_source: str | Path | None = None
) -> RunScope:
    """Raises ``RunParametersError`` listing every problem with the parameters ``pipeline`` will use.

    Args:
        parameters: All the session's parameters.
        pipeline: The pipeline about to run; None checks every configured model and every block.
        conf_source: The project's ``conf`` folder, whose ``base/parameters_<block>.yml`` files name the allowed
            top-level blocks; None: that of the project the current folder is in.

    Returns:
        The checked scope.
    """
    if pipeline is None:
        models = {strategy: configured_models(strategy, parameters) for strategy in STRATEGIES}
        scope = RunScope(models, preprocess=True)
    else:
        scope = run_scope(pipeline)
    problems = check_run_parameters(parameters, scope, base_blocks(conf_source))
    if problems:
        raise RunParametersError(problems)
    checked = [f"{strategy}.{name}" for strategy, names in scope.models.items() for name in names]
    logger.info("Run parameters checked (%s).", ", ".join(checked) or "no model trained")
    return scope
