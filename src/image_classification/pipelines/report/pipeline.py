"""The ``report`` pipeline: evaluate every trained model on the test split and compare them.

Everything lives in the ``report`` namespace, one sub-namespace per model, so kedro-viz draws one collapsible
``report`` box with ``report.<strategy>.<model>`` inside. Per model namespace ``ns`` (e.g. ``transfer.mobilenet_v2``):
inputs ``ns.model``, ``ns.history``, ``ns.training_summary``, ``images_test``, ``class_names``, ``params:report``;
outputs ``report.ns.evaluation``, ``report.ns.test_metrics`` (for the model's MLflow child run),
``report.ns.classification_report``, ``report.ns.learning_curves_figure``, ``report.ns.confusion_matrix_figure``,
``report.ns.predictions_figure``. Across models: ``comparison``, ``strategy_tests``, ``comparison_figure``,
``report_markdown``, ``report_html``, and ``model_runs``: ``log_model_runs`` gives every model its MLflow child run
(with ``report.test_split`` and ``report.serving_spec``), logs each trained model and registers the best.
A model with an image size of its own is evaluated on the test cache of its size (``images_<size>px_test``: the same
images in the same order, so McNemar's test still pairs them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

from kedro.pipeline import Node, Pipeline
from matplotlib.figure import Figure

from image_classification.pipelines.report.baseline_nodes import evaluate_linear_probe
from image_classification.pipelines.report.explain_nodes import (
    EXPLAINED_STRATEGIES,
    explain_best_model,
    plot_gradcam,
)
from image_classification.pipelines.report.interpretation_nodes import (
    error_analysis_node,
    plot_model_top_losses,
)
from image_classification.pipelines.report.mlflow_nodes import (
    model_test_metrics,
    serving_spec_node,
    test_split_fingerprint,
)
from image_classification.pipelines.report.nodes import (
    FIGURE_KINDS,
    compare_models_node,
    compare_strategies_node,
    evaluate_model,
    per_class_report,
    per_model_inputs,
    plot_model_comparison,
    plot_predictions,
    report_html_node,
    report_markdown_node,
)
from image_classification.reporting.figures import plot_confusion_matrix, plot_learning_curves
from image_classification.tracking.model_runs import RUN_INPUTS, log_model_runs

SHARED_INPUTS = {"images_test", "class_names"}
PARAMETERS = "params:report"
TAG = "report"
NAMESPACE = "report"
#: Datasets of the report that keep their names outside the ``report`` namespace.
OUTPUTS = {
    "comparison", "strategy_tests", "error_analysis", "comparison_figure", "gradcam_figure", "report_markdown",
    "report_html", "model_runs",
}  # fmt: skip


class _TitledPlot(partial):
    """``functools.partial`` with the type hints Kedro's parameter validator reads: none, as these nodes take no
    parameters. (A bare partial has no ``__annotations__``, so the validator warns once per node.)"""

    __annotations__ = {}  # read by typing.get_type_hints


def _titled(plot: Callable[..., Figure], title: str) -> Callable[..., Figure]:
    """``plot`` with its ``title`` bound, keeping the plot's name for Kedro's logs (and picklable)."""
    function = _TitledPlot(plot, title=title)
    # Not update_wrapper: its __wrapped__ would make Kedro check inputs against the unbound signature.
    function.__name__ = function.__qualname__ = plot.__name__
    return function


def _evaluation(probed_model: str | None) -> Node:
    """``evaluate_model`` of a trained model; ``evaluate_linear_probe`` of a baseline probing ``probed_model``."""
    shared = {"images_test": "images_test", "class_names": "class_names", "config": PARAMETERS}
    if probed_model is None:
        return Node(evaluate_model, {"model": "model", **shared}, "evaluation", name="evaluate_model")
    return Node(
        evaluate_linear_probe,
        {"probe": "probe", "transfer_model": "transfer_model", **shared},
        "evaluation",
        name="evaluate_linear_probe",
    )


def _model_report(model: str, test_images: str = "images_test", probed_model: str | None = None) -> Pipeline:
    """Evaluation, per-class table and figures of one model, on ``test_images`` (the test cache of its size);
    datasets and node names get the ``model`` prefix. A baseline (``probed_model``: the transfer model whose
    backbone it probes) is evaluated through that model's backbone."""
    nodes = [
        _evaluation(probed_model),
        Node(
            model_test_metrics,
            ["evaluation", "training_summary"],
            "test_metrics",
            name="model_test_metrics",
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
        Node(
            _titled(plot_model_top_losses, model),
            ["evaluation", "images_test", "class_names"],
            "top_losses_figure",
            name="plot_top_losses",
        ),
    ]
    inputs = {"images_test": test_images, "class_names": "class_names"}
    if probed_model is not None:
        inputs["transfer_model"] = f"{probed_model}.model"
    return Pipeline(nodes, namespace=model, inputs=inputs, parameters={PARAMETERS}, tags=TAG)


def _explanation(models: list[str]) -> list[Node]:
    """Grad-CAM of the best transfer or fine-tuned model (of those at the default size: the heatmaps are drawn over
    ``images_test``); nothing when the run has none."""
    explained = [model for model in models if model.split(".", 1)[0] in EXPLAINED_STRATEGIES]
    if not explained:
        return []
    inputs = {"config": PARAMETERS, "images_test": "images_test", "class_names": "class_names"}
    return [
        Node(
            explain_best_model,
            {**inputs, **per_model_inputs(explained, "model", "training_summary", "evaluation")},
            "gradcam",
            name="explain_best_model",
        ),
        Node(plot_gradcam, ["gradcam", "images_test", "class_names"], "gradcam_figure", name="plot_gradcam"),
    ]


def _comparison_report(models: list[str], explainable: list[str]) -> Pipeline:
    """Nodes reading every model's datasets, passed by name as keyword arguments (``per_model_inputs``); Grad-CAM
    picks among ``explainable``."""
    tables = {
        "comparison": "comparison", "strategy_tests": "strategy_tests", "error_analysis": "error_analysis",
        "config": PARAMETERS,
    }  # fmt: skip
    explanation = _explanation(explainable)
    return Pipeline(
        [
            *explanation,
            Node(
                compare_models_node,
                per_model_inputs(models, "evaluation", "training_summary"),
                "comparison",
                name="compare_models",
            ),
            Node(
                compare_strategies_node,
                {"config": PARAMETERS, **per_model_inputs(models, "evaluation", "training_summary")},
                "strategy_tests",
                name="compare_strategies",
            ),
            Node(
                error_analysis_node,
                {"class_names": "class_names", **per_model_inputs(models, "evaluation", "training_summary")},
                "error_analysis",
                name="error_analysis",
            ),
            Node(
                plot_model_comparison,
                "comparison",
                "comparison_figure",
                name="plot_model_comparison",
            ),
            Node(
                test_split_fingerprint,
                ["images_test", "class_names"],
                "test_split",
                name="test_split_fingerprint",
            ),
            Node(
                serving_spec_node,
                ["class_names", "images_test", "params:preprocess", "params:predict"],
                "serving_spec",
                name="serving_spec",
            ),
            Node(
                log_model_runs,
                {"config": PARAMETERS, "test_split": "test_split", "serving_spec": "serving_spec",
                 "scratch_models": "params:scratch.models", "transfer_models": "params:transfer.models",
                 **per_model_inputs(models, *RUN_INPUTS)},  # fmt: skip
                "model_runs",
                name="log_model_runs",
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
                    "comparison_figure": "comparison_figure",
                    **({"gradcam": "gradcam", "gradcam_figure": "gradcam_figure"} if explanation else {}),
                    **per_model_inputs(models, "classification_report", *FIGURE_KINDS),
                },
                "report_html",
                name="render_html",
            ),
        ],
        tags=TAG,
    )


def create_pipeline(
    model_namespaces: list[str] | None = None,
    test_images: Mapping[str, str] | None = None,
    baselines: Mapping[str, str] | None = None,
    **kwargs,
) -> Pipeline:
    """Build the report pipeline for the given trained models.

    Args:
        model_namespaces: ``<strategy>.<name>`` of every trained model to report on. Default: the project's
            plan, ``image_classification.project.model_plan.trained_model_namespaces()``.
        test_images: Model namespace -> the test images it is evaluated on (``images_<size>px_test`` for a model
            with a size of its own). Default: from the plan when ``model_namespaces`` is not given; else
            ``images_test`` for every model not listed.
        baselines: Linear-probe namespace (``baseline.linear_probe.<backbone>``) -> the transfer model namespace it
            probes (evaluated on that model's test images). Default: the plan's when ``model_namespaces`` is not
            given; else none.
        **kwargs: Ignored; accepted for Kedro's pipeline discovery.

    Returns:
        The pipeline, every node tagged ``report``; empty when there is no model to report on.

    Raises:
        ValueError: If a namespace is listed twice or is not of the form ``<strategy>.<name>``.
    """
    if model_namespaces is None:
        # Imported here: the plan reads the project's parameters, which explicit namespaces do not need.
        from image_classification.project.model_plan import current_model_plan  # noqa: PLC0415

        plan = current_model_plan()
        model_namespaces = plan.namespaces()
        baselines = {f"{ns}": f"transfer.{ns.rsplit('.', 1)[1]}" for ns in plan.baseline_namespaces()}
        test_images = {model: plan.images(model, ("test",))["images_test"] for model in model_namespaces}
    baselines = {probe: probed for probe, probed in (baselines or {}).items() if probed in model_namespaces}
    test_images = {**(test_images or {}), **{probe: (test_images or {}).get(probed, "images_test")
                                              for probe, probed in baselines.items()}}  # fmt: skip
    models = [*model_namespaces, *baselines]
    test_images = {model: test_images.get(model, "images_test") for model in models}
    if len(set(models)) != len(models):
        raise ValueError(f"Model namespaces must be unique, got {models}.")
    malformed = [model for model in models if "." not in model.strip(".")]
    if malformed:
        raise ValueError(
            f"Model namespaces must look like '<strategy>.<name>' (e.g. 'transfer.mobilenet_v2'), got {malformed}."
        )
    if not models:
        return Pipeline([])
    per_model = sum(
        (_model_report(model, test_images[model], baselines.get(model)) for model in models), Pipeline([])
    )
    at_default_size = [model for model in models if test_images[model] == "images_test" and model not in baselines]
    model_inputs = {
        f"{model}.{'probe' if model in baselines else 'model'}" for model in models
    } | {f"{model}.{kind}" for model in models for kind in ("history", "training_summary")}
    inner = Pipeline([per_model, _comparison_report(models, at_default_size)])
    return Pipeline(
        inner,
        namespace=NAMESPACE,
        inputs=SHARED_INPUTS | set(test_images.values()) | model_inputs,
        outputs=OUTPUTS & inner.all_outputs(),  # no gradcam_figure when no model can be explained
        parameters={
            PARAMETERS, "params:preprocess", "params:predict", "params:scratch.models", "params:transfer.models"
        },  # fmt: skip
    )
