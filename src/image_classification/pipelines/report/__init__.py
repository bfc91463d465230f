"""Comparative report of every trained model: test metrics, significance tests, figures, Markdown and HTML."""

from image_classification.pipelines.report.pipeline import create_pipeline

__all__ = ["create_pipeline"]
