"""The ``baseline`` pipeline: a tuned linear probe per transfer backbone, the floor its transfer head must meet."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
