"""Similar-image search over the embeddings: precision@k, example queries, and the images most like a query image."""

from image_classification.pipelines.similar.pipeline import create_pipeline

__all__ = ["create_pipeline"]
