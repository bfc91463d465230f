"""The ``report`` pipeline: evaluate every trained model on the test split and compare them.

Per model namespace ``ns`` (e.g. ``transfer.mobilenet_v2``), inputs ``ns.model``, ``ns.history``, ``images_test``,
``class_names``, ``params:report`` and outputs ``ns.evaluation``, ``ns.classification_report``,
``ns.learning_curves_figure``, ``ns.confusion_matrix_figure``, ``ns.predictions_figure``. Across models (also
reading every ``ns.training_summary``): ``comparison``, ``strategy_tests``, ``comparison_figure``,
``report_metrics``, ``report_markdown`` and ``report_html``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from kedro.pipeline import Node, Pipeline
from matplotlib.figure import Figure

from image_classification.pipelines.report.nodes import (
    compare_models_node,
    compare_strategies_node,
    evaluate_model,
    per_class_report,
    per_model_inputs,
    plot_model_comparison,
    plot_predictions,
    report_html_node,
    report_markdown_node,
    test_metrics_for_mlflow,
)
from image_classification.reporting.figures import plot_confusion_matrix, plot_learning_curves

SHARED_INPUTS = {"images_test", "class_names"}
PARAMETERS = "params:report"
TAG = "report"


def _titled(plot: Callable[..., Figure], title: str) -> Callable[..., Figure]:
    """``plot`` with its ``title`` bound, keeping the plot's name for Kedro's logs."""
    function = partial(plot, title=title)
    # Not update_wrapper: its __wrapped__ would make Kedro check inputs against the unbound signature.
    function.__name__ = function.__qualname__ = plot.__name__
    return function


def _model_report(model: str) -> Pipeline:
    """Evaluation, per-class table and figures of one model; datasets and node names get the ``model`` prefix."""
    nodes = [
        Node(
            evaluate_model,
            {
                "model": "model",
                "images_test": "images_test",
                "class_names": "class_names",
                "config": PARAMETERS,
            },
            "evaluation",
            name="evaluate_model",
        ),
        Node(
            per_class_report,
            ["evaluation", "class_names"],
            "classification_report",
            name="per_class_report",
        ),
        Node(
            _titled(plot_learning_curves, model),
            "history",
            "learning_curves_figure",
            name="plot_learning_curves",
        ),
        Node(
            _titled(plot_confusion_matrix, model),
            ["evaluation", "class_names"],
            "confusion_matrix_figure",
            name="plot_confusion_matrix",
        ),
        Node(
            plot_predictions,
            {
                "evaluation": "evaluation",
                "images_test": "images_test",
                "class_names": "class_names",
                "config": PARAMETERS,
            },
            "predictions_figure",
            name="plot_predictions",
        ),
    ]
    return Pipeline(nodes, namespace=model, inputs=SHARED_INPUTS, parameters={PARAMETERS}, tags=TAG)


def _comparison_report(models: list[str]) -> Pipeline:
    """Nodes reading every model's datasets, passed by name as keyword arguments (``per_model_inputs``)."""
    tables = {"comparison": "comparison", "strategy_tests": "strategy_tests", "config": PARAMETERS}
    return Pipeline(
        [
            Node(
                compare_models_node,
                per_model_inputs(models, "evaluation", "training_summary"),
                "comparison",
                name="compare_models",
            ),
            Node(
                compare_strategies_node,
                {"config": PARAMETERS, **per_model_inputs(models, "evaluation")},
                "strategy_tests",
                name="compare_strategies",
            ),
            Node(
                plot_model_comparison,
                "comparison",
                "comparison_figure",
                name="plot_model_comparison",
            ),
            Node(
                test_metrics_for_mlflow,
                "comparison",
                "report_metrics",
                name="test_metrics_for_mlflow",
            ),
            Node(
                report_markdown_node,
                {**tables, **per_model_inputs(models, "classification_report")},
                "report_markdown",
                name="render_markdown",
            ),
            Node(
                report_html_node,
                {
                    **tables,
                    "images_test": "images_test",
                    "class_names": "class_names",
                    **per_model_inputs(models, "evaluation", "history", "classification_report"),
                },
                "report_html",
                name="render_html",
            ),
        ],
        tags=TAG,
    )


def create_pipeline(model_namespaces: list[str] | None = None, **kwargs) -> Pipeline:
    """Build the report pipeline for the given trained models.

    Args:
        model_namespaces: ``<strategy>.<name>`` of every trained model to report on. Default: the project's
            plan, ``image_classification.project.model_plan.trained_model_namespaces()``.
        **kwargs: Ignored; accepted for Kedro's pipeline discovery.

    Returns:
        The pipeline, every node tagged ``report``; empty when there is no model to report on.

    Raises:
        ValueError: If a namespace is listed twice or is not of the form ``<strategy>.<name>``.
    """
    if model_namespaces is None:
        # Imported here: the plan reads the project's parameters, which explicit namespaces do not need.
        from image_classification.project.model_plan import trained_model_namespaces  # noqa: PLC0415

        model_namespaces = trained_model_namespaces()
    models = list(model_namespaces)
    if len(set(models)) != len(models):
        raise ValueError(f"Model namespaces must be unique, got {models}.")
    malformed = [model for model in models if "." not in model.strip(".")]
    if malformed:
        raise ValueError(
            f"Model namespaces must look like '<strategy>.<name>' (e.g. 'transfer.mobilenet_v2'), got {malformed}."
        )
    if not models:
        return Pipeline([])
    return sum((_model_report(model) for model in models), Pipeline([])) + _comparison_report(
        models
    )
