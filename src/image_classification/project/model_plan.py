"""The model plan: the models each training strategy trains and the model ``predict`` serves.

The scratch, transfer and finetune pipelines are one namespaced pipeline per model (``transfer.mobilenet_v2``), and
``predict`` and ``train_and_serve`` read the model named in ``predict.model``: the pipelines' shape depends on the
parameters. That dependency is one typed value, ``ModelPlan``, built from the parameters by
``ModelPlan.from_parameters``; the ``create_pipeline`` functions read nothing else.

Kedro 1.7 builds the pipelines lazily, calling ``register_pipelines()`` (which takes no arguments) on the first access
to ``kedro.framework.project.pipelines``; ``KedroSession.run`` makes that access after the context is created. So the
plan is set in one place, ``ModelPlanHook.after_context_created``, from the session's parameters (``--env`` and
``--params`` applied), and every ``create_pipeline`` reads ``current_model_plan()``. Outside a session (tests,
scripts, ``kedro registry``, kedro-viz without ``--include-hooks``) the plan is read from ``conf/`` of the current
folder with the ``KEDRO_ENV`` profile.

Each model trains and is evaluated at its own image size (``<strategy>.models.<name>.image_size``, else
``<strategy>.image_size``, else ``preprocess.image_size``; a fine-tuned model at its transfer model's size). The plan
knows every model's size, so preprocess writes one cache per size and each model's nodes read the cache of its
size: ``images_<split>`` at ``preprocess.image_size``, ``images_<size>px_<split>`` at any other.

Kedro keeps the built pipelines for the process: a second session with another plan in the same process needs
``bootstrap_project`` again (``%reload_kedro`` in a notebook does it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader

from image_classification.config import settings_from
from image_classification.data.folds import StudySettings
from image_classification.data.settings import DEFAULT_IMAGE_SIZE, MIN_IMAGE_SIZE
from image_classification.models.predict_settings import PredictSettings

STRATEGIES = ("scratch", "transfer", "finetune")
#: ``transfer.models.<name>.mode`` when a model does not set it.
DEFAULT_TRANSFER_MODE = "feature_extraction"
#: ``predict.top_k`` when it is not set.
DEFAULT_TOP_K = PredictSettings().top_k
#: The preprocessed splits, one cache each per image size.
#: ``baseline.linear_probe.<backbone>``: the linear probe of each transfer model trained on cached features.
BASELINE_PREFIX = "baseline.linear_probe"


def images_dataset(split: str, size: int, default_size: int) -> str:
    """The catalog name of the ``split`` images at ``size`` px: ``images_<split>`` at the default size (as before
    models had sizes of their own), ``images_<size>px_<split>`` at any other."""
    return f"images_{split}" if size == default_size else f"images_{size}px_{split}"


@dataclass(frozen=True)
class ModelPlan:
    """What shapes the pipelines, read from the parameters once per session.

    Attributes:
        scratch: Models under ``scratch.models``, in the order written (``enabled: false`` ones left out).
        transfer: Models under ``transfer.models``, likewise.
        finetune: Models under ``finetune.models``, likewise.
        transfer_modes: Transfer model -> its ``mode`` (``feature_extraction`` or ``end_to_end``), which decides
            its nodes.
        predict_model: ``predict.model``: the model namespace ``predict`` and ``train_and_serve`` use, as written
            (checked by ``served_model`` when a pipeline needs it).
        predict_top_k: ``predict.top_k``: classes per image, the served model's default.
        default_image_size: ``preprocess.image_size``: the size of every model that sets none.
        image_sizes: Model namespace -> the image side it trains and is evaluated at.
        study_folds: ``study.folds``: how many fold namespaces (``fold_<i>``) the ``study`` pipeline has.
    """

    scratch: tuple[str, ...] = ()
    transfer: tuple[str, ...] = ()
    finetune: tuple[str, ...] = ()
    transfer_modes: Mapping[str, str] = field(default_factory=dict)
    predict_model: str = ""
    predict_top_k: int = DEFAULT_TOP_K
    default_image_size: int = DEFAULT_IMAGE_SIZE
    image_sizes: Mapping[str, int] = field(default_factory=dict)
    study_folds: int = StudySettings.model_fields["folds"].default

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> ModelPlan:
        """The plan the project's parameters describe.

        Args:
            parameters: All project parameters (``<strategy>.models``, ``predict``).

        Raises:
            ValueError: A ``<strategy>.models`` block is not a mapping of model names to settings.
        """
        models = {strategy: _models_block(parameters, strategy) for strategy in STRATEGIES}
        enabled = {
            strategy: tuple(name for name, settings in block.items() if (settings or {}).get("enabled", True))
            for strategy, block in models.items()
        }
        predict = parameters.get("predict") or {}
        preprocess = parameters.get("preprocess")
        default_size = valid_image_size((preprocess if isinstance(preprocess, Mapping) else {}).get("image_size"))
        default_size = default_size or DEFAULT_IMAGE_SIZE
        return cls(
            scratch=enabled["scratch"],
            transfer=enabled["transfer"],
            finetune=enabled["finetune"],
            transfer_modes={
                name: str((models["transfer"][name] or {}).get("mode", DEFAULT_TRANSFER_MODE))
                for name in enabled["transfer"]
            },
            predict_model=str(predict.get("model") or ""),
            # A bad top_k keeps the default here; the run checks name it before any node runs.
            predict_top_k=settings_from(PredictSettings, [(predict, "predict")])[0].top_k,
            default_image_size=default_size,
            image_sizes={
                f"{strategy}.{name}": model_image_size(parameters, strategy, name) or default_size
                for strategy in STRATEGIES
                for name in enabled[strategy]
            },
            study_folds=_study_folds(parameters),
        )

    def models(self, strategy: str) -> tuple[str, ...]:
        """The models ``strategy`` trains.

        Raises:
            ValueError: ``strategy`` is not one of ``STRATEGIES``.
        """
        if strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy '{strategy}'. Allowed: {', '.join(STRATEGIES)}.")
        return getattr(self, strategy)

    def namespaces(self) -> list[str]:
        """Every trained model's namespace, e.g. ``["scratch.basenet", "transfer.mobilenet_v2"]``."""
        return [f"{strategy}.{name}" for strategy in STRATEGIES for name in self.models(strategy)]

    def image_size(self, namespace: str) -> int:
        """The image side model ``namespace`` (``<strategy>.<name>``) trains at; the default when not planned."""
        return self.image_sizes.get(namespace, self.default_image_size)

    def extra_image_sizes(self) -> tuple[int, ...]:
        """The sizes, besides ``default_image_size``, that some planned model needs (smallest first)."""
        return tuple(sorted(set(self.image_sizes.values()) - {self.default_image_size}))

    def images(self, namespace: str, splits: tuple[str, ...] = ("train", "val")) -> dict[str, str]:
        """``images_<split>`` -> the cache model ``namespace`` reads it from, for its namespaced pipeline's inputs."""
        size = self.image_size(namespace)
        return {f"images_{split}": images_dataset(split, size, self.default_image_size) for split in splits}

    def probed(self) -> tuple[str, ...]:
        """Transfer models with cached features (``feature_extraction`` mode): each gets a linear-probe baseline."""
        return tuple(name for name in self.transfer if self.transfer_mode(name) == "feature_extraction")

    def baseline_namespaces(self) -> list[str]:
        """``baseline.linear_probe.<name>`` of every probed transfer model."""
        return [f"{BASELINE_PREFIX}.{name}" for name in self.probed()]

    def transfer_mode(self, name: str) -> str:
        """The ``mode`` of transfer model ``name`` (``feature_extraction`` when not planned)."""
        return self.transfer_modes.get(name, DEFAULT_TRANSFER_MODE)

    def served_model(self) -> str:
        """``predict.model``, checked: ``<strategy>.<name>``, e.g. ``"transfer.mobilenet_v2"``.

        Raises:
            ValueError: The setting is missing or not ``<strategy>.<name>``.
        """
        strategy, _, name = self.predict_model.partition(".")
        if strategy not in STRATEGIES or not name:
            raise ValueError(
                f"predict.model '{self.predict_model}' must name a trained model as <strategy>.<name> with strategy "
                f"one of {', '.join(STRATEGIES)} (e.g. transfer.mobilenet_v2); set it in "
                "conf/base/parameters_predict.yml, conf/local/parameters.yml, a profile or --params predict.model=..."
            )
        return self.predict_model


_session_plan: ModelPlan | None = None
#: Plans read from ``conf/`` while ``reading_conf_once`` holds, by (conf source, ``KEDRO_ENV``); None: not held.
_read_plans: dict[tuple[str, str | None], ModelPlan] | None = None


def use_model_plan(plan: ModelPlan | None) -> None:
    """Makes ``plan`` the one pipelines are built with from now on; ``None`` goes back to reading ``conf/``.

    Called by ``ModelPlanHook`` when a session's context is created, and by tests.
    """
    global _session_plan  # noqa: PLW0603 - Kedro builds pipelines without arguments: the session's plan waits here
    _session_plan = plan


def current_model_plan(conf_source: str | Path = "conf") -> ModelPlan:
    """The running session's plan, else the one in ``conf_source`` for the ``KEDRO_ENV`` profile."""
    if _session_plan is not None:
        return _session_plan
    key = (str(conf_source), os.environ.get("KEDRO_ENV"))
    if _read_plans is not None and key in _read_plans:
        return _read_plans[key]
    loader = OmegaConfigLoader(
        conf_source=key[0],
        env=key[1],
        base_env="base",
        default_run_env="local",
        merge_strategy={"parameters": "soft"},  # as in settings.CONFIG_LOADER_ARGS
    )
    plan = ModelPlan.from_parameters(loader["parameters"])
    if _read_plans is not None:
        _read_plans[key] = plan
    return plan


@contextmanager
def reading_conf_once() -> Iterator[None]:
    """Outside a session, ``conf/`` is read once for all the pipelines built inside (``register_pipelines``), not
    once per ``create_pipeline``: a second of ``kedro registry list``."""
    global _read_plans  # noqa: PLW0603 - the cache lives only while the pipelines are built
    _read_plans = {}
    try:
        yield
    finally:
        _read_plans = None


def configured_models(strategy: str, parameters: Mapping[str, Any] | None = None) -> list[str]:
    """Names of the models ``strategy`` trains: from ``parameters`` when given, else the current plan."""
    plan = current_model_plan() if parameters is None else ModelPlan.from_parameters(parameters)
    return list(plan.models(strategy))


def trained_model_namespaces(parameters: Mapping[str, Any] | None = None) -> list[str]:
    """Every model namespace the training pipelines produce: from ``parameters`` when given, else the current plan."""
    plan = current_model_plan() if parameters is None else ModelPlan.from_parameters(parameters)
    return plan.namespaces()


def valid_image_size(value: Any) -> int | None:
    """``value`` when it is a usable image side; None otherwise (the run checks name a bad one before any node)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= MIN_IMAGE_SIZE else None


def model_image_size(parameters: Mapping[str, Any], strategy: str, name: str, *, inherit: bool = True) -> int | None:
    """The image side ``<strategy>.models.<name>`` asks for (its own ``image_size``, else its strategy's); None: the
    default (``preprocess.image_size``). A fine-tuned model that asks for none takes its transfer model's (unless
    ``inherit`` is False)."""
    block = parameters.get(strategy)
    block = block if isinstance(block, Mapping) else {}
    models = block.get("models")
    model = (models if isinstance(models, Mapping) else {}).get(name)
    own = valid_image_size((model if isinstance(model, Mapping) else {}).get("image_size"))
    own = own or valid_image_size(block.get("image_size"))
    if own is None and inherit and strategy == "finetune":
        return model_image_size(parameters, "transfer", name)
    return own


def _study_folds(parameters: Mapping[str, Any]) -> int:
    """``study.folds``; the default when unset or not a whole number from 2 (Kedro's validator names a bad one)."""
    study = parameters.get("study")
    folds = (study if isinstance(study, Mapping) else {}).get("folds")
    valid = isinstance(folds, int) and not isinstance(folds, bool) and folds >= 2
    return folds if valid else StudySettings.model_fields["folds"].default


def _models_block(parameters: Mapping[str, Any], strategy: str) -> Mapping[str, Any]:
    models = (parameters.get(strategy) or {}).get("models") or {}
    if not isinstance(models, Mapping):
        raise ValueError(
            f"Parameter '{strategy}.models' must map model names to their settings "
            f"(conf/base/parameters_{strategy}.yml), got {type(models).__name__}."
        )
    return models
