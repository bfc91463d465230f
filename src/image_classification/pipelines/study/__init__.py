"""The ``study`` pipeline: k stratified folds in one run, every model per fold, one pooled report."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
