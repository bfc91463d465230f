"""The checks of the parameter blocks that are not a model's, for ``run_checks``: the top level (a misspelt block
name), ``ingest``, ``split``, ``predict``, ``report`` and ``distribution``.

Each block is read by its settings class (unknown keys with a "did you mean", types, ranges, how settings combine);
what a value must name (a source type, a labelling strategy, a bundled data set) is checked against the registries
of ``data.sources`` and ``data.labels``. Nothing is read from disk or the network: whether a folder or an archive
exists is for the nodes to say.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kedro.utils import find_kedro_project

from image_classification.config import settings_from, unknown_keys
from image_classification.data.archive_limits import ArchiveLimits
from image_classification.data.labels import DEFAULT_PATTERN
from image_classification.data.labels import STRATEGIES as LABEL_STRATEGIES
from image_classification.data.settings import (
    CheckSettings,
    IngestSettings,
    LabelSettings,
    SourceSettings,
    SplitSettings,
)
from image_classification.data.sources import BUNDLED_DATASETS, SOURCE_TYPES
from image_classification.models.predict_settings import PredictSettings
from image_classification.project.model_checks import ParameterProblem, unknown
from image_classification.project.model_plan import STRATEGIES, ModelPlan
from image_classification.reporting.settings import ReportSettings
from image_classification.training.settings import DistributionSettings


def read_block(cls: type, block: Any, where: str) -> tuple[Any, list[ParameterProblem]]:
    """``block`` as ``cls`` (keys with problems keep their defaults) and its problems as ``ParameterProblem``s."""
    settings, problems = settings_from(cls, [(block, where)])
    return settings, [ParameterProblem(*problem) for problem in problems]


def base_blocks(conf_source: str | Path | None = None, base_env: str = "base") -> tuple[str, ...] | None:
    """The top-level parameter blocks of the project: one ``conf/base/parameters_<block>.yml`` each.

    Args:
        conf_source: The project's ``conf`` folder; None: that of the Kedro project the current folder is in.
        base_env: The base environment's folder name.

    Returns:
        The block names, sorted; None outside a project (nothing to compare with).
    """
    if conf_source is None:
        project = find_kedro_project(Path.cwd())
        if project is None:
            return None
        conf_source = Path(project) / "conf"
    files = (Path(conf_source) / base_env).glob("parameters_*.yml")
    return tuple(sorted(path.stem.removeprefix("parameters_") for path in files)) or None


def check_top_level(parameters: dict[str, Any], blocks: tuple[str, ...] | None) -> list[ParameterProblem]:
    """A misspelt block name (``preprocss:``) would leave the real block at its defaults without a word.

    Args:
        parameters: All the session's parameters.
        blocks: The blocks conf/base defines (``base_blocks``); None checks nothing.
    """
    if blocks is None:
        return []
    return [ParameterProblem(*problem) for problem in unknown_keys(parameters, blocks, "", "parameter block")]


def _check_source(block: Any) -> list[ParameterProblem]:
    source, problems = read_block(SourceSettings, block, "ingest.source")
    flagged = {problem.parameter for problem in problems}
    if source.type not in SOURCE_TYPES:
        problems.append(unknown("ingest.source.type", source.type, SOURCE_TYPES, "source type"))
    elif source.type == "bundled" and source.name not in BUNDLED_DATASETS and "ingest.source.name" not in flagged:
        problems.append(unknown("ingest.source.name", source.name, BUNDLED_DATASETS, "bundled data set"))
    return problems


def _check_labels(block: Any) -> list[ParameterProblem]:
    labels, problems = read_block(LabelSettings, block, "ingest.labels")
    if labels.from_ not in LABEL_STRATEGIES:
        problems.append(unknown("ingest.labels.from", labels.from_, LABEL_STRATEGIES, "labelling strategy"))
    elif labels.from_ == "filename":
        try:
            groups = re.compile(labels.pattern or DEFAULT_PATTERN).groupindex
        except re.error as error:
            return [*problems, ParameterProblem("ingest.labels.pattern", labels.pattern, f"not a regular expression: {error}.")]
        if "label" not in groups:
            problems.append(ParameterProblem(
                "ingest.labels.pattern", labels.pattern,
                f"needs a named group 'label' holding the class, e.g. {DEFAULT_PATTERN!r} for 'cat.12.jpg'.",
            ))  # fmt: skip
    return problems


def check_ingest(parameters: dict[str, Any]) -> list[ParameterProblem]:
    """``ingest`` and its ``source``, ``labels``, ``checks`` and ``archive_limits`` blocks."""
    ingest, problems = read_block(IngestSettings, parameters.get("ingest"), "ingest")
    problems += _check_source(ingest.source)
    problems += _check_labels(ingest.labels)
    problems += read_block(CheckSettings, ingest.checks, "ingest.checks")[1]
    problems += read_block(ArchiveLimits, ingest.archive_limits, "ingest.archive_limits")[1]
    return problems


def check_split(parameters: dict[str, Any]) -> list[ParameterProblem]:
    """``split`` with its ``selection`` and ``cross_validation`` blocks (whether the data allow the fractions is for
    the split node to say: it depends on the number of images per class)."""
    return read_block(SplitSettings, parameters.get("split"), "split")[1]  # selection and cross_validation nested


def check_predict(parameters: dict[str, Any]) -> list[ParameterProblem]:
    """``predict``: its keys, ``top_k`` and ``batch_size``, and ``model`` as ``<strategy>.<name>``."""
    predict, problems = read_block(PredictSettings, parameters.get("predict"), "predict")
    try:
        ModelPlan(predict_model=str(predict.model or "")).served_model()
    except ValueError as error:
        problems.append(ParameterProblem("predict.model", predict.model, str(error)))
        return problems
    configured = [
        f"{strategy}.{name}"
        for strategy in STRATEGIES
        for name in (((parameters.get(strategy) or {}).get("models") or {}) if isinstance(parameters.get(strategy), dict) else {})
    ]
    if configured and predict.model not in configured:  # a typo would only fail at load, as VersionNotFoundError
        problems.append(unknown("predict.model", predict.model, configured, "model (none is configured so)"))
    return problems


def check_report(parameters: dict[str, Any]) -> list[ParameterProblem]:
    """``report`` and its ``registry`` block."""
    return read_block(ReportSettings, parameters.get("report"), "report")[1]  # registry nested


def check_distribution(parameters: dict[str, Any]) -> list[ParameterProblem]:
    """``distribution``, read by ``DistributionHook`` for every run."""
    return read_block(DistributionSettings, parameters.get("distribution"), "distribution")[1]


#: The check of each block a run may read besides preprocess, training and the strategies (see ``run_checks``).
BLOCK_CHECKS = {
    "ingest": check_ingest,
    "split": check_split,
    "predict": check_predict,
    "report": check_report,
    "distribution": check_distribution,
}
