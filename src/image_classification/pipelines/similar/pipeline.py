"""The ``similar`` pipeline: nearest neighbours by cosine over ``image_embeddings`` (from the embeddings pipeline).

Outputs: ``similar_retrieval`` (each test image's neighbours among train + val) and ``similar_metrics``
(precision@k, MLflow), ``similar_examples_figure``, and ``similar_images``: the images most similar to
``similar.query`` (no rows when it is null). Settings: ``params:similar`` (conf/base/parameters_similar.yml).
"""

from kedro.pipeline import Pipeline, node

from image_classification.pipelines.similar.nodes import (
    evaluate_retrieval,
    find_similar,
    gallery_table,
    plot_retrieval_examples,
    similar_metrics_for_mlflow,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Builds the ``similar`` pipeline, every node tagged ``similar``."""
    return Pipeline(
        [
            node(
                gallery_table,
                inputs=["splits", "class_names", "image_embeddings"],
                outputs="similar_gallery",
                name="gallery_table",
            ),
            node(
                evaluate_retrieval,
                inputs=["image_embeddings", "similar_gallery", "params:similar"],
                outputs=["similar_retrieval", "similar_scores"],
                name="evaluate_retrieval",
            ),
            node(
                similar_metrics_for_mlflow,
                inputs="similar_scores",
                outputs="similar_metrics",
                name="similar_metrics_for_mlflow",
            ),
            node(
                plot_retrieval_examples,
                inputs=[
                    "image_embeddings", "images_train", "images_val", "images_test", "class_names", "params:similar",
                ],
                outputs="similar_examples_figure",
                name="plot_retrieval_examples",
            ),
            node(
                find_similar,
                inputs=["image_embeddings", "similar_gallery", "params:similar", "params:preprocess"],
                outputs="similar_images",
                name="find_similar",
            ),
        ],
        tags="similar",
    )
