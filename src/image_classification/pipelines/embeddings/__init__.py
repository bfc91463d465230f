"""Embeddings of every image from a pretrained backbone: PCA and t-SNE maps, k-means against the labels."""

from image_classification.pipelines.embeddings.pipeline import create_pipeline

__all__ = ["create_pipeline"]
