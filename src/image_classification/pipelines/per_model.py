"""What the scratch, transfer and finetune pipelines share: per-model namespacing and the epoch-metrics node."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Pipeline, node


def history_to_epoch_metrics(history: dict[str, list[float]]) -> dict[str, list[dict[str, float]]]:
    """Per-epoch Keras history in the form kedro-mlflow's ``MlflowMetricsHistoryDataset`` logs (one step per epoch).

    Args:
        history: Metric name -> one value per epoch, e.g. ``{"loss": [0.9, 0.5], "val_accuracy": [0.6, 0.8]}``.

    Returns:
        Metric name -> ``[{"value": v, "step": epoch}, ...]``.
    """
    return {
        name: [{"value": float(value), "step": epoch} for epoch, value in enumerate(values)]
        for name, values in history.items()
    }


def bind_model_name(func: Callable[..., Any], model_name: str) -> Callable[..., Any]:
    """``func`` with its ``model_name`` argument fixed, keeping its name and docstring for Kedro and kedro-viz."""
    bound = partial(func, model_name=model_name)
    return update_wrapper(bound, func)


def per_model_pipelines(
    strategy: str,
    model_names: Iterable[str],
    template: Callable[[str], Pipeline],
    shared_inputs: set[str],
    parameters: Callable[[str], dict[str, str]],
    model_inputs: Callable[[str], dict[str, str]] | None = None,
) -> Pipeline:
    """One namespaced copy of ``template(name)`` per model: datasets become ``<strategy>.<name>.<dataset>``.

    Args:
        strategy: ``scratch``, ``transfer`` or ``finetune``.
        model_names: Models configured for the strategy.
        template: Builds the un-namespaced steps for one model.
        shared_inputs: Datasets every model reads as they are (``images_train``, ``class_names``, ...).
        parameters: Maps a model name to the ``params:`` it reads.
        model_inputs: Maps a model name to inputs taken from another namespace (``{"transfer_model":
            "transfer.mobilenet_v2.model"}``).
    """
    pipelines = [
        Pipeline(
            template(name),
            namespace=f"{strategy}.{name}",
            inputs={**{dataset: dataset for dataset in shared_inputs}, **(model_inputs(name) if model_inputs else {})},
            parameters=parameters(name),
            tags={strategy, f"{strategy}.{name}"},
        )
        for name in model_names
    ]
    return sum(pipelines, Pipeline([]))


def epoch_metrics_node() -> Any:
    """The node that sends a model's per-epoch history to MLflow."""
    return node(history_to_epoch_metrics, inputs="history", outputs="epoch_metrics", name="log_epoch_metrics")
