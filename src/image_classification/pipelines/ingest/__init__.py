"""The ``ingest`` pipeline: acquire a data set, validate every image into a manifest, draw EDA figures."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
