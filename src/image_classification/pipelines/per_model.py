"""What the scratch, transfer and finetune pipelines share: per-model namespacing and training blocks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline, node


def _bind_model_name(func: Callable[..., Any], model_name: str) -> Callable[..., Any]:
    """``func`` with its ``model_name`` argument fixed, keeping its name and docstring for Kedro and kedro-viz."""
    bound = partial(func, model_name=model_name)
    return update_wrapper(bound, func)


def training_node(func: Callable[..., Any], model_name: str, inputs: list[str]) -> Node:
    """The node that trains model ``model_name`` with ``func``, named after it.

    Args:
        func: A training node function whose last argument is ``model_name``.
        model_name: The model's name under ``<strategy>.models``, bound to ``func``.
        inputs: Its datasets, in the order of ``func``'s other arguments.

    Returns:
        A node giving ``model``, ``history`` and ``training_summary`` (the datasets the report reads).
    """
    return node(
        _bind_model_name(func, model_name),
        inputs=inputs,
        outputs=["model", "history", "training_summary"],
        name=func.__name__,
    )


def collect_training_blocks(
    shared_training: dict[str, Any], strategy_training: dict[str, Any], model_settings: Any
) -> list[dict[str, Any] | None]:
    """The three ``training`` blocks one model trains with, most general first.

    Kept apart rather than merged, so that a bad key is reported with the block that set it
    (``training.train_model``).

    Args:
        shared_training: ``training``: the settings every strategy shares.
        strategy_training: ``<strategy>.training``: the strategy's overrides.
        model_settings: ``<strategy>.models.<name>``, as Kedro's validator made it (its settings class) or a
            mapping; its optional ``training`` block overrides both.

    Returns:
        ``[shared_training, strategy_training, model_settings["training"] or None]``.
    """
    return [shared_training, strategy_training, dict(model_settings).get("training")]  # a pydantic model is (key, value) pairs


def training_settings(training_blocks: Iterable[dict[str, Any] | None], namespace: str) -> Any:
    """The ``TrainingSettings`` model ``<strategy>.<name>`` trains with, as ``training.train_model`` reads them.

    Raises:
        ValueError: Every bad key, named by the block that set it (e.g. ``scratch.training.epoch``).
    """
    # Imported here: the training package loads Keras, which importing a pipeline must not.
    from image_classification.config import raise_for  # noqa: PLC0415
    from image_classification.training import check_training_blocks, training_block_names  # noqa: PLC0415

    settings, problems = check_training_blocks(list(zip(training_blocks, training_block_names(namespace), strict=True)))
    raise_for(problems)
    return settings


def per_model_pipelines(
    strategy: str,
    model_names: Iterable[str],
    template: Callable[[str], Pipeline],
    shared_inputs: set[str],
    parameters: Callable[[str], dict[str, str]] | None = None,
    model_inputs: Callable[[str], dict[str, str]] | None = None,
) -> Pipeline:
    """One namespaced pipeline per model: datasets become ``<strategy>.<name>.<dataset>``.

    Each model's pipeline is ``collect_training_blocks`` (giving ``training_blocks``), the strategy's steps from
    ``template(name)`` (reading ``training_blocks`` and ``params:model``, and giving ``model``, ``history`` and
    ``training_summary``). Every node is tagged ``<strategy>`` and
    ``<strategy>.<name>``.

    Args:
        strategy: ``scratch``, ``transfer`` or ``finetune``.
        model_names: Models configured for the strategy.
        template: Builds the un-namespaced training steps of one model.
        shared_inputs: Datasets every model reads as they are (``class_names``, ...).
        parameters: Maps a model name to the ``params:`` its steps read besides ``params:model`` (the model's
            settings) and the training blocks, e.g. ``{"params:augmentation": "params:preprocess.augmentation"}``.
        model_inputs: Maps a model name to inputs taken from another namespace (``{"transfer_model":
            "transfer.mobilenet_v2.model"}``) or that depend on the model, such as the image caches of its size
            (``ModelPlan.images``: ``{"images_train": "images_32px_train", ...}``).
    """
    pipelines = [
        Pipeline(
            [_training_blocks_node(), template(name)],
            namespace=f"{strategy}.{name}",
            inputs={**{dataset: dataset for dataset in shared_inputs}, **(model_inputs(name) if model_inputs else {})},
            parameters={
                "params:model": f"params:{strategy}.models.{name}",
                "params:shared_training": "params:training",
                "params:strategy_training": f"params:{strategy}.training",
                **(parameters(name) if parameters else {}),
            },
            tags={strategy, f"{strategy}.{name}"},
        )
        for name in model_names
    ]
    return sum(pipelines, Pipeline([]))


def _training_blocks_node() -> Node:
    return node(
        collect_training_blocks,
        inputs=["params:shared_training", "params:strategy_training", "params:model"],
        outputs="training_blocks",
        name="collect_training_blocks",
    )
