"""The ``predict`` pipeline: classify a folder of new images with a trained model; the servable MLflow model."""

from .pipeline import create_pipeline, create_serving_pipeline

__all__ = ["create_pipeline", "create_serving_pipeline"]
