"""The ``train_and_serve`` pipeline: train the ``predict.model`` model and log it as a servable MLflow model."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
