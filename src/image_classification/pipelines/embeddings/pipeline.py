"""The ``embeddings`` pipeline: ``images_{train,val,test}`` -> ``image_embeddings`` -> maps, clusters, summary.

Outputs: ``image_embeddings`` (read by the ``similar`` pipeline), ``embedding_map`` (coordinates and cluster per
image), ``embedding_pca_figure``, ``embedding_tsne_figure``, ``embedding_metrics`` (MLflow) and
``embedding_summary``. Settings: ``params:embeddings`` (conf/base/parameters_embeddings.yml).
"""

from kedro.pipeline import Pipeline, node

from image_classification.pipelines.embeddings.nodes import (
    analyse_embeddings,
    embed_images,
    embedding_metrics_for_mlflow,
    plot_pca_map,
    plot_tsne_map,
    summarise_embeddings,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Builds the ``embeddings`` pipeline, every node tagged ``embeddings``."""
    return Pipeline(
        [
            node(
                embed_images,
                inputs=["images_train", "images_val", "images_test", "params:embeddings"],
                outputs="image_embeddings",
                name="embed_images",
            ),
            node(
                analyse_embeddings,
                inputs=["image_embeddings", "class_names", "params:embeddings"],
                outputs=["embedding_map", "embedding_analysis"],
                name="analyse_embeddings",
            ),
            node(
                plot_pca_map,
                inputs=["embedding_map", "embedding_analysis", "class_names"],
                outputs="embedding_pca_figure",
                name="plot_pca_map",
            ),
            node(
                plot_tsne_map,
                inputs=["embedding_map", "class_names"],
                outputs="embedding_tsne_figure",
                name="plot_tsne_map",
            ),
            node(
                embedding_metrics_for_mlflow,
                inputs="embedding_analysis",
                outputs="embedding_metrics",
                name="embedding_metrics_for_mlflow",
            ),
            node(
                summarise_embeddings,
                inputs=["embedding_analysis", "params:embeddings"],
                outputs="embedding_summary",
                name="summarise_embeddings",
            ),
        ],
        tags="embeddings",
    )
