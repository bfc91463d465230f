"""The ``study`` pipeline: the default comparison repeated over k stratified folds in one ``kedro run``.

::

    ingest ─► select_classes ─► decode_study_images ─► assign_study_folds
        └─► fold_0: fold_splits ─► scratch.<m>, transfer.<m>, finetune.<m>, baseline.linear_probe.<m> ─► evaluation
        └─► fold_1: ...                        (the same namespaced pipelines as the default run, per fold)
    pool_folds ─► study tables, pooled report, error analysis

Each fold is one top-level namespace (``fold_<i>``), so kedro-viz folds it away and ``kedro-airflow --group-by
namespace`` makes it one task; its models sit inside (``fold_0.transfer.mobilenet_v2``). Every model trains at
``preprocess.image_size`` (a scratch net may still shrink its input with ``input_size``).
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from image_classification.pipelines.finetune.pipeline import create_pipeline as finetune_pipeline
from image_classification.pipelines.ingest.pipeline import create_pipeline as ingest_pipeline
from image_classification.pipelines.report.pipeline import create_pipeline as report_pipeline
from image_classification.pipelines.scratch.pipeline import create_pipeline as scratch_pipeline
from image_classification.pipelines.split.pipeline import create_pipeline as split_pipeline
from image_classification.pipelines.study.nodes import (
    assign_study_folds,
    decode_study_images,
    fold_splits,
    pool_folds,
)
from image_classification.pipelines.study.report_nodes import (
    render_study_html,
    render_study_markdown,
    study_error_analysis,
    study_tables,
)
from image_classification.pipelines.transfer.pipeline import create_pipeline as transfer_pipeline
from image_classification.project.model_plan import current_model_plan
from image_classification.reporting.figures import plot_model_comparison
from image_classification.tracking.model_runs import log_model_runs

#: Report nodes each fold runs: the evaluation of every model and the metrics of its MLflow child run (logged by the
#: fold's own ``log_model_runs``).
_FOLD_REPORT_STEPS = ("evaluate_model", "evaluate_linear_probe", "model_test_metrics")


def _fold(fold: int, training: Pipeline, evaluation: Pipeline, models: list[str]) -> Pipeline:
    """``fold_splits`` of ``fold``, then ``training`` and ``evaluation`` on its splits, and the MLflow child runs of
    its ``models`` (tagged with the fold), as namespace ``fold_<i>``."""
    split = Node(
        update_wrapper(partial(fold_splits, fold=fold), fold_splits),
        ["study_images", "study_folds", "params:study"],
        ["images_train", "images_val", "images_test"],
        name="fold_splits",
    )
    runs = Node(
        update_wrapper(partial(log_model_runs, fold=fold), log_model_runs),
        {
            "config": "params:report",
            "scratch_models": "params:scratch.models",
            "transfer_models": "params:transfer.models",
            **{f"{model}.{kind}": f"{model}.{kind}" for model in models for kind in ("training_summary", "history")},
            **{f"{model}.test_metrics": f"report.{model}.test_metrics" for model in models},
        },
        "model_runs",
        name="log_model_runs",
    )
    inner = Pipeline([split, training, evaluation, runs])
    parameters = {name for name in inner.inputs() if name.startswith("params:")}
    return Pipeline(
        inner,
        namespace=f"fold_{fold}",
        inputs={"study_images": "study_images", "study_folds": "study_folds", "class_names": "study_class_names"},
        parameters=parameters,
        tags={"study", f"fold_{fold}"},
    )


def _pooled_report() -> list[Node]:
    """The nodes after ``pool_folds``: tables, the Markdown and HTML reports, the comparison figure."""
    tables = ["study_comparison", "study_fold_table", "study_tests"]
    render_inputs = [*tables, "study_error_analysis", "params:report", "params:study"]
    return [
        Node(study_tables, ["study_pooled", "params:report"], tables, name="study_tables"),
        Node(plot_model_comparison, "study_comparison", "study_comparison_figure", name="plot_study_comparison"),
        Node(
            study_error_analysis,
            ["study_pooled", "study_images", "study_folds", "study_class_names"],
            ["study_error_analysis", "study_top_losses_figure"],
            name="study_error_analysis",
        ),
        Node(render_study_markdown, render_inputs, "study_report_markdown", name="render_study_markdown"),
        Node(
            render_study_html,
            [*render_inputs, "study_comparison_figure", "study_top_losses_figure"],
            "study_report_html",
            name="render_study_html",
        ),
    ]


def create_pipeline(folds: int | None = None, **kwargs) -> Pipeline:
    """Builds the ``study`` pipeline.

    Args:
        folds: Number of folds; default: ``study.folds`` (the model plan's ``study_folds``).
        **kwargs: Ignored; accepted for Kedro's pipeline discovery.

    Raises:
        ValueError: A planned model trains at a size of its own (the study decodes one size).
    """
    plan = current_model_plan()
    own_sizes = sorted(ns for ns, size in plan.image_sizes.items() if size != plan.default_image_size)
    if own_sizes:
        raise ValueError(
            f"The study decodes every image once, at preprocess.image_size ({plan.default_image_size} px), but "
            f"{', '.join(own_sizes)} set an image_size of their own: remove it for the study (a scratch net can "
            "shrink its input itself with input_size)."
        )
    training = scratch_pipeline() + transfer_pipeline() + finetune_pipeline()  # transfer brings its probes
    report = report_pipeline()
    evaluation = report.only_nodes(
        *(node.name for node in report.nodes if node.name.rsplit(".", 1)[-1] in _FOLD_REPORT_STEPS)
    )
    fold_count = plan.study_folds if folds is None else folds
    models = plan.namespaces() + plan.baseline_namespaces()
    per_fold = [_fold(fold, training, evaluation, models) for fold in range(fold_count)]
    shared = Pipeline(
        [
            ingest_pipeline(),
            split_pipeline().only_nodes("select_classes"),
            Node(
                decode_study_images,
                ["selected_manifest", "params:preprocess"],
                ["study_images", "study_class_names"],
                name="decode_study_images",
            ),
            Node(assign_study_folds, ["study_images", "params:study"], "study_folds", name="assign_study_folds"),
        ]
    )
    per_model = {
        f"fold_{fold}.{prefix}{model}.{kind}": f"fold_{fold}.{prefix}{model}.{kind}"
        for fold in range(fold_count)
        for model in models
        for prefix, kind in (("report.", "evaluation"), ("", "training_summary"))
    }
    pooled = Pipeline(
        [
            Node(pool_folds, {"config": "params:report", **per_model}, "study_pooled", name="pool_folds"),
            *_pooled_report(),
        ],
        tags={"study"},
    )
    return Pipeline([shared, *per_fold, pooled], tags={"study"})
