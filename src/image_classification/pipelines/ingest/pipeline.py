"""The ``ingest`` pipeline: source -> images on disk -> manifest + validation report -> EDA figures."""

from kedro.pipeline import Pipeline, node

from image_classification.pipelines.ingest.nodes import (
    acquire_images,
    build_manifest,
    plot_class_counts,
    plot_image_sizes,
    plot_sample_grid,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Builds the ``ingest`` pipeline.

    Returns:
        Nodes ``acquire_images``, ``build_manifest``, ``plot_class_counts``, ``plot_sample_grid`` and
        ``plot_image_sizes``, all tagged ``ingest``.
    """
    return Pipeline(
        [
            node(
                acquire_images,
                inputs=["params:ingest.source", "params:ingest.archive_limits"],
                outputs="ingest_images_root",
                name="acquire_images",
            ),
            node(
                build_manifest,
                inputs=["ingest_images_root", "params:ingest.labels", "params:ingest.checks"],
                outputs=["manifest", "validation_report"],
                name="build_manifest",
            ),
            node(
                plot_class_counts,
                inputs="manifest",
                outputs="class_counts_figure",
                name="plot_class_counts",
            ),
            node(
                plot_sample_grid,
                inputs="manifest",
                outputs="sample_grid_figure",
                name="plot_sample_grid",
            ),
            node(
                plot_image_sizes,
                inputs="manifest",
                outputs="image_sizes_figure",
                name="plot_image_sizes",
            ),
        ],
        tags="ingest",
    )
